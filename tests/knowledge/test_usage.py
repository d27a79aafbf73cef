"""The knowledge report on real stores (SQLite and PostgreSQL): most-used articles and frequent problems that
no published article covers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from opsagent.cli import cli
from opsagent.knowledge import problems, repo, suggest, usage
from opsagent.knowledge.model import Meta, Translation
from opsagent.knowledge.problems import NewProblem
from opsagent.store import Store
from tests.knowledge.test_problems import _fire, _inventory

pytestmark = pytest.mark.peer


def _article(store: Store, title: str, status: str = "published", **links: list[str]) -> int:
    return repo.create(store, Meta(status=status, **links), [Translation(lang="zh", title=title)], "t")  # type: ignore[arg-type]


def test_most_used_articles_and_frequent_problems_without_one(kb_store: Store) -> None:
    _inventory(kb_store)
    ports = _article(kb_store, "端口抖动处理", alerts=["PortFlapping"])
    disks = _article(kb_store, "磁盘空间清理")
    _article(kb_store, "草稿", status="draft", alerts=["PgSlowQueries"])  # a draft covers nothing
    flapping = [_fire(kb_store, n, "PortFlapping", "sw-1") for n in range(3)]
    slow = [_fire(kb_store, n, "PgSlowQueries", "db-1") for n in range(3)]
    full = [_fire(kb_store, n, "DiskFull", "db-1") for n in range(4)]
    problems.create(kb_store, NewProblem(title="日志盘满", incidents=full, workaround=disks), "t")
    assert suggest.link(kb_store, ports, flapping[0], "bob") is True  # suggested on opening, then used
    repo.vote(kb_store, disks, True, "bob")
    repo.count_view(kb_store, disks)

    since = datetime.now(UTC) - timedelta(days=1)
    data = usage.report(kb_store, since)
    top = [(a["id"], a["used"], a["suggested"], a["helpful"], a["views"]) for a in data["articles"]]
    assert top == [(ports, 1, 3, 0, 0), (disks, 0, 0, 1, 1)]
    assert [(g["alertname"], g["incidents"]) for g in data["uncovered"]] == [("PgSlowQueries", slow)]

    out = CliRunner().invoke(cli, ["--store", kb_store.url, "kb", "report", "-o", "json"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert [g["incidents"] for g in json.loads(out.output)["uncovered"]] == [slow]
    table = CliRunner().invoke(cli, ["--store", kb_store.url, "kb", "report"], catch_exceptions=False).output
    assert "端口抖动处理" in table and "PgSlowQueries" in table
