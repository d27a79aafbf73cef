"""``GET /api/v1/assets`` of a real ``opsagent serve`` pages the inventory by name: a bounded page, a
``Link: rel="next"`` header to the next one, every asset exactly once when the links are followed."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from tests.e2e.agent import Agent, opsagent, start_agent

pytestmark = pytest.mark.peer

NAMES = sorted([*(f"web-{i:02d}" for i in range(1, 12)), "db-01", "zz-core"])
LISTED = sorted([*NAMES, "localhost"])  # and the machine itself, which a new store is seeded with


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    home = tmp_path_factory.mktemp("assets-api")
    lines = [f'  - {{name: "{n}", address: 10.9.0.{i}, kind: host}}' for i, n in enumerate(NAMES, 1)]
    (home / "inv.yaml").write_text("assets:\n" + "\n".join(lines) + "\n", encoding="utf-8")
    opsagent("inventory", "import", str(home / "inv.yaml"), home=home, check=True)
    handle = start_agent(home)
    yield handle
    handle.stop()


def _get(agent: Agent, path: str) -> tuple[int, str | None, object]:
    try:
        with urllib.request.urlopen(agent.url + path, timeout=10) as resp:
            return resp.status, resp.headers.get("Link"), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None, json.loads(exc.read())


def test_following_the_next_links_lists_every_asset_once(agent: Agent) -> None:
    pages: list[list[str]] = []
    path: str | None = "/api/v1/assets?limit=5"
    while path is not None:
        status, link, body = _get(agent, path)
        assert status == 200 and isinstance(body, list)
        pages.append([a["name"] for a in body])
        found = re.fullmatch(r'<([^>]+)>; rel="next"', link) if link else None
        path = found.group(1) if found else None
    assert [len(p) for p in pages] == [5, 5, 4] and [n for p in pages for n in p] == LISTED


def test_the_default_page_and_bad_limits(agent: Agent) -> None:
    status, link, body = _get(agent, "/api/v1/assets")  # all of a small inventory: one page, no link
    assert status == 200 and link is None and [a["name"] for a in body] == LISTED  # type: ignore[union-attr]
    assert _get(agent, "/api/v1/assets?limit=99999")[1] is None  # capped at 5000, still one page here
    assert _get(agent, "/api/v1/assets?limit=lots")[:1] == (400,)
    status, link, body = _get(agent, "/api/v1/assets?limit=1&q=10.9.0.1")  # by address: 10.9.0.1, .10–.13
    assert status == 200 and link is not None and "q=10.9.0.1" in link and len(body) == 1  # type: ignore[arg-type]
    status, _, body = _get(agent, "/api/v1/assets?" + urllib.parse.urlencode({"after": "web-10"}))
    assert [a["name"] for a in body] == ["web-11", "zz-core"]  # type: ignore[union-attr]
