"""The console's report, admin and asset pages in a real browser (Playwright driving Debian's chromium)
against a real ``opsagent serve``: a manager opens the quarterly report, narrows it to a team and
downloads it as PDF/HTML/Markdown; an admin adds a user, changes their role, resets their password, is
kept from removing the last admin, adds a silence that really mutes a matching Alertmanager alert and
expires it; a non-admin is refused the admin pages, also on a direct POST; a form without its CSRF token
is refused; hostile facts, config text and display names stay text; pages in zh and en. Screenshots
go to the test's tmp dir."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsagent.netcli.backup import save_version
from opsagent.store.engine import Store, sqlite_url
from opsagent.store.inventory_repo import record_facts
from tests.e2e.agent import opsagent, serving, wait_until
from tests.e2e.console_kit import FAST_ARGON2, add_user, chromium, signed_in_pages
from tests.e2e.test_sla_api import Api, printer_incident
from tests.peers.ports import free_port
from tests.peers.receivers import WebhookServer

pytestmark = pytest.mark.peer

playwright_api = pytest.importorskip("playwright.sync_api", reason="the `test` extra installs playwright")

TOKEN = "console-admin-e2e-s3cret"
HOOK = "/console-admin-e2e"
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
USERS = {
    "chen": ("admin", "Ch-pass-0001", "en", "陈管理员"),
    "zhou": ("manager", "Zh-pass-0002", "en", "周经理"),
    "lisi": ("engineer", "Ls-pass-0003", "en", "李四"),
    "wangwu": ("requester", "Ww-pass-0004", "zh", "王五"),
}
INVENTORY = """\
assets:
  - {name: core-sw1, kind: network, address: 10.0.0.1}
  - {name: dead-db, kind: database, address: 127.0.0.1, port: %d,
     collectors: [{name: postgres, interval: 2s, options: {connect_timeout: 1s}}]}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:  # module scope: see console_kit.chromium
        yield launched


def _add_user(home: Path, name: str, role: str, password: str, lang: str, display: str) -> None:
    add_user(home, name, role, password, lang=lang, display=display)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-admin")


@pytest.fixture(scope="module")
def agent(home: Path, webhook_server: WebhookServer) -> Iterator[Api]:
    (home / "inventory.yaml").write_text(INVENTORY % free_port())  # nothing listens there: dead-db is down
    (home / "desk.token").write_text(TOKEN)
    (home / "site" / "alerts").mkdir(parents=True)
    route = {"receiver": "hook", "matchers": ['alertname="PrintQueueStuck"'], "group_wait": "0s",
             "group_interval": "1s"}  # fmt: skip
    notify = {"receivers": [{"name": "hook", "webhook": {"url": webhook_server.url(HOOK)}}], "routes": [route]}
    (home / "site" / "alerts" / "notifications.yaml").write_text(json.dumps(notify))
    (home / "opsagent.yaml").write_text(
        "seed_inventory: [inventory.yaml]\ncontent_roots: [site]\n"
        f"api_tokens: {{desk: 'file:{home / 'desk.token'}'}}\n" + FAST_ARGON2
    )
    for name, (role, password, lang, display) in USERS.items():
        _add_user(home, name, role, password, lang, display)
    opsagent("inventory", "import", str(home / "inventory.yaml"), home=home, check=True)
    store = Store(sqlite_url(home / "opsagent.db"))
    record_facts(store, "core-sw1", "ssh", {"os.version": "VRP 5.170", "sys.descr": "plain"})
    record_facts(store, "core-sw1", "ssh", {"os.version": "VRP 5.171", "sys.descr": HOSTILE})
    save_version(store, "core-sw1", "hostname core-sw1\ninterface ge-0/0/1\n description uplink\n")
    save_version(store, "core-sw1", f"hostname core-sw1\ninterface ge-0/0/1\n description {HOSTILE}\n")
    store.close()
    with serving(home) as (_proc, port, log):
        api = Api(port)
        yield api
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and TOKEN not in text
    assert all(password not in text for _, password, _, _ in USERS.values())


