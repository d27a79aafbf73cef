"""Pure logic of the web console: every word a template shows has its Chinese, the queue's filters are
bounded and escaped, the browser's language is read, a site's template overrides the shipped one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opsagent.web import queries
from opsagent.web.context import _accept_language
from opsagent.web.render import PACKAGE_TEMPLATES, environment
from opsagent.web.words import ZH, translator

LITERAL = re.compile(r"""\bt\(\s*["']([^"']+)["']\s*\)""")


def test_every_word_of_every_template_has_its_chinese() -> None:
    found = {word for path in PACKAGE_TEMPLATES.glob("*.html") for word in LITERAL.findall(path.read_text())}
    assert len(found) > 40
    missing = sorted(w for w in found if w not in ZH)
    assert not missing, missing
    assert translator("zh")("Queue") == "工单队列" and translator("en")("Queue") == "Queue"


def test_queue_filter_keeps_known_statuses_and_bounds_text() -> None:
    f = queries.QueueFilter.of({"status": "bogus", "q": "x" * 1000, "priority": " P1 "})
    assert f.status == "active" and len(f.q) == 255 and f.priority == "P1"
    assert queries.QueueFilter.of({"status": "resolved"}).status == "resolved"
    assert queries._like("50%_a\\b") == "%50\\%\\_a\\\\b%"


def test_accept_language() -> None:
    assert _accept_language("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert _accept_language("en-GB,en;q=0.9") == "en"
    assert _accept_language("fr-FR, de") is None


def test_clocks_near_breach() -> None:
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    clocks = {
        "response": {"state": "running", "due": (at + timedelta(minutes=20)).isoformat(), "breached": False},
        "resolution": {"state": "running", "due": (at + timedelta(hours=5)).isoformat(), "breached": False},
        "assessment": {"state": "stopped", "due": (at - timedelta(hours=1)).isoformat(), "breached": True},
        "onsite": {"state": "running", "due": (at - timedelta(minutes=1)).isoformat(), "breached": True},
    }
    risky = {r["clock"]: r["breached"] for r in queries._risky(clocks, at)}
    assert risky == {"response": False, "onsite": True}


def test_a_site_template_overrides_the_shipped_one_and_output_is_escaped(tmp_path: Path) -> None:
    site = tmp_path / "content" / "web" / "templates"
    site.mkdir(parents=True)
    (site / "missing.html").write_text("site: {{ value }}")
    env = environment([tmp_path / "other", tmp_path / "content"])
    assert env.get_template("missing.html").render(value="<b>") == "site: &lt;b&gt;"
    assert "{% extends" in Path(env.get_template("queue.html").filename or "").read_text()  # the shipped one
