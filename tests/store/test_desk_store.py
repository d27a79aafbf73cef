"""The desk against a real store (SQLite and PostgreSQL): tickets through the one ticket path, requester
records and their CSV import (Chinese headers, GBK, UTF-8 with BOM; hostile files), audit of bulk
reads, the SLA clocks and the period report of person-raised tickets beside alert-raised ones."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from opsagent.desk import records
from opsagent.desk.content import load_desk
from opsagent.desk.csvimport import import_file
from opsagent.desk.intake import IntakeError, TicketRequest, inventory_resolver, open_ticket
from opsagent.errors import ConfigError
from opsagent.incidents import repo as incident_repo
from opsagent.incidents.repo import AlertInput
from opsagent.inventory.model import Inventory
from opsagent.reports.period import load_stats
from opsagent.sla import service
from opsagent.sla.policy import load_policy
from opsagent.store import Store, schema
from opsagent.store.engine import as_utc
from opsagent.store.inventory_repo import load_inventory, save_inventory
from tests.desk.helpers import content_root

HEADER = "姓名,部门,电话,邮箱,类型,单位,资产\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return content_root(tmp_path / "content")


@pytest.fixture
def desk_store(store: Store) -> Store:
    inventory = Inventory.model_validate(
        {
            "groups": {"acme": {"name": "acme"}},
            "assets": {
                "acme-sw1": {"name": "acme-sw1", "kind": "network", "groups": ["acme"]},
                "pc-01": {"name": "pc-01", "kind": "host"},
            },
        }
    )
    save_inventory(store, inventory)
    return store


def _audit(store: Store, action: str) -> list[dict[str, Any]]:
    return [a for a in store.audit_log(1000) if a["action"] == action]


def _ticket(**over: Any) -> TicketRequest:
    body: dict[str, Any] = {"title": "交换机端口不通", "channel": "phone", "category": "network",
                            "requester": {"email": "zhang@acme.example"}}  # fmt: skip
    return TicketRequest.model_validate(body | over)


def test_a_call_becomes_a_ticket_under_the_contract_of_the_requester(desk_store: Store, root: Path) -> None:
    store = desk_store
    policy, desk = load_policy([root]), load_desk([root])
    records.add_organisation(store, "ACME 有限公司", "external", "", "alice")
    records.add_requester(store, records.RequesterIn(name="张三", email="Zhang@ACME.example", phone="13812341234",
                                                     organisation="ACME 有限公司"), "alice")  # fmt: skip
    resolver = inventory_resolver(load_inventory(store))
    at = datetime(2026, 4, 30, 10, 0, tzinfo=UTC)  # Thursday 18:00 in Shanghai
    opened = open_ticket(store, policy, desk, _ticket(assets="acme", impact="medium", urgency="medium",
                         symptom="端口灯灭", promises="明早上门"), "alice", resolver, at)  # fmt: skip
    assert (opened.contract, opened.team, opened.flags, opened.requester_created) == ("ACME-2026", "network", (), False)
    found = service.get(store, policy, opened.id, at + timedelta(minutes=1))
    assert found is not None
    assert (found["source"], found["type"], found["requester_type"], found["asset"]) == (
        "phone", "incident", "external", "acme-sw1")  # fmt: skip
    assert found["events"][0]["actor"] == "alice" and found["events"][0]["detail"]["contract"] == "ACME-2026"
    clocks = found["clocks"]
    assert clocks["onsite"].due == datetime(2026, 5, 2, 2, 0, tzinfo=UTC)  # Saturday 10:00 in Shanghai
    assert clocks["response"].budget == 1800.0
    # the same lifecycle as every incident: the SLA tick projects it, the engineer on site stops onsite
    service.tick(store, policy, at + timedelta(minutes=2))
    with store.engine.connect() as conn:
        sla = conn.execute(select(schema.incident_service.c.sla).where(
            schema.incident_service.c.incident_id == opened.id)).scalar_one()  # fmt: skip
    assert set(sla) == {"response", "resolution", "onsite"}
    # out of scope: flagged with an event, never refused; the default policy's targets apply
    other = open_ticket(store, policy, desk, _ticket(category="software", title="ERP 报错"), "alice", None, at)
    assert other.contract is None and other.flags == ("out_of_scope",)
    flagged = service.get(store, policy, other.id, at)
    assert flagged is not None and [e["kind"] for e in flagged["events"]] == ["opened", "flagged"]
    assert flagged["clocks"]["response"].budget == 7200.0  # external: 2 h


def test_a_new_caller_is_recorded_and_looked_up_next_time(desk_store: Store, root: Path) -> None:
    policy, desk = load_policy([root]), load_desk([root])
    first = open_ticket(desk_store, policy, desk, _ticket(
        type="service_request", category="software", subcategory="account", title="开通 VPN 账号",
        requester={"name": "李四", "phone": "139-0000-1111", "department": "财务部"}), "bob")  # fmt: skip
    assert first.requester_created and first.team == "app-support"
    again = open_ticket(desk_store, policy, desk, _ticket(requester={"phone": "13900001111"}), "bob")
    assert again.requester_id == first.requester_id and not again.requester_created
    with pytest.raises(IntakeError, match="category"):
        open_ticket(desk_store, policy, desk, _ticket(category="bogus"), "bob")
    with pytest.raises(IntakeError, match="requester"):
        open_ticket(desk_store, policy, desk, _ticket(requester={"email": "nobody@x.example"}), "bob")
    with pytest.raises(IntakeError, match="assets"):
        open_ticket(desk_store, policy, desk, _ticket(assets="no-such-*"), "bob",
                    inventory_resolver(load_inventory(desk_store)))  # fmt: skip
    person = records.get(desk_store, "李四", "carol")
    assert person is not None and [t["type"] for t in person["tickets"]] == ["incident", "service_request"]
    assert _audit(desk_store, "desk.requester.read")[0]["actor"] == "carol"


def test_a_ticket_opened_in_another_zone_is_stored_in_utc(desk_store: Store, root: Path) -> None:
    """10:00 in Shanghai is 02:00Z: the store keeps UTC whatever zone the caller's time is in."""
    policy, desk = load_policy([root]), load_desk([root])
    shanghai = timezone(timedelta(hours=8))
    opened = open_ticket(desk_store, policy, desk, _ticket(category="other", requester={"name": "赵六"}),
                         "alice", None, datetime(2026, 4, 30, 10, 0, tzinfo=shanghai))  # fmt: skip
    i = schema.incidents
    with desk_store.engine.connect() as conn:
        stored = conn.execute(select(i.c.opened_at, i.c.updated_at).where(i.c.id == opened.id)).one()
        later = conn.execute(select(func.count()).select_from(i).where(
            i.c.opened_at > datetime(2026, 4, 30, 9, 30, tzinfo=shanghai))).scalar_one()  # fmt: skip
    for value in stored:
        assert as_utc(value) == datetime(2026, 4, 30, 2, 0, tzinfo=UTC)
    assert later == 1  # 01:30Z: a comparison with a zoned time is made in UTC too


