"""The web console in a real browser (Playwright driving Debian's chromium, headless) against a real
``opsagent serve``: users made with the real CLI sign in through the login form, an engineer works an
incident through the queue and the ticket's forms, a requester is refused the engineer pages, a form
without its CSRF token is refused, hostile ticket text stays text, pages come in zh and en and carry a
strict Content-Security-Policy. Screenshots of the main pages go to the test's tmp dir."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent import Agent, start_agent, wait_until
from tests.e2e.console_kit import FAST_ARGON2, add_user, call_api, chromium, signed_in_pages, stop_checked
from tests.peers.ports import free_port

pytestmark = pytest.mark.peer

playwright_api = pytest.importorskip("playwright.sync_api", reason="the `test` extra installs playwright")

TOKEN = "console-e2e-s3cret"
USERS = {"lisi": ("engineer", "Ls-pass-0001", "en"), "wangwu": ("requester", "Ww-pass-0002", "zh")}
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
INVENTORY = """\
assets:
  - {name: core-sw1, kind: network, address: 10.0.0.1}
  - {name: erp-db, kind: database}
  - {name: dead-db, kind: database, address: 127.0.0.1, port: %d,
     collectors: [{name: postgres, interval: 5s, options: {connect_timeout: 2s}}]}
"""


# Module scope, not session: sync Playwright keeps an event loop running while it is open, and every
# later test of the run using asyncio.run (or pytest-asyncio) then failed.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:  # module scope: see console_kit.chromium
        yield launched


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    home = tmp_path_factory.mktemp("console")
    (home / "inventory.yaml").write_text(INVENTORY % free_port())  # nothing listens there: the asset is down
    (home / "desk.token").write_text(TOKEN)
    (home / "opsagent.yaml").write_text(
        f"seed_inventory: [inventory.yaml]\napi_tokens: {{desk: 'file:{home / 'desk.token'}'}}\n" + FAST_ARGON2
    )
    for name, (role, password, lang) in USERS.items():
        add_user(home, name, role, password, lang=lang, email=f"{name}@example.com")
    handle = start_agent(home)
    yield handle
    stop_checked(handle, TOKEN)


def api(agent: Agent, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return call_api(agent.port, TOKEN, method, path, body)


def open_ticket(agent: Agent, title: str, description: str = "", requester: dict[str, str] | None = None,
                **more: str) -> int:  # fmt: skip
    status, body = api(agent, "POST", "/api/v1/tickets", more | {
        "title": title, "channel": "phone", "category": "network", "assets": "core-sw1", "description": description,
        "requester": requester or {"name": "赵六", "phone": "13812345678", "email": "zhaoliu@example.com"},
    })  # fmt: skip
    assert status == 201, body
    return int(body["id"])


@pytest.fixture
def page_of(browser: Any, agent: Agent) -> Iterator[Any]:
    yield from signed_in_pages(browser, agent.url, USERS)


def test_an_engineer_acks_and_resolves_an_incident_through_the_forms(
    page_of: Any, agent: Agent, tmp_path: Path
) -> None:
    incident = open_ticket(
        agent, "核心交换机端口不通", "端口灯灭，用户 13812345678 来电", impact="high", urgency="high"
    )
    wait_until(lambda: api(agent, "GET", "/console?format=json")[1]["assets_down"], 60, "dead-db down", agent.log)
    page = page_of("lisi")
    page.screenshot(path=str(tmp_path / "overview-en.png"), full_page=True)
    assert page.locator("h1").first.inner_text().startswith("Overview")
    assert "dead-db" in page.inner_text("main")  # assets down: opsagent_up 0
    risk = page.locator("section:has(h2:text-is('SLA at risk'))")
    assert f"#{incident}" in risk.inner_text()  # a P1's response clock is due within the hour
    page.click("nav >> text=Queue")
    page.wait_for_url("**/console/queue")
    row = page.locator(f"a[href='/console/incidents/{incident}']").first
    assert row.is_visible()
    page.screenshot(path=str(tmp_path / "queue-en.png"), full_page=True)
    row.click()
    page.wait_for_url(f"**/console/incidents/{incident}")
    assert "13812345678" not in page.content() and "zhaoliu@example.com" not in page.content()
    assert "138****5678" in page.inner_text("dl")  # the requester's phone, masked by the desk's privacy helper
    page.click("button:text-is('Acknowledge')")
    page.wait_for_url(f"**/console/incidents/{incident}")
    assert page.locator(".meta .status").inner_text() == "acknowledged"
    page.fill("textarea[name=cause]", "光模块损坏")
    page.fill("textarea[name=resolution_steps]", "更换光模块")
    page.click("button:text-is('Resolve')")
    page.wait_for_url(f"**/console/incidents/{incident}")
    assert page.locator(".meta .status").inner_text() == "resolved"
    page.screenshot(path=str(tmp_path / "ticket-en.png"), full_page=True)
    _, found = api(agent, "GET", f"/api/v1/incidents/{incident}")
    assert found["status"] == "resolved" and found["cause"] == "光模块损坏"
    assert {e["kind"]: e["actor"] for e in found["events"]}["acknowledged"] == "lisi"  # the real identity
    with page.expect_download() as download:
        page.click("text=Repair report (PDF)")
    assert download.value.path().read_bytes().startswith(b"%PDF")


def test_bulk_ack_from_the_queue(page_of: Any, agent: Agent) -> None:
    ids = [open_ticket(agent, f"打印机故障 {n}") for n in range(2)]
    page = page_of("lisi")
    page.goto(f"{agent.url}/console/queue?status=open&q=打印机")
    for incident in ids:
        page.check(f"input[name=id][value='{incident}']")
    page.click("button:text-is('Acknowledge selected')")
    page.wait_for_url("**/console/queue**")
    for incident in ids:
        assert api(agent, "GET", f"/api/v1/incidents/{incident}")[1]["status"] == "acknowledged"


def test_hostile_ticket_text_is_rendered_as_text_under_a_strict_csp(page_of: Any, agent: Agent) -> None:
    incident = open_ticket(agent, HOSTILE, HOSTILE)
    page = page_of("lisi")
    response = page.goto(f"{agent.url}/console/incidents/{incident}")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "script-src" not in csp
    assert page.locator("h1").first.inner_text().startswith(f"#{incident} <script>")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script, main img").count() == 0
    page.goto(f"{agent.url}/console/queue?q=script")
    assert page.evaluate("window.__pwned") is None and page.locator("main script").count() == 0


def test_a_requester_sees_only_their_own_requests_and_no_engineer_page(page_of: Any, agent: Agent) -> None:
    others = open_ticket(agent, "请求者不可见")
    own = open_ticket(agent, "我的显示器不亮", requester={"name": "王五", "email": "WangWu@example.com"})
    page = page_of("wangwu", locale="zh-CN", home="/console/requests")  # a requester's home
    assert page.inner_text("h1").startswith("我的请求")
    assert "我的显示器不亮" in page.inner_text("main") and "请求者不可见" not in page.content()
    page.click(f"a[href='/console/requests/{own}'] >> nth=0")
    page.wait_for_url(f"**/console/requests/{own}")
    assert "问题受理" in page.inner_text(".timeline")
    for path in ("/console/queue", f"/console/incidents/{own}", f"/console/incidents/{others}",
                 f"/console/requests/{others}", f"/console/requests/{others}?format=json", "/console/assets",
                 "/console/assets/core-sw1", "/console/queue?format=json"):  # fmt: skip
        response = page.goto(agent.url + path)
        assert response.status == 403, path
        assert "请求者不可见" not in page.content() and "core-sw1" not in page.content(), path
    assert "无权访问" in page.inner_text("h1")
    page.goto(f"{agent.url}/console?format=json")  # the overview sends a requester to their own requests
    assert page.url == f"{agent.url}/console/requests"
    forged = page.request.post(f"{agent.url}/console/incidents/{own}/resolve", form={"csrf_token": "x"})
    assert forged.status == 403
    assert api(agent, "GET", f"/api/v1/incidents/{own}")[1]["status"] == "open"


def test_anonymous_callers_are_sent_to_login_and_back(page_of: Any, agent: Agent) -> None:
    page = page_of()
    page.goto(f"{agent.url}/console/queue?status=all")
    assert page.url.startswith(f"{agent.url}/console/login")
    page.fill("#username", "lisi")
    page.fill("#password", "wrong-password")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/login?failed=1**")
    assert "Wrong username or password." in page.inner_text("main")
    page.fill("#username", "lisi")
    page.fill("#password", USERS["lisi"][1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{agent.url}/console/queue?status=all")
    page.click("header button[type=submit]")  # sign out
    page.wait_for_url("**/console/login")
    page.goto(f"{agent.url}/console")
    assert page.url.startswith(f"{agent.url}/console/login")


def test_a_form_post_without_its_csrf_token_is_refused(page_of: Any, agent: Agent) -> None:
    incident = open_ticket(agent, "CSRF 测试")
    page = page_of("lisi")
    page.goto(f"{agent.url}/console/incidents/{incident}")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.value = 'forged')")
    response_status = []
    page.on("response", lambda r: response_status.append(r.status) if r.request.method == "POST" else None)
    page.click("button:text-is('Acknowledge')")
    page.wait_for_load_state()
    assert 403 in response_status
    assert api(agent, "GET", f"/api/v1/incidents/{incident}")[1]["status"] == "open"
    forged = page.request.post(f"{agent.url}/console/incidents/{incident}/ack", form={"x": "1"})
    assert forged.status == 403
    assert api(agent, "GET", f"/api/v1/incidents/{incident}")[1]["status"] == "open"


def test_pages_in_chinese_and_english_with_times_in_the_users_zone(page_of: Any, agent: Agent, tmp_path: Path) -> None:
    incident = open_ticket(agent, "中文页面")
    page = page_of("lisi")
    page.goto(f"{agent.url}/console/queue?lang=zh")
    assert page.inner_text("h1").startswith("工单队列")
    assert "UTC+08:00" in page.inner_text("footer")  # lisi's zone is Asia/Shanghai
    page.screenshot(path=str(tmp_path / "queue-zh.png"), full_page=True)
    page.goto(f"{agent.url}/console/incidents/{incident}")  # the choice is remembered
    assert "时间线" in page.content() and "确认" in page.inner_text(".actions")
    page.screenshot(path=str(tmp_path / "ticket-zh.png"), full_page=True)
    page.goto(f"{agent.url}/console/assets/core-sw1")
    assert "10.0.0.1" in page.content()
    page.screenshot(path=str(tmp_path / "asset-zh.png"), full_page=True)
    page.goto(f"{agent.url}/console/assets?lang=en")
    assert page.inner_text("h1").startswith("Inventory")
    phone = page_of("lisi")
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{agent.url}/console/queue")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone.screenshot(path=str(tmp_path / "queue-phone.png"), full_page=True)
    status, body = api(agent, "GET", "/console/queue?format=json")
    assert status == 200 and any(r["id"] == incident for r in body["incidents"])


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """An agent whose reads need a sign-in too (``web.read_auth``)."""
    home = tmp_path_factory.mktemp("console-locked")
    (home / "opsagent.yaml").write_text("web: {read_auth: true}\n")
    handle = start_agent(home)
    yield handle
    handle.stop()
    assert "Traceback" not in handle.log.read_text(errors="replace")


def plain_get(agent: Agent, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=60)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_under_read_auth_the_login_page_and_its_stylesheet_stay_open(locked: Agent) -> None:
    status, headers, _ = plain_get(locked, "/console/queue?status=all")
    assert status == 303 and headers["location"].startswith("/console/login?next=/console/queue")
    status, headers, body = plain_get(locked, "/console/login")
    assert status == 200 and b'name="password"' in body
    assert "default-src 'none'" in headers["content-security-policy"]
    status, headers, _ = plain_get(locked, "/console/static/console.css")
    assert status == 200 and headers["content-type"].startswith("text/css")
    assert plain_get(locked, "/console/static/../words.py")[0] in (403, 404)
    assert plain_get(locked, "/console/static/%2e%2e/words.py")[0] in (403, 404)
    assert plain_get(locked, "/api/v1/incidents")[0] == 401  # the JSON API still answers 401
