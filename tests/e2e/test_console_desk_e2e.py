"""The service desk in the web console, in a real browser (Playwright driving Debian's chromium, headless)
against a real ``opsagent serve``: an agent logs a phone call through the new-ticket form (requester
lookup as you type with the vendored htmx, and with the lookup button without script), works the ticket's
service actions and starts the emergency runbook its alert links; a requester submits, follows, replies
to, confirms and rates a request in the portal; another requester's ticket, forged form fields and
CSRF-less writes are refused; hostile text stays text; pages in zh and en. Screenshots go to tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.agent import Agent, start_agent, wait_until
from tests.e2e.console_kit import FAST_ARGON2, add_user, call_api, chromium, signed_in_pages, stop_checked

pytestmark = pytest.mark.peer

playwright_api = pytest.importorskip("playwright.sync_api", reason="the `test` extra installs playwright")

TOKEN = "console-desk-e2e-s3cret"
USERS = {
    "lisi": ("engineer", "Ls-pass-0001", "en", "lisi@example.com"),
    "chenqi": ("engineer", "Cq-pass-0003", "zh", "chenqi@example.com"),
    "zhaoliu": ("requester", "Zl-pass-0004", "en", "zhaoliu@example.com"),
    "wangwu": ("requester", "Ww-pass-0002", "zh", "wangwu@example.com"),
}
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
INVENTORY = """\
assets:
  - {name: core-sw1, kind: network, address: 10.0.0.1}
  - {name: app1, kind: host, address: 127.0.0.1, vars: {ansible_connection: local}}
"""
RUNBOOK = """\
name: restart-app
kind: emergency
description: restart the application
targets: app1
steps:
  - name: restart
    ssh: "echo restarted {{ asset.name }}"
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:  # module scope: see console_kit.chromium
        yield launched


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    home = tmp_path_factory.mktemp("console-desk")
    content = home / "content"
    (content / "runbooks" / "emergency").mkdir(parents=True)
    (content / "runbooks" / "emergency" / "restart-app.yaml").write_text(RUNBOOK)
    (home / "inventory.yaml").write_text(INVENTORY)
    (home / "desk.token").write_text(TOKEN)
    (home / "opsagent.yaml").write_text(
        f"seed_inventory: [inventory.yaml]\ncontent_roots: ['{content}']\n"
        f"api_tokens: {{desk: 'file:{home / 'desk.token'}'}}\n" + FAST_ARGON2
    )
    for name, (role, password, lang, email) in USERS.items():
        add_user(home, name, role, password, lang=lang, email=email, display=name.title())
    handle = start_agent(home)
    yield handle
    stop_checked(handle, TOKEN)


def api(agent: Agent, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return call_api(agent.port, TOKEN, method, path, body)


def api_ticket(agent: Agent, title: str, requester: dict[str, str], **more: Any) -> int:
    status, body = api(agent, "POST", "/api/v1/tickets", more | {
        "title": title, "channel": "phone", "category": "network", "requester": requester})  # fmt: skip
    assert status == 201, body
    return int(body["id"])


def incident(agent: Agent, incident_id: int) -> dict[str, Any]:
    status, body = api(agent, "GET", f"/api/v1/incidents/{incident_id}")
    assert status == 200, body
    return dict(body)


@pytest.fixture
def page_of(browser: Any, agent: Agent) -> Iterator[Any]:
    yield from signed_in_pages(browser, agent.url, USERS, height=900)


def _csrf(page: Any) -> str:
    return str(page.locator("input[name=csrf_token]").first.get_attribute("value"))


def test_an_agent_logs_a_phone_call_with_the_lookup_as_you_type(page_of: Any, agent: Agent, tmp_path: Path) -> None:
    known = api_ticket(agent, "earlier call", {"name": "赵六", "phone": "13812345678", "email": "zhaoliu@example.com",
                                               "department": "财务部"})  # fmt: skip
    requester_id = incident(agent, known)["ticket"]["requester"]["id"]
    page = page_of("lisi")
    complaints: list[str] = []  # the browser's console: a CSP violation (inline script or style) shows here
    page.on("console", lambda m: complaints.append(m.text) if m.type in ("error", "warning") else None)
    page.click("nav >> text=New ticket")
    page.wait_for_url("**/console/tickets/new")
    policy = page.request.get(f"{agent.url}/console/tickets/new").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy and "default-src 'none'" in policy
    page.fill("#requester_q", "财务")  # the department, typed: htmx asks for the matches
    match = page.locator(f"input[name=requester_id][value='{requester_id}']")
    match.wait_for(timeout=30_000)
    assert "138****5678" in page.inner_text("#requester-matches")  # contact details masked
    assert "13812345678" not in page.content()
    match.check()
    assert not [c for c in complaints if "Content Security Policy" in c or "Refused" in c], complaints
    page.fill("#title", "VPN 连不上")
    page.select_option("#channel", "phone")
    page.select_option("#category", "network/vpn")
    page.select_option("#impact", "high")
    page.select_option("#urgency", "high")
    page.fill("#assets", "core-sw1")
    page.fill("#symptom", "客户端提示认证失败")
    page.fill("#request", "今天下午前恢复")
    page.fill("#promises", "一小时内回电")
    page.screenshot(path=str(tmp_path / "new-ticket-en.png"), full_page=True)
    page.click("button:text-is('Open the ticket')")
    page.wait_for_url("**/console/incidents/*")
    new_id = int(page.url.rsplit("/", 1)[1])
    found = incident(agent, new_id)
    assert found["source"] == "phone" and found["priority"] == "P1" and found["asset"] == "core-sw1"
    assert found["ticket"]["requester"]["id"] == requester_id and found["ticket"]["subcategory"] == "vpn"
    assert found["ticket"]["promises"] == "一小时内回电" and found["events"][0]["actor"] == "lisi"
    assert found["clocks"]["response"]["state"] == "running"
    assert "赵六" in page.inner_text("dl") and "SLA clocks" in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "ticket-desk-en.png"), full_page=True)
    page.goto(f"{agent.url}/console/queue?source=phone&q=VPN")
    row = page.locator("tr", has=page.locator(f"a[href='/console/incidents/{new_id}']"))
    text = row.inner_text()
    assert "phone" in text and "P1" in text and "赵六" in text and "response" in text  # channel, requester, SLA
    page.screenshot(path=str(tmp_path / "queue-desk-en.png"), full_page=True)


