"""The per-contract service-level report (服务协议报告) with hand-computed figures: the ACME-2026 contract
of tests/desk/helpers.py (response 30 min, on-site 4 h, resolution 2 working days of 11 h, on its own
calendar Mon–Sat 08:00–12:00 + 13:00–20:00 Asia/Shanghai, 1 May a holiday)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from opsagent.desk import actions
from opsagent.desk.content import load_desk
from opsagent.desk.intake import RequesterSpec, TicketRequest, open_ticket
from opsagent.incidents import repo
from opsagent.reports import contract as report
from opsagent.reports.document import render
from opsagent.sla.policy import load_policy
from opsagent.store.engine import Store
from opsagent.store.urls import sqlite_url
from tests.desk.helpers import REPO, content_root

CST = ZoneInfo("Asia/Shanghai")
ACME = RequesterSpec(name="王芳", phone="13812341234", email="wf@acme.example", organisation="ACME 有限公司",
                     type="external")  # fmt: skip


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST).astimezone(UTC)  # type: ignore[misc]


class Clock:
    """The time the lifecycle code records (its ``now``), set by the test."""

    def __init__(self) -> None:
        self.at = cst(2026, 4, 1, 8)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Store, Any, Clock]]:
    home = tmp_path / "home"
    home.mkdir()
    root = content_root(tmp_path / "content")
    (home / "opsagent.yaml").write_text(f"content_roots: [{root}]\ntimezone: Asia/Shanghai\n", encoding="utf-8")
    clock = Clock()
    monkeypatch.setattr(repo, "now", clock)
    monkeypatch.setattr(actions, "now", clock)
    store = Store(sqlite_url(home / "opsagent.db"))
    try:
        yield home, store, root, clock
    finally:
        store.close()


def _ticket(store: Store, root: Path, title: str, at: datetime, category: str = "hardware") -> int:
    policy = load_policy([root])
    req = TicketRequest(title=title, channel="phone", category=category, requester=ACME)
    return open_ticket(store, policy, load_desk([root]), req, "desk-user", at=at).id


def test_contract_report_figures_by_hand(world: tuple[Path, Store, Path, Clock]) -> None:
    home, store, root, clock = world
    # T1: Monday 6 April 09:00; acknowledged 09:20, on site 11:00, resolved 15:00: every target met
    t1 = _ticket(store, root, "交换机端口不通", cst(2026, 4, 6, 9, 0))
    for at, act in (
        (cst(2026, 4, 6, 9, 20), "ack"),
        (cst(2026, 4, 6, 11, 0), "onsite"),
        (cst(2026, 4, 6, 15), "resolve"),
    ):
        clock.at = at
        actions.on_site(store, t1, "engineer") if act == "onsite" else repo.act(store, t1, act, "engineer")
    # T2: Thursday 30 April 18:00 (Friday 1 May is the contract's holiday), acknowledged 18:45 (due 18:30:
    # 15 min over); on site Saturday 10:30 (due 10:00 = 2 h Thu + 2 h Sat: 30 min over); resolved Monday
    # 4 May 17:00 = 2 + 11 + 4 + 4 = 21 h of the 22 h: met
    t2 = _ticket(store, root, "打印机卡纸，回电 13812341234", cst(2026, 4, 30, 18, 0))
    for at, act in ((cst(2026, 4, 30, 18, 45), "ack"), (cst(2026, 5, 2, 10, 30), "onsite"),
                    (cst(2026, 5, 4, 17, 0), "resolve")):  # fmt: skip
        clock.at = at
        actions.on_site(store, t2, "engineer") if act == "onsite" else repo.act(store, t2, act, "engineer")
    _ticket(store, root, "账号", cst(2026, 4, 8, 9, 0), category="software")  # outside the scope: no contract
    _ticket(store, root, "七月的", cst(2026, 7, 1, 9, 0))  # after the period
    policy = load_policy([root])

    stats = report.load_contract_stats(store, policy, "ACME-2026", cst(2026, 4, 1), cst(2026, 7, 1), cst(2026, 7, 1))
    assert stats.tickets == 2 and stats.targets == ["response", "resolution", "onsite"]
    assert (stats.met["response"], stats.breached["response"], stats.compliance("response")) == (1, 1, 0.5)
    assert (stats.met["onsite"], stats.breached["onsite"], stats.compliance("onsite")) == (1, 1, 0.5)
    assert (stats.met["resolution"], stats.breached["resolution"], stats.compliance("resolution")) == (2, 0, 1.0)
    assert [(b.incident_id, b.target, b.due, b.done, b.overrun) for b in stats.breaches] == [
        (t2, "response", cst(2026, 4, 30, 18, 30), cst(2026, 4, 30, 18, 45), 15 * 60.0),
        (t2, "onsite", cst(2026, 5, 2, 10, 0), cst(2026, 5, 2, 10, 30), 30 * 60.0),
    ]
    assert stats.breaches[0].title == "打印机卡纸，回电 138****1234"

    zh = render(report.build(stats, "zh", CST, cst(2026, 7, 1)), "md").decode()
    assert "服务协议报告 ACME-2026" in zh and "| 响应 | 1 | 1 | 0 | 50.0% |" in zh.replace("  ", " ")
    assert "13812341234" not in zh and "2026-04-30 18:30" in zh and "15分钟" in zh.replace(" ", "")
    en = render(report.build(stats, "en", CST, cst(2026, 7, 1)), "html").decode()
    assert "Service Contract Report ACME-2026" in en and "50.0%" in en and "100.0%" in en

    env = {**os.environ, "OPSAGENT_HOME": str(home), "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "opsagent", "report", "contract", "ACME-2026", "--quarter", "2026Q2",
                          "--format", "json"], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["tickets"] == 2 and data["sla"]["response"]["compliance"] == 0.5
    assert [b["overrun_seconds"] for b in data["breaches"]] == [900.0, 1800.0]
    pdf = subprocess.run([sys.executable, "-m", "opsagent", "report", "contract", "ACME-2026", "--quarter", "2026Q2",
                          "--format", "pdf", "--lang", "zh", "-o", str(home / "acme.pdf")], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert pdf.returncode == 0 and (home / "acme.pdf").read_bytes().startswith(b"%PDF")
    unknown = subprocess.run([sys.executable, "-m", "opsagent", "report", "contract", "NOPE", "--quarter", "2026Q2"],
                             env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert unknown.returncode == 2 and "NOPE" in unknown.stderr and "Traceback" not in unknown.stderr