def ticket(api: Api, title: str, team: str) -> int:
    status, body = api.call("POST", "/api/v1/tickets", {
        "title": title, "channel": "phone", "category": "network", "assets": "core-sw1", "team": team,
        "requester": {"name": "赵六", "phone": "13812345678"}}, token=TOKEN)  # fmt: skip
    assert status == 201, body
    return int(body["id"])


@pytest.fixture
def page_of(browser: Any, agent: Api) -> Iterator[Any]:
    yield from signed_in_pages(browser, agent.base, USERS, home=None)


def _no_script_ran(page: Any) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script, main img").count() == 0


def test_a_manager_opens_the_quarterly_report_and_downloads_it(page_of: Any, agent: Api, tmp_path: Path) -> None:
    for n in range(2):
        ticket(agent, f"交换机端口故障 {n}", "网络组")
    ticket(agent, "打印机卡纸", "桌面组")
    page = page_of("zhou")
    page.click("nav >> text=Reports")
    page.wait_for_url("**/console/reports")
    assert "Quarterly Service Statistics Report" in page.inner_text("h1")
    main = page.inner_text("main")
    assert "By responsible team" in main and "网络组" in main and "By source and type" in main
    assert page.locator("main figure.chart svg rect").count() > 0  # server-rendered charts, no script
    page.screenshot(path=str(tmp_path / "report-en.png"), full_page=True)
    page.click("main a:text-is('网络组')")
    page.wait_for_url("**team=**")
    summary = page.locator("main section.report dl").first
    assert "Responsible team" in summary.inner_text() and "网络组" in summary.inner_text()
    total = summary.locator("dt:text-is('Incidents') + dd")
    assert total.inner_text() == "2"  # the team's two tickets, not all three
    with page.expect_download() as download:
        page.click("main a:text-is('PDF')")
    assert download.value.path().read_bytes().startswith(b"%PDF")
    for fmt, mark in (("html", b"<svg"), ("md", "网络组".encode())):
        got = page.request.get(f"{agent.base}/console/reports/period.{fmt}?kind=quarter")
        assert got.status == 200 and mark in got.body(), fmt
    got = page.request.get(f"{agent.base}/console/reports?kind=month&month=2026-13")
    assert got.status == 400  # a bad period is a clean error page
    page.goto(f"{agent.base}/console/reports?lang=zh")
    assert "季度统计报告" in page.inner_text("h1") and "按责任团队统计" in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "report-zh.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a manager's phone: the charts shrink, nothing overflows
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(tmp_path / "report-phone.png"), full_page=True)


def _row(page: Any, user: str) -> Any:
    return page.locator(f"tr.user[data-user='{user}']")


