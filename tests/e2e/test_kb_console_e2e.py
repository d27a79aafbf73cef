"""The console's knowledge-base pages in a real browser (Playwright driving Debian's chromium) against a real
``opsagent serve``: an engineer searches 打印机 (highlighted, escaped snippets), opens an article, edits it
(a new version authored by the signed-in user), creates and publishes one; a requester sees only the
articles visible to requesters and is refused an internal one and the forms; hostile article text
(script tags, ``javascript:`` links in the Markdown) stays inert; the ticket page links its suggested
articles, and opening one from there counts the suggestion as used."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent import Agent, start_agent, wait_until
from tests.e2e.console_kit import FAST_ARGON2, add_user, call_api, chromium, signed_in_pages, stop_checked

pytestmark = pytest.mark.peer

playwright_api = pytest.importorskip("playwright.sync_api", reason="the `test` extra installs playwright")

TOKEN = "kb-console-s3cret"
USERS = {"zhaosi": ("engineer", "Zs-pass-0001", "en"), "qianer": ("requester", "Qe-pass-0002", "zh")}
HOSTILE_BODY = """打印机 <script>window.__pwned = 1</script>

<img src=x onerror="window.__pwned = 2">

[点我修复](javascript:window.__pwned=3) · [另一个](JaVaScRiPt:window.__pwned=4) · <javascript:window.__pwned=5>

![图](javascript:window.__pwned=6)
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:  # module scope: see tests/e2e/test_console_e2e.py
    with chromium() as launched:  # module scope: see console_kit.chromium
        yield launched


def api(agent: Agent, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return call_api(agent.port, TOKEN, method, path, body)


def article(agent: Agent, title: str, body: str, visibility: str, status: str = "published") -> int:
    done, found = api(agent, "POST", "/api/v1/kb/articles", {
        "status": status, "visibility": visibility, "category": "打印机", "tags": ["打印"],
        "translations": [{"lang": "zh", "title": title, "body": body}],
    })  # fmt: skip
    assert done == 201, found
    return int(found["id"])


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    home = tmp_path_factory.mktemp("kb-console")
    (home / "desk.token").write_text(TOKEN)
    (home / "opsagent.yaml").write_text(f"api_tokens: {{desk: 'file:{home / 'desk.token'}'}}\n" + FAST_ARGON2)
    for name, (role, password, lang) in USERS.items():
        add_user(home, name, role, password, lang=lang, email=f"{name}@example.com")
    handle = start_agent(home)
    yield handle
    stop_checked(handle, TOKEN)


@pytest.fixture(scope="module")
def articles(agent: Agent) -> dict[str, int]:
    return {
        "public": article(agent, "打印机无法打印的处理", "1. 打开**服务**\n2. 重启 Print Spooler\n", "requesters"),
        "internal": article(agent, "打印机驱动内部排查", "内部：打印机驱动回滚到 3.2 版", "internal"),
        "hostile": article(agent, "<script>window.__pwned=7</script>打印机恶意标题", HOSTILE_BODY, "internal"),
    }


def _no_dialogs(page: Any) -> None:
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))


@pytest.fixture
def page_of(browser: Any, agent: Agent) -> Iterator[Any]:
    yield from signed_in_pages(browser, agent.url, USERS, on_page=_no_dialogs)


def inert(page: Any) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("script").count() == 0
    assert page.locator("[onerror]").count() == 0
    hrefs = page.eval_on_selector_all("a, img", "els => els.map(e => e.getAttribute('href') || e.getAttribute('src'))")
    assert not [h for h in hrefs if h and h.strip().lower().startswith("javascript")], hrefs


