"""Problems and on-site visits through the CLI and the JSON API of a real ``opsagent serve``: a ticket logged
at the desk, a visit planned over the API (the actor is the token's identity), approved, noted, signed off
after the ticket is resolved, the plan fetched as a PDF and read back with pdftotext; a problem created and
linked over the API; bad input is a 400, steps out of order a 409, writes without a token a 401."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsagent.store import Store, sqlite_url
from opsagent.store.inventory_repo import record_facts
from tests.desk.helpers import content_root
from tests.e2e.agent import opsagent, serving
from tests.e2e.test_sla_api import Api, printer_incident
from tests.knowledge.test_visits import CONTRACTS

TOKEN, ALICE = "work-s3cret-token", "work-alice-s3cret"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Path]]:
    home = tmp_path_factory.mktemp("work-api")
    root = content_root(home / "content")
    (root / "desk" / "contracts.yaml").write_text(CONTRACTS, encoding="utf-8")
    (home / "inventory.yaml").write_text(
        "assets: [{name: acme-sw1, kind: network, groups: [acme]}, {name: fin-printer, kind: host}]\n"
    )
    (home / "alice.token").write_text(ALICE + "\n")
    (home / "opsagent.yaml").write_text(
        f"seed_inventory: [inventory.yaml]\ncontent_roots: [{json.dumps(str(root))}]\ntimezone: Asia/Shanghai\n"
        f"api_tokens: {{alice: 'file:{home / 'alice.token'}'}}\n"
    )
    opsagent("inventory", "import", str(home / "inventory.yaml"), home=home, check=True)
    store = Store(sqlite_url(home / "opsagent.db"))
    record_facts(store, "acme-sw1", "ssh", {"os.version": "VRP 5.170", "firmware": "V200R019"})
    store.close()
    opsagent("desk", "org", "add", "ACME 有限公司", "--external", home=home, check=True)
    opsagent("desk", "org", "address", "ACME 有限公司", "上海市浦东新区张江路 88 号", home=home, check=True)
    with serving(home, {"OPSAGENT_API_TOKEN": TOKEN}) as (_proc, port, log):
        yield Api(port), home
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and TOKEN not in text and ALICE not in text


def _open(api: Api, fingerprint: str, summary: str) -> int:
    return printer_incident(api, TOKEN, fingerprint, summary)


def _raw(api: Api, path: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(api.base + path, timeout=60) as resp:
        return resp.status, resp.read(), resp.headers["Content-Type"]


def test_a_visit_over_the_api(served: tuple[Api, Path], tmp_path: Path) -> None:
    api, home = served
    call = [
        "-t",
        "交换机电源故障",
        "-c",
        "hardware",
        "--assets",
        "acme-sw1",
        "--name",
        "张三",
        "--phone",
        "13812341234",
    ]
    logged = opsagent("desk", "log", *call, "--org", "ACME 有限公司", "-o", "json", home=home, check=True)
    iid = json.loads(logged.stdout)["id"]
    plan = {"engineers": ["李工"], "date": "2026-12-10T09:30:00+08:00", "tools": ["万用表"],
            "spare_parts": ["电源模块 PWR-150"], "backup_media": ["U 盘"]}  # fmt: skip
    assert api.call("POST", f"/api/v1/incidents/{iid}/visits", plan)[0] == 401
    status, body = api.call("POST", f"/api/v1/incidents/{iid}/visits", plan | {"date": "2026-12-10T09:30"}, ALICE)
    assert status == 400 and "date" in body["error"]  # a time without its zone
    status, body = api.call("POST", f"/api/v1/incidents/{iid}/visits", plan | {"created_by": "mallory"}, ALICE)
    assert status == 400  # nobody names who they are
    assert api.call("POST", "/api/v1/incidents/999999/visits", plan, ALICE)[0] == 404
    status, visit = api.call("POST", f"/api/v1/incidents/{iid}/visits", plan, token=ALICE)
    assert status == 201, visit
    vid = visit["id"]
    assert (
        visit["created_by"] == "alice"
        and visit["site"] == "上海市浦东新区张江路 88 号"
        and visit["contact"] == "王经理"
    )
    assert "firmware: V200R019" in visit["checklist"]["software"] and visit["coverage"]["contract"] == "ACME-2026"

    status, body = api.call("POST", f"/api/v1/visits/{vid}/note", {"message": "到场"}, token=ALICE)
    assert status == 409 and "planned" in body["error"]  # the plan is approved first
    status, visit = api.call("POST", f"/api/v1/visits/{vid}/approve", {"by": "王经理"}, token=ALICE)
    assert status == 200 and visit["approved_by"] == "王经理" and visit["status"] == "approved"
    assert visit["notes"][-1]["actor"] == "alice"  # who recorded the approval
    assert api.call("POST", f"/api/v1/visits/{vid}/note", {"message": ""}, token=ALICE)[0] == 400
    assert api.call("POST", f"/api/v1/visits/{vid}/note", {"message": "更换电源模块"}, token=ALICE)[0] == 200
    status, body = api.call("POST", f"/api/v1/visits/{vid}/signoff", {"by": "王经理"}, token=ALICE)
    assert status == 409 and "cannot signoff" in body["error"]  # the ticket is not resolved yet
    fix = {"cause": "电源模块损坏", "resolution_steps": "更换电源模块"}
    assert api.call("POST", f"/api/v1/incidents/{iid}/resolve", fix, token=TOKEN)[0] == 200
    bad = {"by": "王经理", "software": {"bad key!": "1"}}
    assert api.call("POST", f"/api/v1/visits/{vid}/signoff", bad, token=ALICE)[0] == 400
    done = {"by": "王经理", "comment": "设备运行正常", "software": {"firmware": "V200R020"}}
    status, visit = api.call("POST", f"/api/v1/visits/{vid}/signoff", done, token=ALICE)
    assert status == 200 and visit["status"] == "signed_off" and visit["signed_off_by"] == "王经理"
    assert api.call("GET", f"/api/v1/incidents/{iid}/visits")[1][0]["id"] == vid
    asset = api.call("GET", "/api/v1/assets/acme-sw1")[1]
    assert "V200R020" in json.dumps(asset, ensure_ascii=False)  # the version left on site, on the asset

    status, pdf, kind = _raw(api, f"/api/v1/visits/{vid}/report?lang=zh&format=pdf")
    assert status == 200 and kind == "application/pdf" and pdf.startswith(b"%PDF")
    (tmp_path / "plan.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(tmp_path / "plan.pdf"), "-"], capture_output=True,
                          text=True, check=True, timeout=120).stdout.replace(" ", "")  # fmt: skip
    for term in ("维修计划书", "上海市浦东新区张江路88号", "王经理", "V200R020", "用户签字确认"):
        assert term in text, term
    assert api.call("GET", f"/api/v1/visits/{vid}/report?format=docx")[0] == 400
    shown = opsagent("visit", "show", str(vid), "-o", "json", home=home, check=True)
    assert json.loads(shown.stdout)["software_left"] == {"firmware": "V200R020"}


def test_problems_over_the_api(served: tuple[Api, Path]) -> None:
    api, _home = served
    ids = [_open(api, f"wk-{n}", "打印队列卡住") for n in range(3)]
    for iid in ids[:2]:
        fix = {"cause": "Spooler", "resolution_steps": "restart"}
        assert api.call("POST", f"/api/v1/incidents/{iid}/resolve", fix, token=TOKEN)[0] == 200
    found = api.call("GET", "/api/v1/problems/suggest?days=30")[1]
    assert [g["incidents"] for g in found if g.get("alertname") == "PrintQueueStuck"] == [ids]
    assert api.call("POST", "/api/v1/problems", {"title": "x", "incidents": [999999]}, token=ALICE)[0] == 404
    assert api.call("POST", "/api/v1/problems", {"title": ""}, token=ALICE)[0] == 400
    status, problem = api.call("POST", "/api/v1/problems", {"title": "打印队列反复卡住", "incidents": ids[:2]}, ALICE)
    assert status == 201 and problem["created_by"] == "alice" and problem["status"] == "open"
    pid = problem["id"]
    status, body = api.call("POST", f"/api/v1/problems/{pid}/link", {"incidents": [ids[2]]}, token=ALICE)
    assert status == 200 and body["linked"] == [ids[2]]
    change = {"root_cause": "驱动版本过旧", "status": "known_error"}
    status, problem = api.call("POST", f"/api/v1/problems/{pid}", change, token=ALICE)
    assert status == 200 and problem["changed"] and problem["status"] == "known_error"
    assert [i["id"] for i in problem["incidents"]] == ids
    assert api.call("POST", f"/api/v1/problems/{pid}", {"status": "bogus"}, token=ALICE)[0] == 400
    assert api.call("GET", "/api/v1/problems?status=known_error")[1][0]["id"] == pid
    assert api.call("GET", "/api/v1/problems/abc")[0] == 400
    assert api.call("GET", "/api/v1/problems/424242")[0] == 404
    period = api.call("GET", "/api/v1/reports/period?from=2000-01-01&to=2100-01-01")[1]
    assert [p["id"] for p in period["problems"]["found"]] == [pid] and period["problems"]["carried"] == []
    report = api.call("GET", "/api/v1/kb/report?days=30")[1]
    assert "articles" in report and "uncovered" in report