def test_an_admin_manages_users_and_the_last_admin_stays(page_of: Any, agent: Api, tmp_path: Path) -> None:
    page = page_of("chen")
    page.click("nav >> text=Admin")
    page.wait_for_url("**/console/admin/users")
    form = page.locator("#add-user")
    form.locator("[name=username]").fill("newbie")
    form.locator("[name=display_name]").fill(HOSTILE)
    form.locator("[name=role]").select_option("engineer")
    form.locator("[name=password]").fill("Nb-pass-0005")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/console/admin/users")
    assert HOSTILE in _row(page, "newbie").inner_text()  # shown as text
    _no_script_ran(page)
    _row(page, "newbie").locator("select[name=role]").select_option("manager")
    _row(page, "newbie").locator("button:text-is('Change role')").click()
    page.wait_for_url("**/console/admin/users")
    assert _row(page, "newbie").locator("select[name=role]").input_value() == "manager"
    _row(page, "newbie").locator("input[name=password]").fill("Nb-pass-0006")
    _row(page, "newbie").locator("button:text-is('Reset password')").click()
    page.wait_for_url("**/console/admin/users")
    page.screenshot(path=str(tmp_path / "admin-users-en.png"), full_page=True)
    newbie = page_of("newbie", password="Nb-pass-0006")
    assert newbie.request.get(f"{agent.base}/api/v1/session").json()["role"] == "manager"
    # the only admin can neither demote nor disable themself
    _row(page, "chen").locator("select[name=role]").select_option("engineer")
    _row(page, "chen").locator("button:text-is('Change role')").click()
    assert "last admin" in page.inner_text("main")
    page.goto(f"{agent.base}/console/admin/users")
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        _row(page, "chen").locator("button:text-is('Disable')").click()
    assert refused.value.status == 409
    users = {u["username"]: u for u in page.request.get(f"{agent.base}/console/admin/users?format=json").json()}
    assert users["chen"]["role"] == "admin" and not users["chen"]["disabled"]
    page.goto(f"{agent.base}/console/admin/audit?actor=chen&action=user.")
    rows = page.locator("tr.audit").all_inner_texts()
    assert any("user.add" in r and "newbie" in r for r in rows) and any("user.role" in r for r in rows)
    assert any("user.passwd" in r for r in rows) and all("chen" in r and "(session)" in r for r in rows)
    assert not any("user.disable" in r for r in rows)  # the refused change left nothing behind
    page.screenshot(path=str(tmp_path / "admin-audit-en.png"), full_page=True)
    page.goto(f"{agent.base}/console/admin/roles?lang=zh")
    assert page.inner_text("h1").startswith("角色") and "user.manage" in page.inner_text("main")
    page.goto(f"{agent.base}/console/admin/content?lang=zh")
    assert "全部内容有效" in page.inner_text("main")


def _webhook(api: Api, fingerprint: str, asset: str = "fin-printer") -> dict[str, Any]:
    labels = {"alertname": "PrintQueueStuck", "asset": asset, "severity": "warning", "fp": fingerprint}
    payload = {"version": "4", "status": "firing", "receiver": "opsagent", "alerts": [
        {"status": "firing", "labels": labels, "annotations": {"summary": "队列卡住"},
         "startsAt": "2026-01-01T00:00:00Z", "fingerprint": fingerprint}]}  # fmt: skip
    status, body = api.call("POST", "/api/v1/alertmanager", payload, token=TOKEN)
    assert status == 200, body
    return dict(body)


def _notified(hook: WebhookServer, fingerprint: str) -> list[Any]:
    return [body for path, body in hook.received if path == HOOK and fingerprint in json.dumps(body)]


def test_an_admin_silence_mutes_a_matching_alert_until_expired(
    page_of: Any, agent: Api, webhook_server: WebhookServer, tmp_path: Path
) -> None:
    page = page_of("chen")
    page.goto(f"{agent.base}/console/admin/silences")
    form = page.locator("#add-silence")
    form.locator("[name=matchers]").fill('alertname="PrintQueueStuck"\nasset=~"fin-.*"')
    form.locator("[name=duration]").fill("1h")
    form.locator("[name=comment]").fill("更换硒鼓 CHG-42")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/console/admin/silences")
    row = page.locator("tr.silence").first
    assert "active" in row.locator(".state").inner_text() and "CHG-42" in row.inner_text()
    page.screenshot(path=str(tmp_path / "admin-silences-en.png"), full_page=True)
    muted = _webhook(agent, "muted-1")
    assert muted["opened"] == [] and muted["muted"] and muted["muted"][0]["why"].startswith("silence #")
    # an alert of the same route and group the silence does not match is notified; the muted one is not in it
    assert _webhook(agent, "unsilenced-1", asset="hr-printer")["opened"]
    wait_until(lambda: _notified(webhook_server, "unsilenced-1"), 60, "the notification of the unsilenced alert")
    assert _notified(webhook_server, "muted-1") == []
    incidents = agent.call("GET", "/api/v1/incidents")[1]
    assert not any(i["labels"].get("fp") == "muted-1" for i in incidents)
    row.locator("button:text-is('Expire')").click()
    page.wait_for_url("**/console/admin/silences")
    assert "expired" in page.locator("tr.silence").first.locator(".state").inner_text()
    assert printer_incident(agent, TOKEN, "after-expiry", "队列卡住") > 0  # the same alert opens one now
    wait_until(lambda: _notified(webhook_server, "muted-1"), 60, "the still-firing alert notified once unmuted")
    audit = page.request.get(f"{agent.base}/console/admin/audit?format=json&action=silence.").json()
    assert {a["action"] for a in audit} >= {"silence.add", "silence.expire"}
    assert all(a["actor"] == "chen" for a in audit)
    bad = page.request.post(f"{agent.base}/console/admin/silences", form={
        "csrf_token": page.locator("#add-silence [name=csrf_token]").input_value(),
        "matchers": "not a matcher", "duration": "1h", "comment": "x"})  # fmt: skip
    assert bad.status == 400 and "Traceback" not in bad.text()


