"""Scheduled configuration backup inside ``opsagent serve`` (Oxidized's ``interval``, or a cron).

Every asset with ``credentials.cli`` and a ``device_type`` opsagent can back up gets one APScheduler
job, reconciled with the inventory like poll jobs. Settings are asset or group vars:

```yaml
vars:
  config_backup_interval: 1h        # default 1h, as Oxidized; or
  config_backup_cron: "0 2 * * *"   # a cron expression instead of the interval, in
  config_backup_timezone: Asia/Shanghai  # this zone (default: the agent's timezone, see opsagent.crons)
  config_backup_timeout: 30s        # per CLI step
  config_backup: false              # opt out
```

``max_instances=1`` means a slow device is never fetched twice at once. Every attempt becomes
metrics; failures (with their reason) and changed configurations are also events of the asset
(``opsagent events --asset sw1``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client.metrics_core import Metric
from sqlalchemy import insert

from opsagent.crons import cron_trigger, cron_zone, zone_name
from opsagent.i18n import valid_zone
from opsagent.inventory.model import Asset, Inventory
from opsagent.inventory.resolve import GroupIndex
from opsagent.netcli.backup import COMMANDS, BackupResult, backup
from opsagent.store import schema
from opsagent.store.engine import Store
from opsagent.units import parse_duration

log = logging.getLogger(__name__)
JOB_PREFIX = "config-backup:"
DEFAULT_INTERVAL = 3600.0


@dataclass(frozen=True)
class BackupPlan:
    asset: Asset
    trigger: str  # "interval:3600" or "cron:0 2 * * *" — also the change detector for sync
    timeout: float
    zone: str = "UTC"  # of a cron trigger: config_backup_timezone, else the agent's zone


def plan_for(asset: Asset, variables: dict[str, Any], zone: tzinfo | None = None) -> BackupPlan | None:
    """The asset's backup schedule, or None when it has none. ValueError on an invalid setting."""
    if "cli" not in asset.credentials or variables.get("config_backup") is False:
        return None
    if str(variables.get("device_type", "cisco_ios")) not in COMMANDS:
        return None
    timeout = parse_duration(variables.get("config_backup_timeout", 30))
    cron = variables.get("config_backup_cron")
    if cron:
        own = variables.get("config_backup_timezone")
        tz = cron_zone(valid_zone(str(own)) if own else None, zone or UTC)
        cron_trigger(str(cron), tz)  # raises ValueError when invalid
        return BackupPlan(asset, f"cron:{cron}", timeout, zone_name(tz))
    interval = parse_duration(variables.get("config_backup_interval", DEFAULT_INTERVAL))
    if interval < 60:
        raise ValueError("config_backup_interval below 60s would hammer the device's CLI")
    return BackupPlan(asset, f"interval:{interval:g}", timeout)


@dataclass
class BackupStats:
    last_attempt: dict[str, float] = field(default_factory=dict)
    last_success: dict[str, float] = field(default_factory=dict)
    last_duration: dict[str, float] = field(default_factory=dict)
    last_ok: dict[str, bool] = field(default_factory=dict)
    failures: dict[tuple[str, str], int] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)

    def record(self, result: BackupResult, started: float, ended: float) -> None:
        asset = result.asset
        self.last_attempt[asset] = ended
        self.last_duration[asset] = ended - started
        self.last_ok[asset] = result.ok
        if result.ok:
            self.last_success[asset] = ended
            self.changes[asset] = self.changes.get(asset, 0) + (1 if result.changed else 0)
        else:
            key = (asset, result.reason or "error")
            self.failures[key] = self.failures.get(key, 0) + 1


def _gauge(name: str, help_text: str, values: dict[str, float], kind: str = "gauge") -> Metric:
    metric = Metric(name.removesuffix("_total"), help_text, kind)
    for asset, value in sorted(values.items()):
        metric.add_sample(name, {"asset": asset}, value)
    return metric


def record_event(store: Store, result: BackupResult) -> None:
    """Failures and changed configurations become events of the asset (``opsagent events``)."""
    if result.ok and not result.changed:
        return
    row = {
        "received_at": datetime.now(UTC),
        "kind": "config_backup",
        "source": "netcli",
        "asset": result.asset,
        "name": f"config changed (rev {result.rev})" if result.ok else f"config backup failed: {result.reason}",
        "oid": "",
        "detail": {"ok": result.ok, "reason": result.reason, "message": result.message, "rev": result.rev},
    }
    with store.transaction() as conn:
        conn.execute(insert(schema.events).values(**row))