def test_without_script_the_lookup_button_finds_and_errors_keep_the_input(page_of: Any, agent: Agent) -> None:
    page = page_of("lisi", script=False)
    page.goto(f"{agent.url}/console/tickets/new")
    page.fill("#symptom", "打印机卡纸")
    page.fill("#requester_q", "nobody-like-this")
    page.click("button:text-is('Look up')")
    assert "No requester matches" in page.inner_text("#requester-matches")
    assert page.input_value("#symptom") == "打印机卡纸"  # kept
    response_status: list[int] = []
    page.on("response", lambda r: response_status.append(r.status) if r.request.method == "POST" else None)
    page.click("button:text-is('Open the ticket')")  # no title, no category, no requester
    assert 400 in response_status
    for field in ("title", "category", "requester"):
        assert page.locator(f"#{field}-error").is_visible(), field
    assert page.input_value("#symptom") == "打印机卡纸"
    page.click("summary")
    page.fill("#req_name", "孙八")
    page.fill("#req_phone", "13900001111")
    page.fill("#req_email", "not-an-email")
    page.fill("#title", "打印机卡纸")
    page.select_option("#category", "hardware/printer")
    page.fill("#assets", "no-such-asset")
    page.click("button:text-is('Open the ticket')")
    assert page.locator("#assets-error").is_visible() or page.locator("#req_email-error").is_visible()
    page.fill("#req_email", "sunba@example.com")
    page.fill("#assets", "")
    page.click("button:text-is('Open the ticket')")
    page.wait_for_url("**/console/incidents/*")
    found = incident(agent, int(page.url.rsplit("/", 1)[1]))
    assert found["ticket"]["requester_id"] and found["ticket"]["channel"] == "phone"
    page.goto(f"{agent.url}/console/tickets/new")
    page.fill("#requester_q", "孙八")
    page.click("button:text-is('Look up')")
    assert "孙八" in page.inner_text("#requester-matches") and "139****1111" in page.inner_text("#requester-matches")


