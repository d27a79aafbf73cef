"""Reports rendered from a real store through the CLI: every timeline event present, Chinese text
correct, the PDF rasterised by pdftoppm and checked to be non-blank, its text read by pdftotext."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image, ImageStat

from opsagent.cli import cli
from opsagent.incidents import repo
from opsagent.incidents.repo import AlertInput
from opsagent.reports.i18n import EVENTS
from opsagent.sla import service
from opsagent.sla.policy import load_policy
from opsagent.store import Store, sqlite_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store with one fully worked incident (every kind of service event) and a few others."""
    home = tmp_path_factory.mktemp("reports")
    store = Store(sqlite_url(home / "opsagent.db"))
    policy = load_policy([ROOT])
    labels = {"alertname": "OracleTablespaceFull", "asset": "erp-db", "severity": "critical",
              "project": "ERP系统", "category": "software"}  # fmt: skip
    iid, _ = repo.fire(
        store,
        AlertInput(
            "fp-1",
            "OracleTablespaceFull",
            labels,
            {"summary": "ERP 数据库表空间已满", "description": "USERS 表空间使用率 100%"},
        ),
    )
    repo.fire(store, AlertInput("fp-1", "OracleTablespaceFull", labels))  # repeated
    repo.act(store, iid, "ack", "张工")
    repo.act(store, iid, "assign", "张工", "", assignee="张工")
    service.act(store, policy, iid, "assess", "张工", "归档日志占满表空间")
    service.act(store, policy, iid, "pending", "张工", "等待用户确认可以清理归档日志")
    service.act(store, policy, iid, "resume", "张工", "用户已确认")
    repo.act(store, iid, "note", "张工", "已扩容表空间 20GB")
    repo.act(store, iid, "escalate", "张工", "上报用户服务中心")
    service.act(
        store,
        policy,
        iid,
        "classify",
        "张工",
        symptom="ERP 无法保存单据,提示 ORA-01653",
        result="表空间扩容后业务恢复正常",
    )
    repo.act(store, iid, "resolve", "张工", cause="归档日志未按计划清理,USERS 表空间耗尽",
             resolution_steps="1. 清理过期归档日志\n2. 表空间扩容 20GB\n3. 增加表空间使用率告警")  # fmt: skip
    repo.act(store, iid, "reopen", "张工", "用户反馈问题再次出现")
    repo.act(store, iid, "resolve", "张工")
    service.act(store, policy, iid, "signoff", "张工", signed_by="李主任")
    service.act(store, policy, iid, "followup", "王客服", "用户表示满意", satisfaction=5)
    for n, (name, asset, cat) in enumerate(
        [("LinkDown", "core-sw", "network"), ("LinkDown", "core-sw", "network"), ("FanFailure", "srv-9", "hardware")]
    ):
        other, _ = repo.fire(
            store, AlertInput(f"fp-x{n}", name, {"asset": asset, "category": cat, "severity": "warning"})
        )
        repo.act(store, other, "resolve", "bob")
    store.close()
    (home / "opsagent.yaml").write_text("{}\n")
    yield home


