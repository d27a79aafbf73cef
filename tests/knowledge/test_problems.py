"""Problem records on real stores (SQLite and PostgreSQL): grouping candidates, create/link/update, and the
period report tracking a problem from the quarter that found it into the next ones until it is closed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from opsagent.cli import cli
from opsagent.incidents import repo as incidents
from opsagent.inventory.model import Asset, Inventory
from opsagent.knowledge import problem_groups, problems, repo
from opsagent.knowledge.model import KnowledgeError, Meta, Translation
from opsagent.knowledge.problems import NewProblem, ProblemChange
from opsagent.store import Store, inventory_repo, schema

pytestmark = pytest.mark.peer


def _fire(store: Store, n: int, alertname: str, asset: str, opened: datetime | None = None) -> int:
    labels = {"alertname": alertname, "asset": asset}
    iid, action = incidents.fire(store, incidents.AlertInput(f"fp-{alertname}-{n}", alertname, labels,
                                                             {"summary": f"{alertname} on {asset}"}))  # fmt: skip
    assert action == "opened"
    if opened is not None:  # the ticket happened back then (a report of an earlier quarter reads it)
        with store.transaction() as conn:
            values = {"opened_at": opened, "last_fired_at": opened}
            conn.execute(update(schema.incidents).where(schema.incidents.c.id == iid).values(**values))
    return iid


def _inventory(store: Store) -> None:
    assets = {
        "sw-1": Asset(name="sw-1", kind="network", groups=["floor-3"]),
        "sw-2": Asset(name="sw-2", kind="network", groups=["floor-3"]),
        "db-1": Asset(name="db-1", kind="database", groups=[]),
    }
    inventory_repo.save_inventory(store, Inventory(assets=assets), actor="t")


def run(store: Store, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--store", store.url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _report(store: Store, quarter: str) -> dict[str, list[int]]:
    data = json.loads(run(store, "report", "period", "--quarter", quarter, "--format", "json").output)
    return {k: [p["id"] for p in v] for k, v in data["problems"].items()}


def test_candidates_group_alerts_by_asset_group_and_leave_linked_ones_out(kb_store: Store) -> None:
    _inventory(kb_store)
    ups = [_fire(kb_store, n, "PortFlapping", f"sw-{1 + n % 2}") for n in range(4)]
    db = [_fire(kb_store, n, "PgSlowQueries", "db-1") for n in range(3)]
    _fire(kb_store, 9, "FanFailure", "sw-1")  # once: not recurring
    since = datetime.now(UTC) - timedelta(days=1)
    found = problem_groups.candidates(kb_store, since)
    assert [(g["kind"], g.get("alertname"), g.get("asset_group"), g["incidents"]) for g in found] == [
        ("alert", "PortFlapping", "floor-3", ups),
        ("alert", "PgSlowQueries", "db-1", db),  # an asset in no group stands for itself
    ]
    problem_id = problems.create(kb_store, NewProblem(title="端口抖动", incidents=ups[:2]), "alice")
    assert [g["incidents"] for g in problem_groups.candidates(kb_store, since)] == [db]  # 2 left: under 3
    assert problems.link(kb_store, problem_id, ups, "alice") == ups[2:]
    assert problems.for_incident(kb_store, ups[3]) == [problem_id]
    assert [g["incidents"] for g in problem_groups.candidates(kb_store, since)] == [db]


def test_person_tickets_group_by_category_and_similar_symptom() -> None:
    T = problem_groups.Ticket
    tickets = [
        T(1, "hardware", "hardware", True, ("",), "财务部打印机无法打印"),
        T(2, "hardware", "hardware", True, ("",), "打印机无法打印"),
        T(3, "software", "software", True, ("",), "打印机无法打印"),  # another category
        T(4, "hardware", "hardware", True, ("",), "投影仪没有信号"),
        T(5, "hardware", "hardware", True, ("",), "行政部打印机无法打印"),
    ]
    found = problem_groups.group(tickets)
    assert [(g.kind, g.key, g.incidents) for g in found] == [("symptom", {"category": "hardware"}, [1, 2, 5])]


def test_update_workaround_status_and_refusals(kb_store: Store) -> None:
    _inventory(kb_store)
    iid = _fire(kb_store, 1, "PortFlapping", "sw-1")
    article = repo.create(kb_store, Meta(status="published"), [Translation(lang="zh", title="端口抖动处理")], "t")
    problem_id = problems.create(kb_store, NewProblem(title="端口抖动", incidents=[iid]), "alice")
    change = ProblemChange(root_cause="光模块老化", workaround=article, status="known_error")
    assert problems.update_problem(kb_store, problem_id, change, "alice") is True
    assert problems.update_problem(kb_store, problem_id, change, "alice") is False
    found = problems.get(kb_store, problem_id)
    assert found is not None and found["status"] == "known_error" and found["workaround"]["id"] == article
    assert found["closed_at"] is None and [i["id"] for i in found["incidents"]] == [iid]
    with pytest.raises(KnowledgeError, match="no article"):
        problems.update_problem(kb_store, problem_id, ProblemChange(workaround=article + 99), "alice")
    with pytest.raises(KnowledgeError, match="no incident"):
        problems.create(kb_store, NewProblem(title="x", incidents=[iid + 99]), "alice")
    with pytest.raises(KnowledgeError, match="no problem"):
        problems.link(kb_store, problem_id + 99, [iid], "alice")
    actions = [r["action"] for r in kb_store.audit_log(actor="alice")]
    assert actions[:2] == ["problem.update", "problem.create"]


def test_a_problem_is_tracked_across_quarters_until_closed(kb_store: Store) -> None:
    _inventory(kb_store)
    q2 = [_fire(kb_store, n, "PortFlapping", "sw-1", datetime(2026, 5, 10 + n, 3, tzinfo=UTC)) for n in range(3)]
    q3 = _fire(kb_store, 7, "PortFlapping", "sw-2", datetime(2026, 8, 1, 3, tzinfo=UTC))
    found = json.loads(run(kb_store, "problem", "suggest", "--days", "3660", "-o", "json").output)
    assert found[0]["incidents"] == [*q2, q3]
    created = run(kb_store, "problem", "create", "--title", "三楼交换机端口反复抖动", "--alert", "PortFlapping",
                  "--group", "floor-3", *[f"--incident={i}" for i in q2], "-o", "json")  # fmt: skip
    problem_id = json.loads(created.output)["id"]
    run(kb_store, "problem", "link", str(problem_id), str(q3))

    assert _report(kb_store, "2026Q1") == {"found": [], "carried": []}
    assert _report(kb_store, "2026Q2") == {"found": [problem_id], "carried": []}  # found when its first ticket was
    assert _report(kb_store, "2026Q3") == {"found": [], "carried": [problem_id]}  # tracked into the next quarter
    assert _report(kb_store, "2099Q1") == {"found": [], "carried": [problem_id]}  # … and on, while it is open
    zh = run(kb_store, "report", "period", "--quarter", "2026Q3", "--lang", "zh", "--format", "md").output
    assert "## 问题管理" in zh and "上期遗留问题跟踪" in zh and "三楼交换机端口反复抖动" in zh and "未解决" in zh
    en = run(kb_store, "report", "period", "--quarter", "2026Q2", "--lang", "en", "--format", "md").output
    assert "Problems found in this period" in en and "三楼交换机端口反复抖动" in en

    run(kb_store, "problem", "update", str(problem_id), "--root-cause", "光模块老化", "--status", "closed")
    assert _report(kb_store, "2099Q1") == {"found": [], "carried": []}  # closed: no longer tracked
    assert _report(kb_store, "2026Q3") == {"found": [], "carried": [problem_id]}  # it was open through Q3
    zh = run(kb_store, "report", "period", "--quarter", "2026Q3", "--lang", "zh", "--format", "md").output
    assert "已关闭" in zh and "光模块老化" in zh
    assert json.loads(run(kb_store, "incident", "show", str(q3), "-o", "json").output)["problems"] == [problem_id]
    shown = json.loads(run(kb_store, "problem", "show", str(problem_id), "-o", "json").output)
    assert shown["status"] == "closed" and [i["id"] for i in shown["incidents"]] == [*q2, q3]


def test_cli_refusals_are_clean(kb_store: Store) -> None:
    result = CliRunner().invoke(cli, ["--store", kb_store.url, "problem", "show", "42"])
    assert result.exit_code == 1 and "no problem #42" in result.output
    result = CliRunner().invoke(cli, ["--store", kb_store.url, "problem", "create", "--title", "\x01bad"])
    assert result.exit_code == 2 and "title" in result.output and "Traceback" not in result.output


def test_a_hostile_title_is_escaped_in_the_report(kb_store: Store) -> None:
    problems.create(kb_store, NewProblem(title="<script>alert(1)</script> | x"), "alice")
    html = run(kb_store, "report", "period", "--from", "2000-01-01", "--to", "2100-01-01", "--format", "html").output
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = run(kb_store, "report", "period", "--from", "2000-01-01", "--to", "2100-01-01", "--format", "md").output
    assert "&lt;/script&gt; \\| x" in md or "</script> \\| x" in md
