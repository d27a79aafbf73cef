"""Scheduled config backup: which assets get a job and with what trigger (pure)."""

from __future__ import annotations

import pytest

from opsagent.inventory.model import Asset
from opsagent.netcli.backup import BackupResult
from opsagent.netcli.schedule import BackupStats, plan_for


def _asset(**vars_: object) -> Asset:
    return Asset.model_validate(
        {"name": "sw1", "kind": "network", "address": "10.0.0.1", "credentials": {"cli": {"user": "u"}}, "vars": vars_}
    )


def test_default_is_hourly_like_oxidized() -> None:
    plan = plan_for(_asset(), {"device_type": "huawei"})
    assert plan is not None and plan.trigger == "interval:3600" and plan.timeout == 30


def test_cron_interval_timeout_and_opt_out() -> None:
    cron = plan_for(_asset(), {"config_backup_cron": "0 2 * * *", "config_backup_timeout": "1m"})
    assert cron is not None and cron.trigger == "cron:0 2 * * *" and cron.timeout == 60
    every = plan_for(_asset(), {"config_backup_interval": "6h"})
    assert every is not None and every.trigger == "interval:21600"
    assert plan_for(_asset(), {"config_backup": False}) is None
    assert plan_for(_asset(), {"device_type": "linux"}) is None  # no configuration command known
    no_cli = Asset.model_validate({"name": "h", "kind": "host", "address": "10.0.0.2"})
    assert plan_for(no_cli, {}) is None


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"config_backup_cron": "61 * * * *"}, "higher than the maximum"),
        ({"config_backup_interval": "5s"}, "below 60s"),
        ({"config_backup_interval": "soon"}, "invalid duration"),
    ],
)
def test_invalid_settings_raise(variables: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_for(_asset(), variables)


def test_stats_count_failures_by_reason_and_changes() -> None:
    stats = BackupStats()
    stats.record(BackupResult("sw1", True, rev=1, changed=True), 10.0, 12.5)
    stats.record(BackupResult("sw1", False, "timeout"), 20.0, 50.0)
    stats.record(BackupResult("sw1", True, rev=1, changed=False), 60.0, 61.0)
    assert stats.last_success["sw1"] == 61.0 and stats.last_duration["sw1"] == 1.0
    assert stats.failures == {("sw1", "timeout"): 1} and stats.changes == {"sw1": 1}