def test_non_admins_are_refused_the_admin_pages_also_on_direct_posts(page_of: Any, agent: Api) -> None:
    for user in ("lisi", "zhou"):
        page = page_of(user)
        for path in ("/console/admin/users", "/console/admin/roles", "/console/admin/silences",
                     "/console/admin/content", "/console/admin/users?format=json"):  # fmt: skip
            assert page.goto(agent.base + path).status == 403, (user, path)
        csrf = page.request.get(f"{agent.base}/api/v1/session").json()["csrf_token"]
        writes = (
            ("/console/admin/users", {"username": f"x{user}", "role": "admin", "password": "Xx-pass-0001"}),
            ("/console/admin/users/chen/disable", {}),
            ("/console/admin/silences", {"matchers": "alertname=X", "duration": "1h", "comment": "x"}),
        )
        for path, form in writes:
            refused = page.request.post(agent.base + path, form=form | {"csrf_token": csrf})
            assert refused.status == 403, (user, path)
    assert page.goto(f"{agent.base}/console/admin/audit").status == 200  # a manager reads the audit log
    requester = page_of("wangwu", locale="zh-CN")
    for path in ("/console/reports", "/console/reports/period.pdf", "/console/admin/audit", "/console/admin"):
        assert requester.goto(agent.base + path).status == 403, path
    users = {u["username"] for u in page_of("chen").request.get(f"{agent.base}/console/admin/users?format=json").json()}
    assert "xlisi" not in users and "xzhou" not in users


def test_admin_writes_without_the_csrf_token_are_refused(page_of: Any, agent: Api) -> None:
    page = page_of("chen")
    page.goto(f"{agent.base}/console/admin/users")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.value = 'forged')")
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        _row(page, "lisi").locator("button:text-is('Disable')").click()
    assert refused.value.status == 403
    for path in ("/console/admin/users/lisi/disable", "/console/admin/silences"):
        assert page.request.post(agent.base + path, form={"comment": "x"}).status == 403
    users = {u["username"]: u for u in page.request.get(f"{agent.base}/console/admin/users?format=json").json()}
    assert not users["lisi"]["disabled"]


def test_the_asset_page_shows_history_metrics_config_diffs_and_escapes_them(
    page_of: Any, agent: Api, tmp_path: Path
) -> None:
    incident = ticket(agent, "核心交换机告警", "网络组")
    page = page_of("lisi")
    page.goto(f"{agent.base}/console/assets/core-sw1")
    history = page.inner_text("#fact-history")
    assert "VRP 5.170" in history and "VRP 5.171" in history and HOSTILE in history
    diff = page.locator("#config pre.diff").first.inner_text()
    assert f"+ description {HOSTILE}" in diff and "- description uplink" in diff
    assert f"#{incident}" in page.inner_text("#tickets")
    _no_script_ran(page)
    page.screenshot(path=str(tmp_path / "asset-en.png"), full_page=True)
    twin = page.request.get(f"{agent.base}/console/assets/core-sw1?format=json").json()
    assert twin["facts"]["sys"]["descr"] == HOSTILE and len(twin["history"]) == 4
    assert [r["rev"] for r in twin["revisions"]] == [2, 1] and incident in [i["id"] for i in twin["tickets"]]

    def spark() -> bool:
        page.goto(f"{agent.base}/console/assets/dead-db?lang=zh")
        return page.locator("#metrics svg.spark polyline").count() > 0

    wait_until(spark, 90, "two polls of dead-db in the series history")
    assert "opsagent_up" in page.inner_text("#metrics") and "最新指标" in page.inner_text("#metrics")
    page.screenshot(path=str(tmp_path / "asset-zh.png"), full_page=True)