def run(home: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--store", sqlite_url(home / "opsagent.db"), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_repair_report_zh_markdown_has_every_field_and_event(home: Path) -> None:
    text = run(home, "report", "incident", "1", "--lang", "zh", "--format", "md").output
    for term in ("维修服务报告", "故障现象", "故障原因", "处理步骤", "处理结果", "服务级别", "处理过程记录",
                 "维修结果复查", "用户满意度", "用户签字确认", "确认人", "责任维修人"):  # fmt: skip
        assert term in text, term
    assert "ERP 无法保存单据,提示 ORA-01653" in text
    assert "归档日志未按计划清理,USERS 表空间耗尽" in text
    assert "表空间扩容后业务恢复正常" in text
    assert "李主任" in text and "5 / 5" in text and "用户表示满意" in text
    assert "ERP系统" in text
    assert "| **责任维修人** | 张工 |" in text
    events = service_events(home)
    # every event of the log appears in the timeline, in Chinese
    timeline = text.split("## 处理过程记录")[1].split("## 维修结果复查")[0]
    rows = [line for line in timeline.splitlines() if line.startswith("| 20")]
    assert len(rows) == len(events)
    for row, kind in zip(rows, events, strict=True):
        assert EVENTS[kind]["zh"] in row
    assert {"opened", "repeated", "acknowledged", "assessed", "pending", "resumed", "escalated", "resolved",
            "reopened", "signed_off", "followed_up", "closed", "archived"} <= set(events)  # fmt: skip


def service_events(home: Path) -> list[str]:
    out = run(home, "incident", "show", "1", "-o", "json").output
    return [e["kind"] for e in json.loads(out)["events"]]


def test_repair_report_english_html(home: Path) -> None:
    html = run(home, "report", "incident", "1", "--lang", "en", "--format", "html").output
    assert html.startswith("<!DOCTYPE html>") and 'lang="en"' in html
    for term in ("Repair Service Report #1", "Symptom", "Cause", "Steps taken", "Timeline", "Sign-off", "reopened"):
        assert term in html
    assert "<script" not in html


def _pdf_checks(pdf: Path, tmp: Path, expected: list[str]) -> None:
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout  # fmt: skip
    for term in expected:
        assert term in text.replace(" ", "") or term in text, term
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf), str(tmp / "page")], check=True,
                   timeout=60)  # fmt: skip
    page = next(tmp.glob("page*.png"))
    image = Image.open(page).convert("L")
    stat = ImageStat.Stat(image)
    dark = sum(image.histogram()[:128])
    assert stat.stddev[0] > 10, "page looks blank"
    assert dark > 500, "too little ink on the page"


def test_repair_report_pdf_in_chinese_is_not_blank(home: Path, tmp_path: Path) -> None:
    assert shutil.which("pdftoppm"), "poppler-utils is missing: scripts/test.sh installs it"
    out = tmp_path / "report.pdf"
    run(home, "report", "incident", "1", "--lang", "zh", "--format", "pdf", "-o", str(out))
    _pdf_checks(out, tmp_path, ["维修服务报告", "故障现象", "用户签字确认", "李主任"])
    # the CJK glyphs come from an embedded font, not boxes: fonts listed by pdffonts
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True, timeout=60).stdout
    assert "CJK" in fonts or "Noto" in fonts or "WenQuanYi" in fonts, fonts


def test_period_report_json_counts_and_compliance(home: Path) -> None:
    data = json.loads(
        run(home, "report", "period", "--from", "2000-01-01", "--to", "2100-01-01", "--format", "json").output
    )
    assert data["total"] == 4
    assert data["by"]["category"] == {"network": 2, "software": 1, "hardware": 1}
    assert data["by"]["project"]["ERP系统"] == 1
    assert data["by"]["asset"]["core-sw"] == 2
    assert data["top_faults"][0] == {"alertname": "LinkDown", "asset": "core-sw", "incidents": 2, "firings": 2}
    assert data["satisfaction"] == {"responses": 1, "average": 5.0, "scores": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}}
    assert data["sla"]["resolution"]["met"] == 4 and data["sla"]["resolution"]["compliance"] == 1.0
    assert data["mttr_seconds"] is not None and data["mtta_seconds"] is not None
    assert data["followups_open"] == 3  # the three other incidents are resolved without a call-back