def test_an_engineer_searches_reads_and_edits(page_of: Any, agent: Agent, articles: dict[str, int],
                                             tmp_path: Path) -> None:  # fmt: skip
    page = page_of("zhaosi")
    page.click("nav >> text=Knowledge base")
    page.wait_for_url("**/console/kb")
    assert "打印机" in page.inner_text(".kb-categories")  # browse by category
    page.fill("input[name=q]", "打印机")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**/console/kb?q=*")
    hits = page.locator(".kb-hit")
    assert hits.count() == 3
    assert "打印机" in page.locator(".kb-hit mark").all_inner_texts()  # highlighted, as markup
    assert "<script>window.__pwned=7</script>" in page.inner_text(".kb-hits")  # the hostile title: text
    inert(page)
    page.screenshot(path=str(tmp_path / "kb-search-en.png"), full_page=True)

    page.click(f"a[href^='/console/kb/{articles['public']}?']")
    page.wait_for_url(f"**/console/kb/{articles['public']}*")
    assert page.locator("h1").inner_text().startswith("打印机无法打印的处理")
    assert page.locator(".kb-body ol li").count() == 2 and page.locator(".kb-body strong").inner_text() == "服务"
    page.click("text=Edit")
    page.wait_for_url(f"**/console/kb/{articles['public']}/edit*")
    page.fill("textarea[name=body]", "1. 重启 Print Spooler\n2. 清空打印队列\n")
    page.fill("input[name=note]", "加上清空队列")
    page.click("form.kb-form button[type=submit]")
    page.wait_for_url(f"**/console/kb/{articles['public']}?tr=zh")
    assert "清空打印队列" in page.inner_text(".kb-body")
    assert "加上清空队列" in page.inner_text(".kb-versions")
    status, versions = api(agent, "GET", f"/api/v1/kb/articles/{articles['public']}/versions")
    assert status == 200 and [(v["version"], v["author"]) for v in versions] == [(1, "desk"), (2, "zhaosi")]
    assert versions[-1]["note"] == "加上清空队列"
    page.screenshot(path=str(tmp_path / "kb-article-en.png"), full_page=True)

    page.goto(f"{agent.url}/console/kb/new")  # a new article: a draft, then published through the state form
    page.fill("input[name=title]", "扫描仪无法扫描")
    page.fill("textarea[name=body]", "检查 USB 线")
    page.fill("input[name=category]", "扫描仪")
    page.click("form.kb-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/kb/\d+$"))
    new_id = int(page.url.rsplit("/", 1)[1].split("?")[0])
    assert page.locator(".kb-state").inner_text() == "draft"
    page.select_option("select[name=state]", "published")
    with page.expect_navigation():
        page.click("button:text-is('Change state')")
    assert page.locator(".kb-state").inner_text() == "published"
    status, found = api(agent, "GET", f"/api/v1/kb/articles/{new_id}")
    assert found["status"] == "published" and found["created_by"] == "zhaosi" and found["version"] == 2


def test_a_requester_sees_only_what_requesters_may_read(page_of: Any, agent: Agent, articles: dict[str, int]) -> None:
    page = page_of("qianer", home="/console/requests")
    page.click("nav >> text=知识库")
    page.wait_for_url("**/console/kb")
    listed = page.inner_text(".kb-results")
    assert "打印机无法打印的处理" in listed and "内部" not in listed and "恶意" not in listed
    page.fill("input[name=q]", "打印机")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**/console/kb?q=*")
    assert page.locator(".kb-hit").count() == 1
    assert "打印机无法打印的处理" in page.inner_text(".kb-hits")
    page.click(f"a[href^='/console/kb/{articles['public']}?']")
    page.wait_for_url(f"**/console/kb/{articles['public']}*")
    assert page.locator(".kb-versions").count() == 0 and page.locator("text=编辑").count() == 0
    page.click("button:text-is('有帮助')")
    page.wait_for_url(f"**/console/kb/{articles['public']}?voted=1")
    assert "感谢您的反馈" in page.inner_text("main")
    before = api(agent, "GET", f"/api/v1/kb/articles/{articles['public']}")[1]
    page.click("button:text-is('有帮助')")  # again: still one vote of hers
    page.wait_for_url(f"**/console/kb/{articles['public']}?voted=1")
    assert page.get_attribute("button:text-is('有帮助')", "aria-pressed") == "true"
    page.click("button:text-is('没有帮助')")  # changed her mind: the vote moves
    page.wait_for_url(f"**/console/kb/{articles['public']}?voted=1")
    assert page.get_attribute("button:text-is('没有帮助')", "aria-pressed") == "true"
    after = api(agent, "GET", f"/api/v1/kb/articles/{articles['public']}")[1]
    assert (after["helpful"], after["not_helpful"]) == (before["helpful"] - 1, before["not_helpful"] + 1)

    for path in (f"/console/kb/{articles['internal']}", f"/console/kb/{articles['hostile']}",
                 f"/console/kb/{articles['public']}/edit", "/console/kb/new"):  # fmt: skip
        response = page.goto(agent.url + path)
        assert response.status == 403, path
        assert "内部" not in page.inner_text("main") and "清空" not in page.inner_text("main")
    json_status, _ = api(agent, "GET", f"/api/v1/kb/articles/{articles['public']}")
    page.goto(f"{agent.url}/console/kb/{articles['public']}")
    csrf = page.get_attribute("input[name=csrf_token]", "value")  # a valid token: refused for the role
    refused = page.request.post(f"{agent.url}/console/kb/{articles['public']}/edit",
                                form={"csrf_token": csrf, "lang": "zh", "title": "改掉", "body": "x",
                                      "visibility": "requesters"})  # fmt: skip
    assert refused.status == 403
    _, after = api(agent, "GET", f"/api/v1/kb/articles/{articles['public']}")
    assert after["translations"]["zh"]["title"] == "打印机无法打印的处理" and json_status == 200