def _next_quarter(quarter: str) -> str:
    year, q = int(quarter[:4]), int(quarter[5])
    return f"{year + 1}Q1" if q == 4 else f"{year}Q{q + 1}"


def test_an_open_problem_is_tracked_into_the_next_quarter(agent: Api, page_of: Any, tmp_path: Path) -> None:
    incident = ticket(agent, "打印机反复卡纸", "桌面组")
    problem = {"title": "硒鼓批次缺陷", "incidents": [incident]}
    status, body = agent.call("POST", "/api/v1/problems", problem, token=TOKEN)
    assert status == 201, body
    page = page_of("zhou")
    page.goto(f"{agent.base}/console/reports")
    this = page.locator("input[name=quarter]").input_value()
    found = page.locator("section.report h3:text-is('Problems found in this period') + div").inner_text()
    assert "硒鼓批次缺陷" in found
    page.goto(f"{agent.base}/console/reports?kind=quarter&quarter={_next_quarter(this)}")
    carried = page.locator("section.report h3:text-is('Carried over from earlier periods') + div").inner_text()
    assert "硒鼓批次缺陷" in carried
    page.screenshot(path=str(tmp_path / "report-next-quarter-en.png"), full_page=True)
    twin = page.request.get(f"{agent.base}/console/reports?format=json&kind=quarter&quarter={_next_quarter(this)}")
    assert [p["title"] for p in twin.json()["problems"]["carried"]] == ["硒鼓批次缺陷"]


def test_the_report_and_audit_json_twins(agent: Api, page_of: Any) -> None:
    ticket(agent, "链路抖动", "网络组")
    page = page_of("zhou")
    body = page.request.get(f"{agent.base}/console/reports?format=json&team=网络组").json()
    assert body["scope"] == {"team": "网络组"} and set(body["by"]["team"]) == {"网络组"}
    rows = page.request.get(f"{agent.base}/console/admin/audit?format=json&since=1h").json()
    assert isinstance(rows, list) and json.dumps(rows)


def test_the_cli_keeps_the_last_admin_too(tmp_path: Path) -> None:
    (tmp_path / "opsagent.yaml").write_text(FAST_ARGON2)
    for name, role in (("boss", "admin"), ("eng", "engineer")):
        _add_user(tmp_path, name, role, "Pw-pass-0001", "en", name)
    refused = opsagent("user", "role", "boss", "engineer", home=tmp_path)
    assert refused.returncode == 2 and "last admin" in refused.stderr and "Traceback" not in refused.stderr
    assert opsagent("user", "disable", "boss", home=tmp_path).returncode == 2
    assert opsagent("user", "disable", "eng", home=tmp_path).returncode == 0
    assert opsagent("user", "role", "eng", "admin", home=tmp_path).returncode == 0
    assert opsagent("user", "role", "boss", "engineer", home=tmp_path).returncode == 2  # a disabled admin counts not
    assert opsagent("user", "enable", "eng", home=tmp_path).returncode == 0
    assert opsagent("user", "role", "boss", "engineer", home=tmp_path).returncode == 0  # another admin exists