def test_period_report_splits_by_source_and_type(desk_store: Store, root: Path) -> None:
    policy, desk = load_policy([root]), load_desk([root])
    at = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    incident_repo.fire(desk_store, AlertInput("fp1", "NodeDown", {"severity": "critical", "asset": "pc-01"}, at=at))
    for kind, channel in (("incident", "phone"), ("service_request", "phone"), ("service_request", "email")):
        open_ticket(desk_store, policy, desk, _ticket(type=kind, channel=channel, category="other",
                    requester={"name": "王五"}), "alice", None, at)  # fmt: skip
    stats = load_stats(desk_store, policy, at - timedelta(days=1), at + timedelta(days=1), at + timedelta(hours=1))
    by = stats.summary()["by"]
    assert by["source"] == {"phone": 2, "rule": 1, "email": 1}
    assert by["type"] == {"service_request": 2, "incident": 2}
    assert by["contract"] == {}  # no contract covered these
    assert by["source_type"] == {"rule/incident": 1, "phone/incident": 1, "phone/service_request": 1,
                                 "email/service_request": 1}  # fmt: skip


def test_csv_import_with_chinese_headers_in_gbk_and_utf8_bom(desk_store: Store, tmp_path: Path) -> None:
    rows = (
        "张三,运维部,13812341234,zhang@acme.example,外部,ACME 有限公司,acme-sw1;pc-01\n"
        "李四,财务部,13900001111,,内部,,\n"
    )
    gbk = tmp_path / "people-gbk.csv"
    gbk.write_bytes((HEADER + rows).encode("gbk"))
    result = import_file(desk_store, gbk, "alice")
    assert (result.added, result.updated) == (2, 0)
    people = {p["name"]: p for p in records.list_requesters(desk_store, "alice")}
    assert people["张三"]["type"] == "external" and people["张三"]["organisation"] == "ACME 有限公司"
    assert {a["asset"] for a in people["张三"]["assets"]} == {"acme-sw1", "pc-01"}
    assert people["李四"]["type"] == "internal" and people["李四"]["department"] == "财务部"
    bom = tmp_path / "people-bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (HEADER + "张三,网络部,13812341234,ZHANG@acme.example,外部,,\n").encode())
    assert import_file(desk_store, bom, "alice").updated == 1
    assert records.get(desk_store, "zhang@acme.example", "alice")["department"] == "网络部"  # type: ignore[index]
    assert [a["detail"] for a in _audit(desk_store, "desk.requester.import")] == [
        {"added": 0, "updated": 1}, {"added": 2, "updated": 0}]  # fmt: skip
    assert _audit(desk_store, "desk.requester.list")[0]["detail"] == {"count": 2}