class BackupJobs:
    """Keeps one backup job per eligible asset; its :meth:`collect` feeds ``/metrics``."""

    def __init__(self, scheduler: AsyncIOScheduler, store: Store, limit: int = 8, zone: tzinfo | None = None) -> None:
        self.scheduler = scheduler
        self.store = store
        self.zone = zone  # of cron backups without config_backup_timezone: the agent's zone
        self.plans: dict[str, BackupPlan] = {}
        self.stats = BackupStats()
        self.invalid: dict[str, str] = {}
        self.limit = limit
        self.gate: Callable[[Asset], bool] | None = None  # cluster: back up only the assets this agent polls

    def sync(self, inventory: Inventory) -> tuple[int, int]:
        """Add, change and remove jobs to match the inventory; returns (added or changed, removed)."""
        index = GroupIndex(inventory)
        wanted: dict[str, BackupPlan] = {}
        self.invalid = {}
        for asset in inventory.assets.values():
            try:
                plan = plan_for(asset, index.effective_vars(asset), self.zone)
            except ValueError as exc:  # one bad var never stops the others' backups
                self.invalid[asset.name] = str(exc)
                log.error("%s: config backup not scheduled: %s", asset.name, exc)
                continue
            if plan is not None:
                wanted[JOB_PREFIX + asset.name] = plan
        changed = 0
        for job_id, plan in wanted.items():
            if self.plans.get(job_id) == plan:
                continue
            self.scheduler.add_job(
                self.run_one,
                self._trigger(job_id, plan),
                args=(plan,),
                id=job_id,
                name=job_id,
                replace_existing=True,
                misfire_grace_time=300,
            )
            self.plans[job_id] = plan
            changed += 1
        removed = [job_id for job_id in self.plans if job_id not in wanted]
        for job_id in removed:
            self.plans.pop(job_id)
            if self.scheduler.get_job(job_id) is not None:
                self.scheduler.remove_job(job_id)
        return changed, len(removed)

    async def refresh(self, load: Callable[[], Inventory]) -> None:
        """Pick up inventory changes made while serving; on failure keep the current jobs."""
        try:
            self.sync(await asyncio.to_thread(load))
        except Exception:
            log.exception("config backup jobs not refreshed")

    @staticmethod
    def _trigger(job_id: str, plan: BackupPlan) -> CronTrigger | IntervalTrigger:
        kind, _, value = plan.trigger.partition(":")
        if kind == "cron":
            return cron_trigger(value, ZoneInfo(plan.zone))
        # First fetch soon after start (spread over 10 s by a stable hash), then every interval.
        offset = (zlib.crc32(job_id.encode()) % 1000) / 100
        start = datetime.now(UTC) + timedelta(seconds=offset) - timedelta(seconds=float(value))
        return IntervalTrigger(seconds=float(value), start_date=start, timezone=UTC)

    async def run_one(self, plan: BackupPlan) -> BackupResult | None:
        if self.gate is not None and not self.gate(plan.asset):
            return None  # another agent of the cluster owns this asset, and its backups
        started = time.time()
        [result] = await backup(self.store, [plan.asset], plan.timeout, self.limit)
        self.stats.record(result, started, time.time())
        if not result.ok:
            log.warning("config backup of %s failed: %s %s", result.asset, result.reason, result.message)
        try:
            await asyncio.to_thread(record_event, self.store, result)
        except Exception:
            log.exception("config backup event of %s not stored", result.asset)
        return result

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        yield _gauge(
            "opsagent_config_backup_last_success_timestamp_seconds",
            "When the asset's configuration was last fetched successfully.",
            s.last_success,
        )
        yield _gauge(
            "opsagent_config_backup_last_attempt_timestamp_seconds", "When a backup was last tried.", s.last_attempt
        )
        yield _gauge(
            "opsagent_config_backup_last_duration_seconds", "Duration of the last backup attempt.", s.last_duration
        )
        yield _gauge(
            "opsagent_config_backup_success",
            "1 if the last backup attempt succeeded, else 0.",
            {a: 1.0 if ok else 0.0 for a, ok in s.last_ok.items()},
        )
        yield _gauge(
            "opsagent_config_backup_changes_total",
            "Backups that stored a new configuration version.",
            {a: float(n) for a, n in s.changes.items()},
            "counter",
        )
        failures = Metric("opsagent_config_backup_failures", "Failed backups by reason.", "counter")
        for (asset, reason), n in sorted(s.failures.items()):
            failures.add_sample("opsagent_config_backup_failures_total", {"asset": asset, "reason": reason}, n)
        yield failures
        scheduled = Metric("opsagent_config_backup_scheduled", "Assets with a scheduled config backup.", "gauge")
        scheduled.add_sample("opsagent_config_backup_scheduled", {}, len(self.plans))
        yield scheduled