def test_hostile_form_values_and_queries_end_in_clean_errors(page_of: Any, agent: Api) -> None:
    page = page_of("chen")
    page.goto(f"{agent.base}/console/admin/users")
    csrf = page.locator("#add-user [name=csrf_token]").input_value()
    user = {"username": "ok-name", "role": "engineer", "password": "Ok-pass-0001"}
    posts = [
        ("/console/admin/users", user | {"username": HOSTILE}, 400),
        ("/console/admin/users", user | {"role": "god"}, 400),
        ("/console/admin/users", user | {"password": "short"}, 400),
        ("/console/admin/users", user | {"email": "not-an-address"}, 400),
        ("/console/admin/users", user | {"timezone": "Mars/Olympus_Mons"}, 400),
        ("/console/admin/users", user | {"display_name": "x" * 300}, 400),
        ("/console/admin/users", user | {"username": "a" * 65}, 400),
        ("/console/admin/users/root", {}, 404),
        ("/console/admin/users/nosuch/role", {"role": "admin"}, 404),
        ("/console/admin/users/lisi/role", {"role": HOSTILE}, 400),
        ("/console/admin/users/lisi/password", {"password": " short "}, 400),
        ("/console/admin/silences", {"matchers": "alertname=~(", "duration": "1h", "comment": "x"}, 400),
        ("/console/admin/silences", {"matchers": "a=b", "duration": "1y", "comment": "x"}, 400),
        ("/console/admin/silences", {"matchers": "a=b", "duration": "1h", "comment": " "}, 400),
        ("/console/admin/silences", {"matchers": "a=b", "duration": "1h", "comment": "x", "kind": HOSTILE}, 400),
        (
            "/console/admin/silences",
            {"matchers": "a=b", "duration": "366d", "start": "9999-12-31T23:00", "comment": "x"},
            400,
        ),
        ("/console/admin/silences", {"matchers": "a=b", "duration": "1h", "start": "yesterday", "comment": "x"}, 400),
        ("/console/admin/silences", {"matchers": "a=b\n" * 1500, "duration": "1h", "comment": "x"}, 400),
        ("/console/admin/silences/999999/expire", {}, 409),
        ("/console/admin/silences/abc/expire", {}, 404),
    ]
    for path, form, status in posts:
        got = page.request.post(agent.base + path, form=form | {"csrf_token": csrf})
        assert got.status == status, (path, form, got.status)
        assert "<script>" not in got.text(), path
    gets = [("/console/reports?kind=quarter&quarter=0001Q1", 400), ("/console/reports?kind=custom&from=x", 400),
            ("/console/reports?kind=" + "x" * 5000, 400), ("/console/reports/period.pdf?kind=month&month=0", 400),
            ("/console/reports?team=%3Cscript%3E", 200), ("/console/admin/audit?since=garbage", 400),
            ("/console/admin/audit?since=99999999999d", 400), ("/console/admin/audit?actor=%3Cscript%3E", 200),
            ("/console/assets/%3Cscript%3E", 404)]  # fmt: skip
    for path, status in gets:
        got = page.request.get(agent.base + path)
        assert got.status == status, (path, got.status)
        assert "<script>" not in got.text(), path
    users = {u["username"] for u in page.request.get(f"{agent.base}/console/admin/users?format=json").json()}
    assert "ok-name" not in users


def test_content_validation_shows_what_opsagent_check_reports(
    page_of: Any, agent: Api, home: Path, tmp_path: Path
) -> None:
    bad = home / "site" / "alerts" / "broken.rules.yaml"
    bad.write_text(f"groups:\n  - name: g\n    rules:\n      - alert: {json.dumps(HOSTILE)}\n        expr: 'up =='\n")
    try:
        page = page_of("chen")
        page.goto(f"{agent.base}/console/admin/content?lang=zh")
        issues = page.locator("ul.issues li").all_inner_texts()
        assert issues and all("broken.rules.yaml:" in i for i in issues)
        assert page.locator("dd.error").inner_text() == "1"  # one invalid file
        _no_script_ran(page)
        page.screenshot(path=str(tmp_path / "admin-content-zh.png"), full_page=True)
        cli = opsagent("check", home=home)
        assert cli.returncode == 2
        assert [line for line in cli.stderr.splitlines() if "broken.rules.yaml:" in line] == issues  # the same words
    finally:
        bad.unlink()
    page.reload()
    assert "全部内容有效" in page.inner_text("main")
