"""Reloading ``serve``'s content without a restart (SIGHUP or ``POST /-/reload``), as Prometheus and
Alertmanager do: alert and recording rules with the alerting config, collector profiles, the inventory,
runbooks, SNMP trap rules and the service-level policy are all loaded and checked first; only when
every one of them is valid is the new set put in place. Otherwise the last good set stays, the log says
why, and ``opsagent_config_last_reload_successful`` is 0 until a reload succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client.metrics_core import Metric
from pydantic import BaseModel

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig, load_notify_config
from opsagent.alerts.rulefile import CompiledRule, load_rules
from opsagent.app import App
from opsagent.collectors.profiles import Profile
from opsagent.errors import ConfigError
from opsagent.poller import Poller
from opsagent.runbooks.library import Entry, Library, load_library
from opsagent.runbooks.triggers import RunbookService
from opsagent.sla.policy import ServiceLevelPolicy, load_policy
from opsagent.traps.rules import TrapRule, load_trap_rules

log = logging.getLogger(__name__)

RUNBOOK_JOB_PREFIX = "runbook:"
SLA_JOB_ID = "sla-tick"  # args (app, policy, notify config, tick state)


@dataclass
class Content:
    """Everything a reload replaces, loaded and checked."""

    profiles: dict[tuple[str, str], Profile]
    rules: list[CompiledRule]
    notify: NotifyConfig
    policy: ServiceLevelPolicy
    runbooks: dict[str, Entry]
    trap_rules: list[TrapRule]


@dataclass
class ReloadResult:
    ok: bool
    errors: list[str] = field(default_factory=list)


def load_content(app: App) -> Content:
    """Load every reloadable content file; raises ConfigError (every issue) or OSError."""
    roots = app.config.roots
    issues = []
    loaded: dict[str, Any] = {}
    loaders: dict[str, Callable[[], Any]] = {
        "profiles": app.load_profiles,
        "rules": lambda: load_rules(roots, recording=True),
        "notify": lambda: load_notify_config(roots),
        "policy": lambda: load_policy(roots),
        "runbooks": lambda: load_library(roots),
        "trap_rules": lambda: load_trap_rules(roots) if app.config.traps is not None else [],
    }
    for name, loader in loaders.items():
        try:
            loaded[name] = loader()
        except ConfigError as exc:
            issues += exc.issues
    if issues:
        raise ConfigError(issues)
    return Content(**loaded)


def replace_model(current: BaseModel, new: BaseModel) -> None:
    """Give ``current`` (a frozen model other parts hold, e.g. the web routes' policy) the state of
    ``new`` in one step: readers see the old set or the new one, never a mix."""
    object.__setattr__(current, "__dict__", dict(vars(new)))
    object.__setattr__(current, "__pydantic_fields_set__", set(new.model_fields_set))


class Reloader:
    """Serve's reload: one at a time; ``collect`` gives the reload gauges to /metrics."""

    def __init__(
        self,
        app: App,
        engine: AlertEngine,
        poller: Poller,
        policy: ServiceLevelPolicy,
        runbooks: RunbookService,
        scheduler: AsyncIOScheduler,
        refresh_inventory: Callable[[], Awaitable[None]],
    ) -> None:
        self.app = app
        self.engine = engine
        self.poller = poller
        self.policy = policy
        self.runbooks = runbooks
        self.scheduler = scheduler
        self.refresh_inventory = refresh_inventory
        self.traps: Any = None  # the TrapService, once started
        self.wide: Any = None  # a cluster member's cluster-wide rules (opsagent_scope: cluster)
        self.successful = True  # serve started on a valid set
        self.success_at = time.time()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[ReloadResult]] = set()

    def signal(self) -> None:
        """SIGHUP: reload in the background (a signal handler must not block)."""
        task = asyncio.ensure_future(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> ReloadResult:
        async with self._lock:
            try:
                content = await asyncio.to_thread(load_content, self.app)
            except ConfigError as exc:
                return self._failed([str(i) for i in exc.issues])
            except (OSError, ValueError) as exc:
                return self._failed([f"{type(exc).__name__}: {exc}"])
            await self._apply(content)
            self.successful, self.success_at = True, time.time()
            log.info(
                "configuration reloaded: %d rules, %d runbooks, %d trap rules",
                len(content.rules),
                len(content.runbooks),
                len(content.trap_rules),
            )
            return ReloadResult(True)

    def _failed(self, errors: list[str]) -> ReloadResult:
        self.successful = False
        log.error("reload failed, keeping the previous configuration:\n  %s", "\n  ".join(errors))
        return ReloadResult(False, errors)

    async def _apply(self, content: Content) -> None:
        self.poller.profiles = content.profiles
        await self.engine.replace_rules(content.rules, content.notify)
        if self.wide is not None:  # every member publishes their inputs; the leader evaluates them
            await self.wide.replace_rules(content.rules, content.notify)
        replace_model(self.policy, content.policy)  # the engine's classifier and the SLA tick use it too
        sla = self.scheduler.get_job(SLA_JOB_ID)
        if sla is not None:  # escalations notify through the new receivers (the policy changed in place)
            sla.modify(args=(*sla.args[:2], content.notify, *sla.args[3:]))
        self.runbooks.library = Library(content.runbooks)
        for job in self.scheduler.get_jobs():
            if job.id.startswith(RUNBOOK_JOB_PREFIX):
                job.remove()
        self.runbooks.schedule(self.scheduler)
        if self.traps is not None:
            self.traps.router.replace_rules(content.trap_rules)
        await self.refresh_inventory()  # inventory changes made in the store, and the parents map

    def collect(self) -> Iterator[Metric]:
        ok = Metric("opsagent_config_last_reload_successful", "Whether the last content reload succeeded.", "gauge")
        ok.add_sample("opsagent_config_last_reload_successful", {}, 1.0 if self.successful else 0.0)
        at = Metric(
            "opsagent_config_last_reload_success_timestamp_seconds",
            "Time of the last successful configuration reload (or of the start).",
            "gauge",
        )
        at.add_sample("opsagent_config_last_reload_success_timestamp_seconds", {}, self.success_at)
        yield from (ok, at)
