"""The console's runbook pages in a real browser (Playwright driving Debian's chromium, headless) against
a real ``opsagent serve``: an engineer runs an emergency runbook with parameters from the catalogue, the
run page shows its progress step × target, the step waits for a second engineer (the step's
``approvers``) who approves it from the inbox, the run finishes; an inspection run shows its pass / warn /
fail matrix and its HTML and PDF report; bad parameters come back with an error beside each field; a
requester is refused every runbook page and form; a form without its CSRF token is refused; HTML in a
step's output stays text; a secret a step prints never reaches the page; zh and en. The steps are local
``shell`` steps: real commands on the agent's host, one per target. Screenshots go to the test's tmp dir."""

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

TOKEN = "runbook-console-t0ken"
SECRET = "Pw-9f3Kx-never-shown"
USERS = {
    "lisi": ("engineer", "Ls-pass-0001", "en"),
    "zhangsan": ("engineer", "Zs-pass-0003", "zh"),
    "wangwu": ("requester", "Ww-pass-0002", "zh"),
}
INVENTORY = """\
assets:
  - {name: web1, kind: host, groups: [web], vars: {disk_pct: 95}}
  - {name: web2, kind: host, groups: [web], vars: {disk_pct: 50}}
  - {name: web3, kind: host, groups: [web], vars: {disk_pct: 10}}
"""
EMERGENCY = """\
name: web-restart
description: Restart a web service after a second engineer approves
kind: emergency
targets: web1,web2
parameters:
  service: {type: str, required: true, description: The unit to restart}
  attempts: {type: int, default: 1}
  mode: {type: choice, choices: [graceful, hard], default: graceful}
  api_password: {type: str, default: "", description: The load balancer's API password}
steps:
  - name: status before
    shell: |
      echo "service {{ service }} on {{ asset.name }} ({{ mode }}, {{ attempts }})"
      printf '%s\\n' '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
  - name: drain
    shell: echo "draining with password={{ api_password }}"
  - name: confirm restart
    approve: {message: "Restart {{ service }} on {{ asset.name }}?", approvers: [zhangsan]}
  - name: restart
    shell: echo "restarted {{ service }}"
"""
INSPECTION = """\
name: web-inspect
description: Disk use of the web hosts
kind: inspection
targets: web
steps:
  - name: disk usage
    shell: echo {{ disk_pct }}
    register: disk
    value: "{{ disk.stdout }}%"
    check:
      - fail: "disk.stdout | int >= 90"
        threshold: "90%"
        message: "disk at {{ disk.stdout }}%"
      - warn: "disk.stdout | int >= 40"
        threshold: "40%"
        message: "disk at {{ disk.stdout }}%"
  - name: service answers
    shell: echo up
    check:
      - fail: "'up' not in result.stdout"
"""
RULES = """\
groups:
  - name: web
    rules:
      - alert: WebServiceDown
        expr: up{job="web"} == 0
        for: 1m
        annotations:
          summary: the web service is down
          runbook_url: runbooks/emergency/web-restart.yaml
"""


# Module scope, not session: sync Playwright keeps an event loop running while it is open (see
# tests/e2e/test_console_e2e.py).
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:  # module scope: see console_kit.chromium
        yield launched


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    home = tmp_path_factory.mktemp("console-runbooks")
    site = home / "site"
    for path, text in {"runbooks/emergency/web-restart.yaml": EMERGENCY, "runbooks/inspection/web-inspect.yaml":
                       INSPECTION, "alerts/web.rules.yaml": RULES}.items():  # fmt: skip
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text)
    (home / "inventory.yaml").write_text(INVENTORY)
    (home / "api.token").write_text(TOKEN)
    (home / "opsagent.yaml").write_text(
        "content_roots: [site]\nseed_inventory: [inventory.yaml]\n"
        f"api_tokens: {{ops: 'file:{home / 'api.token'}'}}\n" + FAST_ARGON2
    )
    for name, (role, password, lang) in USERS.items():
        add_user(home, name, role, password, lang=lang, email=f"{name}@example.com")
    handle = start_agent(home)
    yield handle
    stop_checked(handle, TOKEN, SECRET)


