"""The App: every long-lived object (store, metrics, collectors, profiles) built in one place
and passed explicitly. The CLI and ``serve`` make one; nothing is created at import time."""

from __future__ import annotations

import getpass
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from opsagent.collectors import Collector, CollectResult, available_collectors
from opsagent.config import AgentConfig
from opsagent.errors import ConfigError, ConfigIssue
from opsagent.inventory.facts import flatten
from opsagent.inventory.model import Asset, CollectorSpec, Inventory
from opsagent.inventory.resolve import GroupIndex
from opsagent.inventory.selectors import select
from opsagent.loader import parse_yaml_file, validation_issues

if TYPE_CHECKING:  # loaded where used: `inventory list` needs no metrics, poller, profiles or SQLAlchemy
    from opsagent.collectors.profiles import Profile
    from opsagent.metrics import MetricsRegistry
    from opsagent.poller import Poller
    from opsagent.store import Store

log = logging.getLogger(__name__)

Target = tuple[Asset, CollectorSpec, dict[str, Any]]


def actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


FACTS_RECHECK_SECONDS = 300.0  # unchanged facts are compared with the store's at least this often


def _settings_issues(config: AgentConfig, name: str, error: str | ValueError) -> list[ConfigIssue]:
    """``collector_settings.NAME`` problems, located in the agent config file when there is one."""
    loc = ("collector_settings", name)
    if config.path is None:
        return [ConfigIssue("<settings>", None, ".".join(loc), str(error))]
    doc = parse_yaml_file(config.path)
    if isinstance(error, ValidationError):
        return validation_issues(doc, error, loc)
    return [doc.issue(loc, str(error))]


class App:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        if config.collector_settings:
            self.collectors  # noqa: B018 -- invalid collector settings fail at start, not at first poll
        # SQLite has one writer: all store writes from the poll loop go through one thread, in order.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsagent-store")
        # (asset, collector) → (facts last stored, when): a poll bringing the same facts skips the store
        self._facts_stored: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}

    @cached_property
    def metrics(self) -> MetricsRegistry:
        from opsagent.metrics import MetricsRegistry

        return MetricsRegistry()

    @cached_property
    def collectors(self) -> dict[str, Collector]:
        """Built at first use: a command that polls nothing never imports paramiko, aiohttp, pysnmp…"""
        collectors: dict[str, Collector] = available_collectors()
        for collector in collectors.values():
            use_roots = getattr(collector, "use_content_roots", None)  # snmp: profile includes across roots
            if callable(use_roots):
                use_roots(self.config.roots)
            self.metrics.add_help(collector.help)
        for name, settings in self.config.collector_settings.items():
            configure = getattr(collectors.get(name), "configure", None)
            if not callable(configure):
                raise ConfigError(_settings_issues(self.config, name, "no such configurable collector"))
            try:
                configure(settings)
            except ValueError as exc:
                raise ConfigError(_settings_issues(self.config, name, exc)) from None
        return collectors

    @cached_property
    def store(self) -> Store:
        from opsagent.httpd.threads import default_threads
        from opsagent.store import Store

        c = self.config  # every thread that may read or write at once: polls, HTTP handlers, jobs
        threads = c.poll_threads + c.max_concurrent_failing_polls + (c.web.threads or default_threads()) + 4
        return Store(c.store_url, threads=threads)

    @property
    def _store_open(self) -> bool:
        return "store" in self.__dict__

    @property
    def options_models(self) -> dict[str, type[BaseModel]]:
        return {name: c.options_model for name, c in self.collectors.items()}

    def load_profiles(self) -> dict[tuple[str, str], Profile]:
        from opsagent.collectors.profiles import load_profiles

        return load_profiles(self.config.roots, self.options_models)

    def seed_if_empty(self) -> list[Path]:
        """First start: import the seed inventory (default: this host) into an empty store."""
        from opsagent.store import quickread

        count = None if self._store_open else quickread.asset_count(self.config.store_url)
        if count is None:
            from opsagent.store import inventory_repo as repo

            count = repo.asset_count(self.store)
        if count > 0:
            return []
        from opsagent.store import inventory_repo as repo
        from opsagent.store.locks import SEED, exclusive

        with exclusive(self.store, SEED):  # agents starting together on one empty store: one seeds
            if repo.asset_count(self.store) > 0:
                return []
            for path in self.config.seed_files:
                from opsagent.inventory.importers import load_inventory_file

                seed = load_inventory_file(path)  # seeded assets belong to no import: the first to name one owns it
                seed.assets = {n: a.model_copy(update={"source": None}) for n, a in seed.assets.items()}
                repo.save_inventory(self.store, seed, actor="opsagent (seed)")
        return list(self.config.seed_files)

    def inventory(self) -> Inventory:
        if not self._store_open:  # a shell command: SQLite read without SQLAlchemy when the file allows it
            from opsagent.store import quickread

            found = quickread.load_inventory(self.config.store_url)
            if found is not None:
                return found
        from opsagent.store import inventory_repo as repo

        return repo.load_inventory(self.store)

    def targets(self, inventory: Inventory, selector: str = "all", collector: str | None = None) -> list[Target]:
        index = GroupIndex(inventory)
        out: list[Target] = []
        for asset in select(inventory, selector, index):
            variables = index.effective_vars(asset)
            out.extend(
                (asset, spec, variables) for spec in index.effective_collectors(asset) if collector in (None, spec.name)
            )
        return out

    def poller(
        self, profiles: dict[tuple[str, str], Profile] | None = None, *, record: bool = True, serving: bool = False
    ) -> Poller:
        from opsagent.poller import Poller

        """``serving``: the agent's scheduled polls, where targets not known healthy get their own budget."""
        return Poller(
            self.collectors,
            profiles if profiles is not None else self.load_profiles(),
            self.metrics,
            max_concurrency=self.config.max_concurrent_polls,
            probation_concurrency=self.config.max_concurrent_failing_polls if serving else None,
            sink=self.record_result if record else None,
        )

    async def record_result(self, result: CollectResult) -> None:
        """Store the poll's facts (only changes reach the fact tables). Facts equal to the ones this
        process stored for the asset and collector less than FACTS_RECHECK_SECONDS ago are not read back
        from the store: at a 60 s interval that read was most of a poll's store work."""
        if result.ok and result.facts:
            import asyncio  # not at import time: most CLI commands never run a loop

            from opsagent.store import inventory_repo as repo

            key, clock = (result.asset, result.collector), time.monotonic()
            last = self._facts_stored.get(key)
            if last is not None and last[0] == result.facts and clock - last[1] < FACTS_RECHECK_SECONDS:
                return
            loop = asyncio.get_running_loop()
            flat = flatten(result.facts)
            await loop.run_in_executor(
                self._writer, repo.record_facts, self.store, result.asset, result.collector, flat
            )
            self._facts_stored[key] = (result.facts, clock)

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for collector in self.__dict__.get("collectors", {}).values():  # ssh holds connections: close them
            closer = getattr(collector, "close", None)
            if callable(closer):
                closer()
        self._writer.shutdown(wait=True)
        if "store" in self.__dict__:
            self.store.close()