def test_the_ticket_pages_service_actions_and_linked_runbook(page_of: Any, agent: Agent, tmp_path: Path) -> None:
    alert = {"status": "firing", "labels": {"alertname": "AppDown", "asset": "app1", "severity": "critical"},
             "annotations": {"summary": "app down", "opsagent_runbook": "emergency/restart-app"}}  # fmt: skip
    status, opened = api(agent, "POST", "/api/v1/alertmanager", {"version": "4", "status": "firing", "alerts": [alert]})
    assert status == 200 and opened["opened"], opened
    alert_id = opened["opened"][0]
    page = page_of("lisi")
    page.goto(f"{agent.url}/console/incidents/{alert_id}")
    section = page.locator("#runbooks")
    assert "restart-app" in section.inner_text()
    page.click("#runbooks button:text-is('Run on app1')")
    page.wait_for_url("**/console/runbooks/runs/*")
    run_id = int(page.url.rsplit("/", 1)[1])
    run = wait_until(lambda: (lambda r: r if r[1]["status"] != "running" else None)(
        api(agent, "GET", f"/api/v1/runbooks/runs/{run_id}")), 60, "the run", agent.log)[1]  # fmt: skip
    assert run["actor"] == "lisi" and run["incident_id"] == alert_id and run["status"] == "succeeded"
    page.goto(f"{agent.url}/console/incidents/{alert_id}")
    assert page.locator(f"#runbooks a[href='/console/runbooks/runs/{run_id}']").count() == 1
    # a rule that wants a person to approve the run: the run started from the ticket waits, and says so there
    alert["labels"] |= {"alertname": "AppDown2"}
    alert["annotations"] |= {"opsagent_runbook_approval": "required"}
    status, opened = api(agent, "POST", "/api/v1/alertmanager", {"version": "4", "status": "firing", "alerts": [alert]})
    guarded = opened["opened"][0]
    page.goto(f"{agent.url}/console/incidents/{guarded}")
    page.click("#runbooks button:text-is('Run on app1')")
    page.wait_for_url("**/console/runbooks/runs/*")
    waiting = int(page.url.rsplit("/", 1)[1])
    approval = wait_until(lambda: [a for a in api(agent, "GET", "/api/v1/runbooks/approvals")[1]
                                   if a["run_id"] == waiting], 60, "the approval", agent.log)[0]  # fmt: skip
    page.goto(f"{agent.url}/console/incidents/{guarded}")
    assert f"waits for approval #{approval['id']}" in page.inner_text(".timeline")
    assert api(agent, "POST", f"/api/v1/runbooks/approvals/{approval['id']}", {"approve": True})[0] == 200
    wait_until(lambda: api(agent, "GET", f"/api/v1/runbooks/runs/{waiting}")[1]["status"] == "succeeded", 60,
               "the approved run", agent.log)  # fmt: skip

    ticket = api_ticket(agent, "工作站无法开机", {"name": "周九", "email": "zhoujiu@example.com"})
    page.goto(f"{agent.url}/console/incidents/{ticket}")
    page.click("button:text-is('Wait on the requester')")
    page.wait_for_url(f"**/console/incidents/{ticket}")
    assert "paused" in page.inner_text("#service")
    page.click("button:text-is('Resume')")
    page.wait_for_url(f"**/console/incidents/{ticket}")
    page.select_option("#service select[name=impact]", "high")
    page.select_option("#service select[name=urgency]", "high")
    page.click("button:text-is('Classify')")
    page.wait_for_url(f"**/console/incidents/{ticket}")
    assert incident(agent, ticket)["priority"] == "P1"
    page.fill("textarea[name=cause]", "电源损坏")
    page.click("button:text-is('Resolve')")
    page.wait_for_url(f"**/console/incidents/{ticket}")
    page.fill("input[name=signed_by]", "周九")
    page.click("button:text-is('Record sign-off')")
    page.wait_for_url(f"**/console/incidents/{ticket}")
    assert "周九" in page.inner_text("#service")
    page.click("#service button:text-is('Close')")
    page.wait_for_url(f"**/console/incidents/{ticket}")
    found = incident(agent, ticket)
    kinds = [(e["kind"], e["actor"]) for e in found["events"]]
    for kind in ("pending", "resumed", "updated", "resolved", "signed_off", "closed"):
        assert (kind, "lisi") in kinds, kind
    assert found["status"] == "closed" and found["service"]["signed_off_by"] == "周九"
    page.screenshot(path=str(tmp_path / "ticket-actions-en.png"), full_page=True)
    with page.expect_download() as download:
        page.click("text=Repair report (PDF)")
    assert download.value.path().read_bytes().startswith(b"%PDF")


