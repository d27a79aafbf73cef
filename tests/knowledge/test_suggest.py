"""From a ticket to an article and back: a resolved incident becomes a draft article (symptom, cause, steps,
links), is published, and the next similar incident gets it suggested; using it is recorded. Real stores."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from opsagent.cli import cli
from opsagent.errors import UsageError
from opsagent.incidents import repo as incidents
from opsagent.inventory.model import Asset, Inventory
from opsagent.knowledge import harvest, repo, suggest
from opsagent.knowledge.model import KnowledgeError, Meta, Translation
from opsagent.store import Store, inventory_repo, schema
from opsagent.store.engine import now
from tests.knowledge.corpus import resolved_incident

pytestmark = pytest.mark.peer


def _fire(store: Store, fingerprint: str, alertname: str, title: str, asset: str | None = None) -> int:
    labels = {"alertname": alertname} | ({"asset": asset} if asset else {})
    incident_id, action = incidents.fire(
        store, incidents.AlertInput(fingerprint, alertname, labels, {"summary": title})
    )
    assert action == "opened"
    return incident_id


def test_ticket_to_article_to_suggestion(kb_store: Store) -> None:
    inventory_repo.save_inventory(
        kb_store,
        Inventory(assets={"fin-printer": Asset(name="fin-printer", kind="host", groups=["office"])}),
        actor="t",
    )
    texts = (
        "财务部打印机无法打印",
        "打印任务全部卡在队列中",
        "Print Spooler 服务停止",
        "重启 Print Spooler 服务并清空队列",
    )
    first = resolved_incident(kb_store, *texts, alertname="PrintQueueStuck", asset="fin-printer")
    with kb_store.transaction() as conn:
        conn.execute(insert(schema.runbook_runs).values(
            runbook="printer-restart", kind="emergency", status="succeeded", actor="t", trigger="incident",
            incident_id=first, parameters={}, selector="fin-printer", check_mode=False, started_at=now(),
            summary={}))  # fmt: skip

    article_id = harvest.from_incident(kb_store, first, "alice", "zh")
    article = repo.get(kb_store, article_id)
    assert article is not None and article["status"] == "draft" and article["source_incident"] == first
    body = article["translations"]["zh"]["body"]
    for text in (
        "## 故障现象",
        "打印任务全部卡在队列中",
        "## 故障原因",
        "Print Spooler 服务停止",
        "## 处理步骤",
        "重启 Print Spooler",
    ):
        assert text in body
    assert article["translations"]["zh"]["title"] == "财务部打印机无法打印"
    assert (article["alerts"], article["asset_kinds"], article["asset_groups"]) == (
        ["PrintQueueStuck"],
        ["host"],
        ["office"],
    )
    assert (article["runbooks"], article["incidents"]) == (["printer-restart"], [first])
    events = incidents.get(kb_store, first)["events"]  # type: ignore[index]
    assert events[-1]["kind"] == "knowledge" and events[-1]["detail"]["article"] == article_id
    with pytest.raises(KnowledgeError, match="already article"):
        harvest.from_incident(kb_store, first, "alice", "zh")

    # a draft is never suggested
    early = _fire(kb_store, "fp-early", "PrintQueueStuck", "打印机又无法打印", "fin-printer")
    assert suggest.for_incident(kb_store, early) == []
    with pytest.raises(UsageError, match="only a resolved or closed"):
        harvest.from_incident(kb_store, early, "alice", "zh")
    repo.set_status(kb_store, article_id, "published", "alice")

    # the same alert again: suggested by its alert (and asset); a similar text from a person: by its words
    same_alert = _fire(kb_store, "fp-2", "PrintQueueStuck", "fin-printer queue stuck", "fin-printer")
    [by_alert] = suggest.for_incident(kb_store, same_alert)
    assert by_alert["article_id"] == article_id and "alert:PrintQueueStuck" in by_alert["reasons"]
    assert "asset_kind:host" in by_alert["reasons"] and by_alert["used_at"] is None
    similar = _fire(kb_store, "fp-3", "Manual", "行政部打印机无法打印，任务卡在队列")
    [by_text] = suggest.for_incident(kb_store, similar)
    assert by_text["article_id"] == article_id and any(r.startswith("text:") for r in by_text["reasons"])
    other = _fire(kb_store, "fp-4", "Manual", "VPN 无法连接")
    assert suggest.for_incident(kb_store, other) == []

    # the engineer uses it: recorded on the suggestion and in the incident's log
    assert suggest.link(kb_store, article_id, same_alert, "bob") is True
    [used] = suggest.for_incident(kb_store, same_alert)
    assert used["used_by"] == "bob" and used["used_at"] is not None
    assert incidents.get(kb_store, same_alert)["events"][-1]["kind"] == "knowledge"  # type: ignore[index]
    assert suggest.usage(kb_store) == {"suggested": 2, "used": 1}
    assert same_alert in repo.get(kb_store, article_id)["incidents"]  # type: ignore[index]

    result = CliRunner().invoke(cli, ["--store", kb_store.url, "incident", "show", str(same_alert), "-o", "json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)["knowledge"]
    assert [(k["article_id"], k["used_by"]) for k in shown] == [(article_id, "bob")]
    table = CliRunner().invoke(cli, ["--store", kb_store.url, "incident", "show", str(similar)])
    assert "knowledge" in table.output and "财务部打印机无法打印" in table.output


def test_a_failing_suggestion_never_stops_an_incident(kb_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.create(kb_store, Meta(status="published", alerts=["X"]), [Translation(lang="en", title="x")], "t")

    def broken(*args: object, **kwargs: object) -> list[dict[str, object]]:
        raise RuntimeError("the knowledge base is broken")

    monkeypatch.setattr(suggest, "rank", broken)
    incident_id = _fire(kb_store, "fp-x", "X", "x happened")
    assert incidents.get(kb_store, incident_id)["status"] == "open"  # type: ignore[index]
    assert suggest.for_incident(kb_store, incident_id) == []