def api(agent: Agent, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return call_api(agent.port, TOKEN, method, path, body)


@pytest.fixture
def page_of(browser: Any, agent: Agent) -> Iterator[Any]:
    yield from signed_in_pages(browser, agent.url, USERS, height=900)


def run_of(page: Any) -> int:
    found = re.search(r"/console/runbooks/runs/(\d+)$", page.url)
    assert found, page.url
    return int(found[1])


def run_status(agent: Agent, run_id: int) -> str:
    return str(api(agent, "GET", f"/api/v1/runbooks/runs/{run_id}")[1]["status"])


def start_emergency(page: Any, agent: Agent, service: str = "nginx") -> int:
    page.goto(f"{agent.url}/console/runbooks/web-restart")
    page.fill("[name='p.service']", service)
    page.fill("[name='p.attempts']", "2")
    page.select_option("[name='p.mode']", "hard")
    page.fill("[name='p.api_password']", SECRET)
    page.click("button:text-is('Start the run')")
    page.wait_for_url(re.compile(r".*/console/runbooks/runs/\d+$"))
    return run_of(page)


def test_an_engineer_runs_an_emergency_runbook_and_a_second_engineer_approves_its_step(
    page_of: Any, agent: Agent, tmp_path: Path
) -> None:
    page = page_of("lisi")
    page.click("nav >> text=Runbooks")
    page.wait_for_url("**/console/runbooks")
    row = page.locator("tr:has(a:text-is('web-restart'))")
    assert "WebServiceDown" in row.inner_text() and "emergency" in row.inner_text()  # the alert linking it
    assert "service*" in row.inner_text().replace(" ", "").replace("\n", "")  # a required parameter
    assert page.locator("tr:has(a:text-is('disk-full'))").count() == 1  # the shipped library too
    page.screenshot(path=str(tmp_path / "runbooks-en.png"), full_page=True)
    page.click("a:text-is('web-restart')")
    page.wait_for_url("**/console/runbooks/web-restart")
    run_id = start_emergency(page, agent)
    # Both targets ran their first steps and now wait for the approval (the page refreshes itself).
    wait_until(lambda: len(api(agent, "GET", "/api/v1/runbooks/approvals")[1]) >= 2, 60, "two approvals", agent.log)
    page.reload()
    assert page.locator("meta[http-equiv=refresh]").count() == 1
    matrix = page.locator("#progress")
    assert matrix.locator("td[data-asset=web1][data-step='status before']").inner_text() == "ok"
    assert matrix.locator("td[data-asset=web2][data-step='confirm restart']").inner_text() == "waiting for approval"
    assert matrix.locator("td[data-asset=web1][data-step='restart']").inner_text() == "not reached"
    assert "Only these may decide: zhangsan" in page.inner_text("#approvals")
    assert "service=nginx" in page.inner_text(".meta") and "mode=hard" in page.inner_text(".meta")
    page.screenshot(path=str(tmp_path / "run-waiting-en.png"), full_page=True)
    # The starter is not among the step's approvers: no buttons for him, and his decision is refused.
    assert page.locator("#approvals button").count() == 0
    pending = [a for a in api(agent, "GET", "/api/v1/runbooks/approvals")[1] if a["run_id"] == run_id]
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = page.request.post(f"{agent.url}/console/runbooks/approvals/{pending[0]['id']}",
                                form={"csrf_token": csrf, "decision": "approve", "comment": "my own run"})  # fmt: skip
    assert refused.status == 403 and "lisi is not among the approvers" in refused.text()
    assert run_status(agent, run_id) == "running"
    page.goto(f"{agent.url}/console")  # the overview links the waiting run
    page.click(f"a[href='/console/runbooks/runs/{run_id}'] >> nth=0")
    page.wait_for_url(f"**/console/runbooks/runs/{run_id}")
    # The second engineer approves both targets' step from the inbox, in Chinese.
    other = page_of("zhangsan")
    other.goto(f"{agent.url}/console/runbooks/approvals")
    assert other.inner_text("h1").startswith("待审批")
    other.screenshot(path=str(tmp_path / "approvals-zh.png"), full_page=True)
    for _ in range(2):
        card = other.locator(f"section.approval:has(a[href='/console/runbooks/runs/{run_id}'])").first
        card.locator("textarea").fill("同意重启")
        with other.expect_navigation(url="**/console/runbooks/approvals"):  # back to the inbox, one fewer
            card.locator("button:text-is('批准')").click()
    wait_until(lambda: run_status(agent, run_id) != "running", 60, "the run finishes", agent.log)
    assert run_status(agent, run_id) == "succeeded"
    page.goto(f"{agent.url}/console/runbooks/runs/{run_id}")
    assert page.locator("#run-status").get_attribute("data-status") == "succeeded"
    assert page.locator("meta[http-equiv=refresh]").count() == 0  # finished: no more refreshing
    assert matrix.locator("td[data-asset=web2][data-step='restart']").inner_text() == "ok"
    outputs = page.inner_text("#outputs")
    assert "restarted nginx" in outputs and "approved by zhangsan: 同意重启" in outputs
    decided = api(agent, "GET", f"/api/v1/runbooks/runs/{run_id}")[1]["approvals"]
    assert {(a["status"], a["decided_by"], a["comment"]) for a in decided} == {("approved", "zhangsan", "同意重启")}
    assert api(agent, "GET", f"/api/v1/runbooks/runs/{run_id}")[1]["actor"] == "lisi"  # the signed-in starter
    page.screenshot(path=str(tmp_path / "run-done-en.png"), full_page=True)
    # The history finds it by runbook and by asset.
    page.goto(f"{agent.url}/console/runbooks/runs?runbook=web-restart&asset=web2&status=succeeded")
    assert page.locator(f"a[href='/console/runbooks/runs/{run_id}']").count() == 1
    page.goto(f"{agent.url}/console/runbooks/runs?asset=web3")
    assert page.locator(f"a[href='/console/runbooks/runs/{run_id}']").count() == 0
    page.goto(f"{agent.url}/console/assets/web1")  # the asset page links its runs
    page.click("a:text-is('Run history')")
    page.wait_for_url("**/console/runbooks/runs?asset=web1")
    assert page.locator(f"a[href='/console/runbooks/runs/{run_id}']").count() == 1


def test_hostile_output_stays_text_and_a_secret_never_reaches_the_page(page_of: Any, agent: Agent) -> None:
    page = page_of("lisi")
    run_id = start_emergency(page, agent, service="apache2")
    wait_until(lambda: any(a["run_id"] == run_id for a in api(agent, "GET", "/api/v1/runbooks/approvals")[1]),
               60, "the approval", agent.log)  # fmt: skip
    response = page.goto(f"{agent.url}/console/runbooks/runs/{run_id}")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "<script>window.__pwned = 1</script>" in page.inner_text("#outputs")  # shown, as text
    assert page.evaluate("window.__pwned") is None and page.locator("main script, main img").count() == 0
    assert SECRET not in page.content() and "password=***" in page.inner_text("#outputs")
    assert SECRET not in page.request.get(f"{agent.url}/console/runbooks/runs/{run_id}?format=json").text()
    other = page_of("zhangsan")
    for approval in [a for a in api(agent, "GET", "/api/v1/runbooks/approvals")[1] if a["run_id"] == run_id]:
        other.goto(f"{agent.url}/console/runbooks/runs/{run_id}")
        card = other.locator(f".approval[data-approval='{approval['id']}']")
        with other.expect_navigation(url=f"**/console/runbooks/runs/{run_id}"):
            card.locator("button:text-is('拒绝')").click()
    wait_until(lambda: run_status(agent, run_id) != "running", 60, "the run ends", agent.log)
    assert run_status(agent, run_id) == "failed"  # rejected on every target
    other.goto(f"{agent.url}/console/runbooks/runs/{run_id}")
    assert other.locator("td[data-asset=web1][data-step='confirm restart']").inner_text() == "已拒绝"


def test_bad_parameters_come_back_with_an_error_beside_each_field(page_of: Any, agent: Agent, tmp_path: Path) -> None:
    before = len(api(agent, "GET", "/api/v1/runbooks/runs?runbook=web-restart")[1])
    page = page_of("lisi")
    page.goto(f"{agent.url}/console/runbooks/web-restart")
    page.fill("[name='p.attempts']", "three")
    page.fill("[name='p.api_password']", SECRET)
    page.fill("#targets", "nosuchhost")
    with page.expect_navigation():
        page.click("button:text-is('Start the run')")
    assert page.url.endswith("/console/runbooks/web-restart/run")
    errors = {e.get_attribute("data-field"): e.inner_text() for e in page.locator(".field-error").all()}
    assert set(errors) == {"p.service", "p.attempts", "targets"}
    assert "parameter service is required" in errors["p.service"]
    assert "'three' is not a valid int" in errors["p.attempts"]
    assert "'nosuchhost' matches no group or asset name" in errors["targets"]
    assert page.locator("[name='p.attempts']").input_value() == "three"  # kept to correct
    assert SECRET not in page.content()  # a secret is never sent back, not even into its field
    page.screenshot(path=str(tmp_path / "run-form-errors-en.png"), full_page=True)
    assert len(api(agent, "GET", "/api/v1/runbooks/runs?runbook=web-restart")[1]) == before  # nothing started


def test_an_inspection_run_shows_the_pass_warn_fail_matrix_and_its_reports(
    page_of: Any, agent: Agent, tmp_path: Path
) -> None:
    page = page_of("zhangsan")
    page.goto(f"{agent.url}/console/runbooks/web-inspect")
    assert "巡检" in page.inner_text("h1")
    page.click("button:text-is('开始执行')")
    page.wait_for_url(re.compile(r".*/console/runbooks/runs/\d+$"))
    run_id = run_of(page)
    wait_until(lambda: run_status(agent, run_id) != "running", 60, "the inspection ends", agent.log)
    page.reload()
    matrix = page.locator("#inspection table")
    cells = {(row.locator("th").inner_text(), n): td.inner_text()
             for row in matrix.locator("tbody tr").all() for n, td in enumerate(row.locator("td").all())}  # fmt: skip
    assert cells[("web1", 0)] == "异常 95%" and cells[("web2", 0)] == "警告 50%" and cells[("web3", 0)] == "正常 10%"
    assert cells[("web1", 1)] == "正常 up"  # the value measured: its output
    assert "正常 4 · 警告 1 · 异常 1" in page.inner_text("#inspection")
    page.screenshot(path=str(tmp_path / "inspection-zh.png"), full_page=True)
    phone = page_of("zhangsan")
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{agent.url}/console/runbooks/runs/{run_id}")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # the matrices scroll
    phone.screenshot(path=str(tmp_path / "inspection-phone-zh.png"), full_page=True)
    report = page.request.get(f"{agent.url}/console/runbooks/runs/{run_id}/report.html")
    assert report.status == 200 and "巡检报告" in report.text()
    report_csp = report.headers["content-security-policy"]
    assert "default-src 'none'" in report_csp and "script-src" not in report_csp  # its inline style, no script
    pdf = page.request.get(f"{agent.url}/console/runbooks/runs/{run_id}/report.pdf")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    page.goto(f"{agent.url}/console/runbooks/runs?kind=inspection&lang=en")
    assert page.inner_text("h1").startswith("Inspection reports")
    assert page.locator(f"a[href='/console/runbooks/runs/{run_id}']").count() == 1


def test_a_requester_is_refused_every_runbook_page_and_form(page_of: Any, agent: Agent) -> None:
    _, started = api(agent, "POST", "/api/v1/runbooks/web-inspect/run", {})
    run_id = started["run"]
    wait_until(lambda: run_status(agent, run_id) != "running", 60, "the run ends", agent.log)
    page = page_of("wangwu", locale="zh-CN", home="/console/requests")
    assert page.locator("nav >> text=运行手册").count() == 0
    for path in ("/console/runbooks", "/console/runbooks/web-restart", "/console/runbooks/runs",
                 f"/console/runbooks/runs/{run_id}", f"/console/runbooks/runs/{run_id}?format=json",
                 f"/console/runbooks/runs/{run_id}/report.html", "/console/runbooks/approvals",
                 "/console/runbooks?format=json"):  # fmt: skip
        response = page.goto(agent.url + path)
        assert response.status == 403, path
        assert "web1" not in page.content() and "web-restart" not in page.content(), path
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")  # the requester's own valid token
    before = len(api(agent, "GET", "/api/v1/runbooks/runs")[1])
    forged = page.request.post(f"{agent.url}/console/runbooks/web-inspect/run",
                               form={"csrf_token": csrf, "targets": "web"})  # fmt: skip
    assert forged.status == 403
    assert len(api(agent, "GET", "/api/v1/runbooks/runs")[1]) == before


def test_forms_without_their_csrf_token_are_refused(page_of: Any, agent: Agent) -> None:
    page = page_of("lisi")
    before = len(api(agent, "GET", "/api/v1/runbooks/runs")[1])
    page.goto(f"{agent.url}/console/runbooks/web-inspect")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.value = 'forged')")
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.request.method == "POST" else None)
    with page.expect_navigation():
        page.click("button:text-is('Start the run')")
    assert 403 in statuses
    assert page.request.post(f"{agent.url}/console/runbooks/web-inspect/run", form={"targets": "web"}).status == 403
    assert len(api(agent, "GET", "/api/v1/runbooks/runs")[1]) == before
    approval = page.request.post(f"{agent.url}/console/runbooks/approvals/1", form={"decision": "approve"})
    assert approval.status == 403