def test_a_requester_submits_follows_replies_confirms_and_rates_in_the_portal(
    page_of: Any, agent: Agent, tmp_path: Path
) -> None:
    page = page_of("zhaoliu", home="/console/requests")
    page.click("text=New request")
    page.wait_for_url("**/console/requests/new")
    page.fill("#title", "Email does not sync")
    page.select_option("#category", "software/office")
    page.fill("#description", "Outlook shows 'disconnected' since 9:00")
    page.screenshot(path=str(tmp_path / "portal-new-en.png"), full_page=True)
    page.click("button:text-is('Send the request')")
    page.wait_for_url("**/console/requests/*")
    own = int(page.url.rsplit("/", 1)[1])
    found = incident(agent, own)
    assert found["source"] == "portal" and found["ticket"]["channel"] == "portal"
    assert found["events"][0]["actor"] == "zhaoliu" and found["ticket"]["requester"]["email"] == "z***@example.com"
    # the engineer asks a question (waits on the requester) and writes an internal note
    assert api(agent, "POST", f"/api/v1/incidents/{own}/pending", {"message": "internal: ask about VPN"})[0] == 200
    page.reload()
    assert "internal" not in page.content()
    page.fill("textarea[name=message]", "I am not on VPN")
    page.click("button:text-is('Send the reply')")
    page.wait_for_url(f"**/console/requests/{own}")
    assert "I am not on VPN" in page.inner_text(".timeline")
    kinds = [e["kind"] for e in incident(agent, own)["events"]]
    assert kinds[-2:] == ["note", "resumed"]  # the reply resumed the waiting ticket
    assert api(agent, "POST", f"/api/v1/incidents/{own}/resolve", {"cause": "profile", "message": "x"})[0] == 200
    page.reload()
    page.check("input[name=satisfaction][value='4']")
    page.fill("#confirm textarea[name=message]", "quick, thanks")
    page.screenshot(path=str(tmp_path / "portal-confirm-en.png"), full_page=True)
    page.click("button:text-is('Yes, it is fixed')")
    page.wait_for_url(f"**/console/requests/{own}")
    found = incident(agent, own)
    assert found["status"] == "closed" and found["service"]["satisfaction"] == 4
    assert found["service"]["feedback"] == "quick, thanks" and found["service"]["followed_up_by"] == "zhaoliu"
    assert "4/5" in page.inner_text("main")
    engineer = page_of("lisi")
    engineer.goto(f"{agent.url}/console/incidents/{own}")
    assert "4/5" in engineer.inner_text("#service") and "quick, thanks" in engineer.inner_text("#service")
    # a second request: resolved, but not fixed → reopened
    second = api_ticket(agent, "Printer offline", {"email": "zhaoliu@example.com"})
    api(agent, "POST", f"/api/v1/incidents/{second}/resolve", {"message": "restarted"})
    page.goto(f"{agent.url}/console/requests/{second}")
    page.fill("#confirm form[action$='/reopen'] textarea", "still offline")
    page.click("button:text-is('No, it is not fixed')")
    page.wait_for_url(f"**/console/requests/{second}")
    found = incident(agent, second)
    assert found["status"] == "open" and found["events"][-1]["kind"] == "reopened"
    assert found["events"][-1]["actor"] == "zhaoliu"


def test_a_requester_is_refused_others_tickets_forged_fields_and_desk_pages(page_of: Any, agent: Agent) -> None:
    theirs = api_ticket(agent, "赵六的请求", {"email": "zhaoliu@example.com"})
    api(agent, "POST", f"/api/v1/incidents/{theirs}/resolve", {"message": "done"})
    page = page_of("wangwu", locale="zh-CN", home="/console/requests")
    page.goto(f"{agent.url}/console/requests/new")
    token = _csrf(page)
    for target in (theirs, 999999):  # another's ticket and none at all: refused alike
        for action, form in (("reply", {"message": "hi"}), ("confirm", {"satisfaction": "1"}), ("reopen", {})):
            response = page.request.post(f"{agent.url}/console/requests/{target}/{action}",
                                         form={"csrf_token": token} | form)  # fmt: skip
            assert response.status == 403, (target, action)
        assert page.goto(f"{agent.url}/console/requests/{target}").status == 403
    found = incident(agent, theirs)
    assert found["status"] == "resolved" and not found["service"].get("satisfaction")
    for forged in ({"team": "vip"}, {"channel": "phone"}, {"req_email": "zhaoliu@example.com"}, {"requester_id": "1"}):
        form = {"csrf_token": token, "title": "伪造的请求", "category": "other"} | forged
        assert page.request.post(f"{agent.url}/console/requests/new", form=form).status == 403, forged
    queue = api(agent, "GET", "/console/queue?format=json&status=all&q=" + quote("伪造的请求"))[1]
    assert queue["incidents"] == []  # nothing was opened
    for path in ("/console/tickets/new", "/console/requesters/lookup?requester_q=赵六"):
        response = page.goto(agent.url + path)
        assert response.status == 403 and "赵六" not in page.content(), path
    response = page.request.post(f"{agent.url}/console/tickets/new", form={"csrf_token": token, "title": "x"})
    assert response.status == 403
    response = page.request.post(f"{agent.url}/console/incidents/{theirs}/close", form={"csrf_token": token})
    assert response.status == 403 and incident(agent, theirs)["status"] == "resolved"