def test_a_bad_csv_row_changes_nothing_and_names_file_line_field(desk_store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "王五,IT,13800000000,wang@x.example,内部,,\n赵六,IT,not-a-phone,bad@,火星人,,\n"
                   "孙七,IT,,,内部,,no-such-asset\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        import_file(desk_store, bad, "alice")
    shown = [str(i) for i in caught.value.issues]
    assert f"{bad}:3: phone: Value error, not a phone number" in shown
    assert any(s.startswith(f"{bad}:3: email:") for s in shown)
    assert any(s.startswith(f"{bad}:3: type:") for s in shown)
    with pytest.raises(ConfigError) as caught:
        import_file(desk_store, _without_line_3(bad), "alice")
    assert [str(i) for i in caught.value.issues] == [
        f"{bad}:4: assets: no asset named 'no-such-asset' in the inventory"
    ]
    with desk_store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.requesters)).scalar() == 0
    header = tmp_path / "header.csv"
    header.write_text("姓名,血型\n张三,A\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown column"):
        import_file(desk_store, header, "alice")


def _without_line_3(path: Path) -> Path:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = "赵六,IT,,,内部,,\n"
    path.write_text("".join(lines), encoding="utf-8")
    return path


_CELL = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["内部", "外部", "13812341234", "a@b.example", "acme-sw1", "", '"', ",", "\n", "\x00", "姓名"]
)


@seed(2126)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    rows=st.lists(st.lists(_CELL, min_size=0, max_size=9), max_size=6),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
    raw=st.binary(max_size=40),
)
def test_csv_importer_fuzz_ends_in_rows_or_located_errors(
    desk_store: Store, tmp_path: Path, rows: list[list[str]], encoding: str, raw: bytes
) -> None:
    out = io.StringIO()
    csv.writer(out).writerows([["姓名", "电话", "邮箱", "类型", "单位", "资产"], *rows])
    path = tmp_path / "fuzz.csv"
    data = out.getvalue().encode(encoding, errors="replace") + raw
    path.write_bytes(data)
    try:
        import_file(desk_store, path, "fuzz", dry_run=True)
    except ConfigError as exc:
        assert exc.issues and all(str(i).startswith(str(path)) for i in exc.issues)


def test_reports_show_the_requester_masked_and_bulk_reads_are_audited(desk_store: Store, root: Path) -> None:
    from opsagent.reports.document import render
    from opsagent.reports.repair import build

    policy, desk = load_policy([root]), load_desk([root])
    opened = open_ticket(desk_store, policy, desk, _ticket(category="other", requester={
        "name": "赵六", "phone": "13812345678", "email": "zhao.liu@corp.example"}), "alice")  # fmt: skip
    found = service.get(desk_store, policy, opened.id)
    assert found is not None
    assert found["ticket"]["requester"] | {"id": 0} == {
        "id": 0, "name": "赵六", "phone": "138****5678", "email": "z***@corp.example", "department": "",
        "organisation": None, "type": "internal"}  # fmt: skip
    for lang in ("zh", "en"):
        text = render(build(found, lang, UTC), "md").decode()
        assert "138****5678" in text and "z***@corp.example" in text
        assert "13812345678" not in text and "zhao.liu" not in text
    records.list_requesters(desk_store, "dave", export=True)
    assert [(a["actor"], a["detail"]) for a in _audit(desk_store, "desk.requester.export")] == [("dave", {"count": 1})]


def test_a_requester_uses_only_assets_of_the_inventory(desk_store: Store) -> None:
    with pytest.raises(records.RecordError, match="no asset named 'nope'"):
        records.add_requester(desk_store, records.RequesterIn(name="甲", assets=["pc-01", "nope"]), "alice")
    added = records.add_requester(desk_store, records.RequesterIn(name="甲", assets=["pc-01"]), "alice")
    assert added["assets"] == [{"asset": "pc-01", "relation": "uses"}]
    assert [a["action"] for a in desk_store.audit_log(10)][:1] == ["desk.requester.add"]
