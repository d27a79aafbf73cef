"""Accessibility and phone use of the web console, in a real browser (Playwright driving Debian's chromium)
against a real ``opsagent serve``: axe-core (vendored, pinned: tests/e2e/vendor/axe-core) finds no serious
or critical violation on the main pages — login, overview, queue, ticket, inventory, asset, a requester's
requests and request — in Chinese and in English; on a phone's viewport (390×844) the queue, ticket and
overview pages do not scroll sideways. Screenshots of every page checked go to a directory the test
prints (``CONSOLE_SCREENSHOTS`` to choose it)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent import serving, wait_until
from tests.e2e.console_kit import FAST_ARGON2, add_user, call_api, chromium

pytestmark = pytest.mark.peer

playwright_api = pytest.importorskip("playwright.sync_api", reason="the `test` extra installs playwright")

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # axe-core 4.14.1
TOKEN = "console-a11y-s3cret"
USERS = {"lisi": ("engineer", "Ls-pass-0001"), "wangwu": ("requester", "Ww-pass-0002")}
INVENTORY = """\
assets:
  - {name: core-sw1, kind: network, address: 10.0.0.1, groups: [core], tags: {site: 北京机房}}
  - name: localhost
    kind: host
    address: 127.0.0.1
    collectors: [{name: local, interval: 5s}]
"""
PHONE = {"width": 390, "height": 844}


@dataclass
class Console:
    url: str
    incident: int  # a desk ticket of wangwu's, with a timeline
    screenshots: Path


def _api(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return call_api(port, TOKEN, method, path, body)


def _add_users(home: Path) -> None:
    for name, (role, password) in USERS.items():
        add_user(home, name, role, password, email=f"{name}@example.com")


def _ticket(port: int) -> int:
    status, body = _api(port, "POST", "/api/v1/tickets", {
        "title": "财务室打印机无法打印", "channel": "phone", "category": "hardware", "assets": "core-sw1",
        "description": "用户来电：打印机卡纸后无法打印", "impact": "high", "urgency": "high",
        "requester": {"name": "王五", "phone": "13812345678", "email": "wangwu@example.com"},
    })  # fmt: skip
    assert status == 201, body
    incident = int(body["id"])
    assert _api(port, "POST", f"/api/v1/incidents/{incident}/ack", {"message": "已联系用户"})[0] == 200
    return incident


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    home = tmp_path_factory.mktemp("console-a11y")
    (home / "inventory.yaml").write_text(INVENTORY)
    (home / "desk.token").write_text(TOKEN)
    (home / "opsagent.yaml").write_text(
        f"seed_inventory: [inventory.yaml]\napi_tokens: {{desk: 'file:{home / 'desk.token'}'}}\n" + FAST_ARGON2
    )
    _add_users(home)
    chosen = os.environ.get("CONSOLE_SCREENSHOTS")
    shots = Path(chosen) if chosen else tmp_path_factory.mktemp("console-screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with serving(home) as (_proc, port, log):
        incident = _ticket(port)
        facts = lambda: _api(port, "GET", "/api/v1/assets/localhost")[1].get("facts")  # noqa: E731
        wait_until(facts, 60, "facts of localhost", log)
        yield Console(f"http://127.0.0.1:{port}", incident, shots)
    assert "Traceback" not in log.read_text(errors="replace")


# Module scope, not session: a session-scoped sync Playwright breaks later asyncio tests of the run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:  # module scope: see console_kit.chromium
        yield launched


@pytest.fixture(scope="module")
def axe_source() -> str:
    data = AXE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == AXE_SHA256, "tests/e2e/vendor/axe-core/axe.min.js is not the pinned one"
    return data.decode()


def signed_in(browser: Any, console: Console, user: str | None, lang: str, viewport: dict[str, int]) -> Any:
    context = browser.new_context(locale="zh-CN" if lang == "zh" else "en-US", viewport=viewport)
    page = context.new_page()
    page.goto(f"{console.url}/console/login?lang={lang}")
    if user is not None:
        page.fill("#username", user)
        page.fill("#password", USERS[user][1])
        page.click("main button[type=submit]")
        page.wait_for_url("**/console**")
        assert "/login" not in page.url
    return page


def violations(page: Any, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's rules (WCAG 2.x A/AA and best practices) on the page as shown: every violation."""
    # The page's CSP (default-src 'none') refuses an injected <script> (add_script_tag): evaluate the
    # library through the DevTools protocol instead, which leaves the page's policy in force.
    page.evaluate(axe_source)
    found: list[dict[str, Any]] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")["violations"]
    return found


