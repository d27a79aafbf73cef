"""A reopen after the follow-up (closed + archived) is live work again: listed, due for a new call-back."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from opsagent.cli import cli
from opsagent.incidents import repo
from opsagent.incidents.repo import AlertInput
from opsagent.sla import service
from opsagent.sla.policy import load_policy
from opsagent.store import Store, sqlite_url

ROOT = Path(__file__).resolve().parents[2]


def _listed(db: Path, *flags: str) -> list[int]:
    result = CliRunner().invoke(cli, ["--store", sqlite_url(db), "incident", "list", *flags, "-o", "json"])
    assert result.exit_code == 0, result.output
    return [row["id"] for row in json.loads(result.output)]


def test_reopen_of_an_archived_incident_unarchives_and_asks_for_a_new_followup(tmp_path: Path) -> None:
    db = tmp_path / "opsagent.db"
    store = Store(sqlite_url(db))
    policy = load_policy([ROOT])
    iid, _ = repo.fire(store, AlertInput("fp-a", "DiskFull", {"asset": "erp-db", "severity": "warning"}))
    repo.act(store, iid, "resolve", "张工", cause="日志占满磁盘")
    service.act(store, policy, iid, "followup", "王客服", "用户满意", satisfaction=5)
    service.act(store, policy, iid, "archive", "opsagent", "archived")
    assert _listed(db) == [] and _listed(db, "--archived") == [iid]
    assert [f["id"] for f in service.followups(store, policy)] == []

    repo.act(store, iid, "reopen", "张工", "用户反馈问题再次出现")

    assert _listed(db) == [iid]  # active again, without --archived
    record = service.get(store, policy, iid)
    assert record is not None
    assert record["service"]["archived_at"] is None
    assert record["service"]["satisfaction"] is None
    reopened = [e for e in record["events"] if e["kind"] == "reopened"][-1]
    assert reopened["detail"]["earlier_satisfaction"] == 5 and reopened["detail"]["was_archived"] is True
    repo.act(store, iid, "resolve", "张工", cause="磁盘扩容")
    assert [f["id"] for f in service.followups(store, policy)] == [iid]  # a new call-back is due
    store.close()
