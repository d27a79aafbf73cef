"""On-site visits end to end through the CLI on real stores (SQLite and PostgreSQL): planned from a ticket
(site = the organisation's address, software from the asset's facts, contract and warranty status), approved
by the customer's contact before any progress note, signed off once the ticket is resolved with the software
left recorded on the asset, and the plan printed as a PDF read back with pdftotext."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from opsagent.cli import cli
from opsagent.desk import records
from opsagent.desk.content import load_desk
from opsagent.desk.intake import TicketRequest, inventory_resolver, open_ticket
from opsagent.incidents import repo as incidents
from opsagent.inventory.model import Inventory
from opsagent.sla.policy import load_policy
from opsagent.store import Store
from opsagent.store.inventory_repo import current_facts, fact_history, load_inventory, record_facts, save_inventory
from tests.desk.helpers import content_root

pytestmark = pytest.mark.peer

CONTRACTS = """\
contracts:
  ACME-2026:
    organisation: ACME 有限公司
    valid_from: 2026-01-01
    valid_until: 2099-12-31
    targets: {response: 30m, resolution: 2wd, onsite: 4h}
    warranty:
      - {assets: acme-sw1, kind: warranty, until: 2099-06-30}
      - {assets: pc-01, kind: maintenance, until: 2020-01-01}
    contacts:
      - {name: 王经理, role: IT 主管, phone: "13900000000"}