def test_csrf_less_writes_are_refused(page_of: Any, agent: Agent) -> None:
    ticket = api_ticket(agent, "CSRF 测试", {"email": "zhaoliu@example.com"})
    engineer = page_of("lisi")
    for path, form in (("/console/tickets/new", {"title": "x", "category": "other", "req_name": "x"}),
                       (f"/console/incidents/{ticket}/pending", {}),
                       (f"/console/incidents/{ticket}/close", {}),
                       (f"/console/incidents/{ticket}/runbooks/restart-app/run", {})):  # fmt: skip
        assert engineer.request.post(agent.url + path, form=form).status == 403, path
        assert engineer.request.post(agent.url + path, form=form | {"csrf_token": "forged"}).status == 403, path
    requester = page_of("zhaoliu", home="/console/requests")
    for path, form in (("/console/requests/new", {"title": "x", "category": "other"}),
                       (f"/console/requests/{ticket}/reply", {"message": "x"})):  # fmt: skip
        assert requester.request.post(agent.url + path, form=form).status == 403, path
    found = incident(agent, ticket)
    assert found["status"] == "open" and [e["kind"] for e in found["events"]] == ["opened"]


def test_hostile_text_is_escaped_in_the_desk_pages(page_of: Any, agent: Agent) -> None:
    page = page_of("lisi")
    page.goto(f"{agent.url}/console/tickets/new")
    page.click("summary")
    page.fill("#req_name", HOSTILE[:200])
    page.fill("#req_email", "hostile@example.com")
    page.fill("#title", HOSTILE)
    page.select_option("#category", "other")
    page.fill("#symptom", HOSTILE)
    page.click("button:text-is('Open the ticket')")
    page.wait_for_url("**/console/incidents/*")
    assert page.evaluate("window.__pwned") is None and page.locator("main script, main img").count() == 0
    page.goto(f"{agent.url}/console/tickets/new")
    page.fill("#requester_q", "script")
    page.locator("#requester-matches .match").first.wait_for(timeout=30_000)
    assert "<script>" in page.inner_text("#requester-matches")  # shown as text
    assert page.evaluate("window.__pwned") is None and page.locator("main img").count() == 0
    requester = page_of("zhaoliu", home="/console/requests")
    requester.goto(f"{agent.url}/console/requests/new")
    requester.fill("#title", HOSTILE)
    requester.select_option("#category", "other")
    requester.fill("#description", HOSTILE)
    requester.click("button:text-is('Send the request')")
    requester.wait_for_url("**/console/requests/*")
    requester.fill("textarea[name=message]", HOSTILE)
    requester.click("button:text-is('Send the reply')")
    requester.wait_for_url("**/console/requests/*")
    assert HOSTILE in requester.inner_text(".timeline")
    assert requester.evaluate("window.__pwned") is None and requester.locator("main script, main img").count() == 0


def test_desk_pages_in_chinese(page_of: Any, agent: Agent, tmp_path: Path) -> None:
    page = page_of("chenqi", locale="zh-CN")
    page.goto(f"{agent.url}/console/tickets/new")
    assert page.inner_text("h1") == "新建工单" and "查找报修人" in page.inner_text("main")
    page.click("button:text-is('创建工单')")
    assert "工单未创建" in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "new-ticket-zh.png"), full_page=True)
    requester = page_of("wangwu", locale="zh-CN", home="/console/requests")
    requester.click("text=提交新请求")
    requester.fill("#title", "显示器不亮")
    requester.select_option("#category", "hardware/pc")
    requester.click("button:text-is('提交请求')")
    requester.wait_for_url("**/console/requests/*")
    assert "问题受理" in requester.inner_text(".timeline") and "回复" in requester.inner_text("main")
    requester.screenshot(path=str(tmp_path / "portal-request-zh.png"), full_page=True)
    own = int(requester.url.rsplit("/", 1)[1])
    api(agent, "POST", f"/api/v1/incidents/{own}/resolve", {"message": "换线"})
    requester.reload()
    assert "问题解决了吗" in requester.inner_text("main")
    page.goto(f"{agent.url}/console/incidents/{own}")
    assert "等待报修人" in page.inner_text("#service") or "签字确认" in page.inner_text("#service")
    page.screenshot(path=str(tmp_path / "ticket-desk-zh.png"), full_page=True)