def serious(found: list[dict[str, Any]]) -> list[str]:
    """The serious and critical ones, a line each: rule, impact, where."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {', '.join(str(n['target']) for n in v['nodes'][:5])}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def pages(console: Console) -> dict[str, tuple[str | None, str]]:
    """name → (who signs in, path)."""
    return {
        "login": (None, "/console/login"),
        "overview": ("lisi", "/console"),
        "queue": ("lisi", "/console/queue?status=all"),
        "ticket": ("lisi", f"/console/incidents/{console.incident}"),
        "inventory": ("lisi", "/console/assets"),
        "asset": ("lisi", "/console/assets/localhost"),
        "requests": ("wangwu", "/console/requests"),
        "request": ("wangwu", f"/console/requests/{console.incident}"),
    }


def test_csp_refuses_an_injected_script_so_axe_is_evaluated(browser: Any, console: Console, axe_source: str) -> None:
    page = signed_in(browser, console, None, "en", {"width": 1280, "height": 800})
    try:
        with pytest.raises(playwright_api.Error):
            page.add_script_tag(content="window.__injected = 1")
        assert page.evaluate("typeof window.__injected") == "undefined"
        assert serious(violations(page, axe_source)) == []  # and the evaluated axe runs under the policy
    finally:
        page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_main_pages_have_no_serious_accessibility_violations(
    browser: Any, console: Console, axe_source: str, lang: str, capsys: pytest.CaptureFixture[str]
) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    sessions: dict[str | None, Any] = {}
    try:
        for name, (user, path) in pages(console).items():
            if user not in sessions:
                sessions[user] = signed_in(browser, console, user, lang, {"width": 1280, "height": 800})
            page = sessions[user]
            response = page.goto(console.url + path)
            assert response.status == 200, (name, response.status)
            page.screenshot(path=str(console.screenshots / f"{name}-{lang}.png"), full_page=True)
            found[name] = violations(page, axe_source)
    finally:
        for page in sessions.values():
            page.context.close()
    report = console.screenshots / f"axe-{lang}.json"  # every finding, minor ones too
    report.write_text(json.dumps(found, ensure_ascii=False, indent=1))
    with capsys.disabled():
        print(f"\nconsole screenshots and axe report ({lang}): {console.screenshots}")
    assert {k: serious(v) for k, v in found.items() if serious(v)} == {}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_on_a_phone_the_pages_do_not_scroll_sideways(browser: Any, console: Console, lang: str) -> None:
    page = signed_in(browser, console, "lisi", lang, PHONE)
    wide: dict[str, int] = {}
    try:
        for name in ("overview", "queue", "ticket", "inventory", "asset"):
            page.goto(console.url + pages(console)[name][1])
            page.screenshot(path=str(console.screenshots / f"{name}-{lang}-phone.png"), full_page=True)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                wide[name] = width
        assert wide == {}, f"wider than the phone's {PHONE['width']} px: {wide}"
        page.goto(console.url + pages(console)["queue"][1])  # the first rows are reachable without scrolling
        assert page.locator(f"a[href='/console/incidents/{console.incident}']").first.is_visible()
        title = page.locator("table.queue tbody tr td:nth-child(3)").first.bounding_box()
        assert title["width"] >= 120  # a title is read in lines, not a character a line
    finally:
        page.context.close()


def test_pages_reload_themselves_only_when_the_user_asks(browser: Any, console: Console) -> None:
    page = signed_in(browser, console, "lisi", "en", {"width": 1280, "height": 800})
    refresh = "meta[http-equiv=refresh]"
    try:
        page.goto(f"{console.url}/console/queue?status=all&q=打印机")
        assert page.locator(refresh).count() == 0  # axe's meta-refresh (WCAG 2.2.1): not by default
        page.click("text=Refresh every minute")
        assert page.locator(refresh).get_attribute("content") == "60"
        assert "status=all" in page.url and "打印机" in page.input_value("input[name=q]")  # the filters stay
        page.goto(f"{console.url}/console/incidents/{console.incident}")  # remembered (a cookie) on every page
        assert page.locator(refresh).count() == 1
        page.click("text=Stop refreshing")
        assert page.locator(refresh).count() == 0
        page.goto(f"{console.url}/console")
        assert page.locator(refresh).count() == 0
    finally:
        page.context.close()