def test_period_report_html_has_charts_and_pdf_renders(home: Path, tmp_path: Path) -> None:
    html = run(home, "report", "period", "--from", "2000-01-01", "--to", "2100-01-01", "--lang", "zh").output
    assert html.count("<svg") >= 6
    assert "服务统计报告（2000-01-01 至 2099-12-31）" in html and "季度统计报告" not in html  # not a quarter
    for term in ("按项目统计", "按故障类型统计", "服务级别达成率", "高发故障", "用户满意度", "网络"):
        assert term in html
    out = tmp_path / "period.pdf"
    run(home, "report", "period", "--quarter", "2026Q4", "--lang", "en", "--format", "pdf", "-o", str(out))
    _pdf_checks(out, tmp_path, ["QuarterlyServiceStatisticsReport", "2026Q4", "SLAcompliance"])
    html = run(home, "report", "period", "--month", "2026-07", "--lang", "zh").output
    assert "2026年7月 月度统计报告" in html and "季度" not in html
    html = run(home, "report", "period", "--quarter", "2026Q3", "--lang", "zh").output
    assert "2026年第三季度 季度统计报告" in html
    html = run(home, "report", "period", "--year", "2026", "--lang", "en").output
    assert "Annual Service Statistics Report — 2026" in html and "Quarterly" not in html


def test_zh_timeline_has_no_english_sentences_or_raw_details(home: Path) -> None:
    text = run(home, "report", "incident", "1", "--lang", "zh", "--format", "md").output
    timeline = text.split("## 处理过程记录")[1].split("## 维修结果复查")[0]
    for raw in ("by=", "satisfaction=", "the alert fired again", "closed after the follow-up call", "archived at"):
        assert raw not in timeline, raw
    assert "确认人：李主任" in timeline and "满意度：5 / 5" in timeline
    assert "告警再次触发" in timeline and "回访确认后关闭" in timeline
    english = run(home, "report", "incident", "1", "--lang", "en", "--format", "md").output
    assert "signed by: 李主任" in english and "the alert fired again" in english


def test_reports_default_to_the_agents_language_and_zone(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "opsagent.yaml"
    config.write_text("language: zh\ntimezone: Europe/Berlin\n")
    text = run(home, "--config", str(config), "report", "incident", "1", "--format", "md").output
    assert "维修服务报告" in text and "| **时区** | Europe/Berlin (UTC+01:00) |" in text
    config.write_text("language: en\ntimezone: Asia/Shanghai\n")
    text = run(home, "--config", str(config), "report", "period", "--year", "2026", "--format", "md").output
    assert "Annual Service Statistics Report" in text and "| **Time zone** | Asia/Shanghai (UTC+08:00) |" in text


def test_period_report_markdown_prints_each_table_once(home: Path) -> None:
    text = run(home, "report", "period", "--from", "2000-01-01", "--to", "2100-01-01", "--format", "md").output
    lines = text.splitlines()
    headers = [line for line, below in itertools.pairwise(lines) if below.startswith("|---")]
    named = [h for h in headers if h.replace("|", "").strip()]  # the field tables have blank headers
    assert len(named) >= 5, text
    assert len(named) == len(set(named)), [h for h in named if named.count(h) > 1]


def test_period_needs_a_range(home: Path) -> None:
    result = CliRunner().invoke(cli, ["--store", sqlite_url(home / "opsagent.db"), "report", "period"])
    assert result.exit_code == 2 and "--quarter" in result.output
    both = ["--store", sqlite_url(home / "opsagent.db"), "report", "period", "--month", "2026-07", "--year", "2026"]
    result = CliRunner().invoke(cli, both)
    assert result.exit_code == 2 and "one of" in result.output


def test_archived_incidents_are_hidden_from_incident_list_by_default(home: Path) -> None:
    """Incident 1 was followed up, closed and archived (归档) at closure; the three others are resolved."""
    listed = json.loads(run(home, "incident", "list", "-s", "all", "-o", "json").output)
    assert sorted(r["id"] for r in listed) == [2, 3, 4]
    assert json.loads(run(home, "incident", "list", "-s", "closed", "-o", "json").output) == []
    with_archived = json.loads(run(home, "incident", "list", "--archived", "-o", "json").output)
    assert sorted(r["id"] for r in with_archived) == [1, 2, 3, 4]
    assert [r["archived_at"] is not None for r in with_archived if r["id"] == 1] == [True]
    every = json.loads(run(home, "incident", "list", "--all", "-o", "json").output)
    assert sorted(r["id"] for r in every) == [1, 2, 3, 4]
    assert json.loads(run(home, "incident", "list", "-o", "json").output) == []  # nothing active