def test_hostile_article_text_is_inert(page_of: Any, agent: Agent, articles: dict[str, int]) -> None:
    page = page_of("zhaosi")
    page.goto(f"{agent.url}/console/kb/{articles['hostile']}")
    inert(page)
    body = page.inner_text(".kb-body")
    assert "<script>window.__pwned = 1</script>" in body and '<img src=x onerror="window.__pwned = 2">' in body
    assert page.locator(".kb-body a").count() == 0 and page.locator(".kb-body img").count() == 0
    assert "<script>window.__pwned=7</script>" in page.inner_text("h1")
    page.goto(f"{agent.url}/console/kb/{articles['hostile']}/edit")
    inert(page)
    assert page.input_value("textarea[name=body]") == HOSTILE_BODY


def test_the_notification_link_and_the_ticket_page_count_the_suggestion_used(
    browser: Any, page_of: Any, agent: Agent, articles: dict[str, int]
) -> None:
    status, ticket = api(agent, "POST", "/api/v1/tickets", {
        "title": "打印机无法打印", "channel": "phone", "category": "hardware", "description": "财务部",
        "requester": {"name": "赵六", "phone": "13812345678", "email": "zhaoliu@example.com"},
    })  # fmt: skip
    assert status == 201, ticket
    incident = int(ticket["id"])
    wait_until(lambda: api(agent, "GET", f"/api/v1/kb/suggestions/{incident}")[1], 30, "suggestions", agent.log)
    link = f"/console/kb/{articles['public']}?incident={incident}"  # as the notification links it

    context = browser.new_context(locale="en-US")  # signed out: the link goes through the login page
    try:
        page = context.new_page()
        page.goto(agent.url + link)
        page.wait_for_url("**/console/login?next=**")
        page.fill("#username", "zhaosi")
        page.fill("#password", USERS["zhaosi"][1])
        page.click("button[type=submit]")
        page.wait_for_url(agent.url + link)
    finally:
        context.close()
    _, suggested = api(agent, "GET", f"/api/v1/kb/suggestions/{incident}")
    assert {s["article_id"]: s["used_by"] for s in suggested}[articles["public"]] == "zhaosi"
    _, found = api(agent, "GET", f"/api/v1/incidents/{incident}")
    assert [e["actor"] for e in found["events"] if e["kind"] == "knowledge"] == ["zhaosi"]

    page = page_of("zhaosi")
    page.goto(f"{agent.url}/console/incidents/{incident}")
    page.click(f"a[href='{link}']")  # the ticket page links its suggestions
    page.wait_for_url(f"**{link}")
    page.click(f"button:text-is('Used on ticket #{incident}')")
    page.wait_for_url(f"**/console/incidents/{incident}")
    _, found = api(agent, "GET", f"/api/v1/kb/articles/{articles['public']}")
    assert incident in found["incidents"]