"""


def ticket_with_asset(store: Store, tmp_path: Path) -> tuple[int, Path]:
    """A content root with the ACME contract, an agent config on it, and a ticket ACME raised on acme-sw1."""
    root = content_root(tmp_path / "content")
    (root / "desk" / "contracts.yaml").write_text(CONTRACTS, encoding="utf-8")
    config = tmp_path / "opsagent.yaml"
    config.write_text(f"content_roots: [{json.dumps(str(root))}]\nseed_inventory: []\ntimezone: Asia/Shanghai\n")
    inventory = Inventory.model_validate({"assets": {
        "acme-sw1": {"name": "acme-sw1", "kind": "network", "groups": ["acme"]},
        "pc-01": {"name": "pc-01", "kind": "host"}}})  # fmt: skip
    save_inventory(store, inventory)
    record_facts(store, "acme-sw1", "ssh", {"os.version": "VRP 5.170", "firmware": "V200R019", "cpu.count": 4})
    records.add_organisation(store, "ACME 有限公司", "external", "", "t", address="上海市浦东新区张江路 88 号")
    records.add_requester(
        store, records.RequesterIn(name="张三", phone="13812341234", organisation="ACME 有限公司"), "t"
    )
    req = TicketRequest.model_validate({"title": "交换机电源故障", "channel": "phone", "category": "hardware",
                                        "assets": "acme-sw1", "requester": {"phone": "13812341234"}})  # fmt: skip
    opened = open_ticket(store, load_policy([root]), load_desk([root]), req, "alice",
                         inventory_resolver(load_inventory(store)))  # fmt: skip
    return opened.id, config


def run(store: Store, config: Path, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, ["--store", store.url, "--config", str(config), *args])
    assert result.exit_code == code, result.output
    return result


def test_a_visit_from_plan_to_signoff(kb_store: Store, tmp_path: Path) -> None:
    iid, config = ticket_with_asset(kb_store, tmp_path)
    planned = run(kb_store, config, "visit", "plan", str(iid), "-e", "李工", "-e", "王工", "--date", "2026-12-10 09:30",
                  "--tool", "万用表", "--part", "电源模块 PWR-150", "--backup", "U 盘 32 GB", "-o", "json")  # fmt: skip
    visit = json.loads(planned.output)
    vid = str(visit["id"])
    assert visit["status"] == "planned" and visit["engineers"] == ["李工", "王工"]
    assert visit["site"] == "上海市浦东新区张江路 88 号" and visit["organisation"] == "ACME 有限公司"
    assert visit["contact"] == "王经理" and visit["asset"] == "acme-sw1"
    assert visit["planned_for"] == "2026-12-10T01:30:00+00:00"  # 09:30 in Shanghai
    assert visit["checklist"] == {
        "tools": ["万用表"],
        "spare_parts": ["电源模块 PWR-150"],
        "backup_media": ["U 盘 32 GB"],
        "software": ["firmware: V200R019", "os.version: VRP 5.170"],  # the version facts, not cpu.count
    }
    cov = visit["coverage"]
    assert (cov["contract"], cov["valid"]) == ("ACME-2026", True)
    assert [(w["assets"], w["valid"]) for w in cov["warranty"]] == [("acme-sw1", True)]  # only the asset's

    refused = run(kb_store, config, "visit", "note", vid, "-m", "到场", code=1)
    assert "cannot note visit" in refused.output and "planned" in refused.output  # not before the approval
    run(kb_store, config, "visit", "approve", vid, "--by", "王经理", "--comment", "同意周四上午")
    run(kb_store, config, "visit", "approve", vid, "--by", "王经理", code=1)  # once
    run(kb_store, config, "visit", "note", vid, "-m", "已到场，更换电源模块")
    early = run(kb_store, config, "visit", "signoff", vid, "--by", "王经理", code=1)
    assert "cannot signoff incident" in early.output  # the ticket is not resolved yet
    incidents.act(kb_store, iid, "resolve", "李工", cause="电源模块损坏", resolution_steps="更换电源模块")
    run(kb_store, config, "visit", "signoff", vid, "--by", "王经理", "--software", "firmware=V200R020")

    shown = json.loads(run(kb_store, config, "visit", "show", vid, "-o", "json").output)
    assert shown["status"] == "signed_off" and shown["approved_by"] == "王经理"
    assert shown["signed_off_by"] == "王经理" and shown["software_left"] == {"firmware": "V200R020"}
    assert [n["kind"] for n in shown["notes"]] == ["planned", "approved", "note", "signed_off"]
    assert current_facts(kb_store, "acme-sw1")["visit.software.firmware"] == "V200R020"
    assert [c.new for c in fact_history(kb_store, "acme-sw1", "visit.software.firmware")] == ["V200R020"]
    log = run(kb_store, config, "incident", "show", str(iid)).output
    assert "[visit #" in log and "更换电源模块" in log
    ticket = json.loads(run(kb_store, config, "incident", "show", str(iid), "-o", "json").output)
    assert [(v["id"], v["status"]) for v in ticket["visits"]] == [(int(vid), "signed_off")]
    audit = [a["action"] for a in kb_store.audit_log(50) if a["action"].startswith("visit.")]
    assert audit == ["visit.signoff", "visit.note", "visit.approve", "visit.plan"]

    en = run(kb_store, config, "visit", "report", vid, "--lang", "en").output
    assert "# On-site Service Plan" in en and "Checklist before leaving" in en and "V200R020" in en
    assert shutil.which("pdftotext"), "poppler-utils is missing: scripts/test.sh installs it"
    pdf = tmp_path / "plan.pdf"
    run(kb_store, config, "visit", "report", vid, "--lang", "zh", "--format", "pdf", "-o", str(pdf))
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True,
                          timeout=120).stdout.replace(" ", "")  # fmt: skip
    for term in ("维修计划书", "出差前准备清单", "上海市浦东新区张江路88号", "王经理", "电源模块PWR-150", "V200R019",
                 "V200R020", "ACME-2026", "用户签字确认"):  # fmt: skip
        assert term in text, term


def test_bad_input_is_a_clean_error(kb_store: Store, tmp_path: Path) -> None:
    iid, config = ticket_with_asset(kb_store, tmp_path)
    bad = run(kb_store, config, "visit", "plan", str(iid), "-e", "李工", "--date", "next week", code=2)
    assert "--date" in bad.output and "Traceback" not in bad.output
    bad = run(kb_store, config, "visit", "plan", str(iid), "-e", "\x07", "--date", "2026-12-10", code=2)
    assert "engineers" in bad.output
    missing = run(kb_store, config, "visit", "plan", str(iid + 99), "-e", "李工", "--date", "2026-12-10", code=1)
    assert f"no incident #{iid + 99}" in missing.output
    run(kb_store, config, "visit", "signoff", "1", "--by", "x", "--software", "firmware", code=2)
    run(kb_store, config, "visit", "show", "77", code=1)
    nowhere = run(
        kb_store, config, "visit", "plan", str(iid), "-e", "李工", "--date", "2026-12-10", "--asset", "x", code=1
    )
    assert "no asset 'x'" in nowhere.output
