"""Pure logic of the desk: contract targets and calendar through the SLA clocks (hand-computed due
times), ticket-type profiles, the handover and on-site clocks, coverage flags, routing, masking."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from opsagent.desk.content import Facts, load_desk
from opsagent.desk.contracts import EXPIRED, OUT_OF_SCOPE, cover
from opsagent.desk.privacy import mask_email, mask_phone, mask_text
from opsagent.errors import ConfigError
from opsagent.sla.clock import compute, compute_reference
from opsagent.sla.policy import load_policy
from tests.desk.helpers import REPO, content_root

CST = ZoneInfo("Asia/Shanghai")


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST).astimezone(UTC)  # type: ignore[misc]


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return load_policy([content_root(tmp_path_factory.mktemp("root"))])


def test_a_contract_with_4h_onsite_on_its_own_calendar_gives_hand_computed_due_times(policy) -> None:  # type: ignore[no-untyped-def]
    budgets = policy.budgets("P3", "external", False, "incident", "ACME-2026")
    assert budgets == {"response": 1800.0, "resolution": 2 * 11 * 3600.0, "onsite": 4 * 3600.0}
    calendar = policy.profile_calendar("P3", "incident", "ACME-2026")
    opened = cst(2026, 4, 30, 18, 0)  # Thursday 18:00; Friday 1 May is the contract's holiday
    events = [{"at": opened, "kind": "opened"}]
    for compute_fn in (compute, compute_reference):
        clocks = compute_fn(events, budgets, calendar, opened + timedelta(minutes=1))
        assert clocks["response"].due == cst(2026, 4, 30, 18, 30)
        # 2 h on Thursday (18–20), none on the holiday, 2 h on Saturday from 08:00
        assert clocks["onsite"].due == cst(2026, 5, 2, 10, 0)
        # 22 h: Thu 2 h, Sat 11 h (08–12, 13–20), Sunday off, Mon 08–12 4 h + 13:00 + 5 h
        assert clocks["resolution"].due == cst(2026, 5, 4, 18, 0)
    arrived = [*events, {"at": cst(2026, 5, 2, 9, 30), "kind": "on_site"}]
    clocks = compute(arrived, budgets, calendar, cst(2026, 5, 3, 12, 0))
    assert clocks["onsite"].state == "stopped" and clocks["onsite"].met
    assert clocks["onsite"].used == pytest.approx(2 * 3600 + 1.5 * 3600)
    assert clocks["response"].breached  # nobody acknowledged within 30 min


def test_without_a_contract_the_policy_and_the_requester_type_decide(policy) -> None:  # type: ignore[no-untyped-def]
    internal = policy.budgets("P3", "internal")
    external = policy.budgets("P3", "external")
    assert (internal["response"], external["response"]) == (3600.0, 7200.0)  # 1 h / 2 h of the norms
    assert internal["handover"] == 24 * 3600.0 and "onsite" not in internal
    assert policy.calendar_name("P3", "incident", "") == "business"


def test_a_service_request_has_its_own_profile(policy) -> None:  # type: ignore[no-untyped-def]
    request = policy.budgets("P2", "internal", False, "service_request")
    incident = policy.budgets("P2", "internal", False, "incident")
    assert request["resolution"] == 2 * 8 * 3600.0 and incident["resolution"] == 24 * 3600.0
    assert request["handover"] == 8 * 3600.0 and "assessment" not in request


def test_handover_stops_when_a_person_or_the_team_takes_it(policy) -> None:  # type: ignore[no-untyped-def]
    budgets = policy.budgets("P3", "internal", False, "service_request")
    calendar = policy.profile_calendar("P3", "service_request")
    opened = cst(2026, 6, 1, 9, 0)  # Monday
    events = [{"at": opened, "kind": "opened"}, {"at": cst(2026, 6, 1, 11, 0), "kind": "assigned"}]
    for fn in (compute, compute_reference):
        clocks = fn(events, budgets, calendar, cst(2026, 6, 2, 9, 0))
        assert clocks["handover"].state == "stopped" and clocks["handover"].used == 7200.0
        assert clocks["response"].state == "running"  # assigning is not answering the requester
    acked = [{"at": opened, "kind": "opened"}, {"at": cst(2026, 6, 1, 9, 20), "kind": "acknowledged"}]
    clocks = compute(acked, budgets, calendar, cst(2026, 6, 1, 10, 0))
    assert clocks["handover"].state == "stopped" and clocks["response"].met


def test_contract_coverage_flags_expired_and_out_of_scope(policy) -> None:  # type: ignore[no-untyped-def]
    today = date(2026, 6, 1)
    assert cover(policy.contracts, "ACME 有限公司", "hardware", set(), today).contract == "ACME-2026"
    scope = cover(policy.contracts, "ACME 有限公司", "software", set(), today)
    assert (scope.contract, scope.flags, scope.about) == (None, (OUT_OF_SCOPE,), "ACME-2026")
    late = cover(policy.contracts, "ACME 有限公司", "network", set(), date(2027, 1, 1))
    assert (late.contract, late.flags) == (None, (EXPIRED,))
    assert cover(policy.contracts, "旧客户", "other", set(), today).flags == (EXPIRED,)
    assert cover(policy.contracts, "nobody", "other", set(), today).flags == ()


def test_routing_rules_pick_the_team() -> None:
    desk = load_desk([REPO])
    route = desk.route
    assert route(Facts("network", "vpn", "incident", frozenset(), None)) == "network"
    assert route(Facts("software", "", "incident", frozenset({"databases"}), None)) == "dba"
    assert route(Facts("hardware", "printer", "incident", frozenset(), None)) == "desktop-support"
    assert route(Facts("other", "", "service_request", frozenset(), None)) == "service-desk"
    assert desk.check_category("hardware", "printer") is None
    assert "not a sub-category" in (desk.check_category("hardware", "vpn") or "")


def test_bad_contract_content_is_reported_with_file_and_line(tmp_path: Path) -> None:
    root = content_root(tmp_path)
    (root / "desk" / "contracts.yaml").write_text(
        "contracts:\n  X:\n    organisation: A\n    valid_from: 2026-01-01\n    valid_until: 2026-12-31\n"
        "    calendar: nope\n    targets: {response: 1h, resolution: 2h}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_policy([root])
    assert str(caught.value.issues[0]).startswith(f"{root / 'desk' / 'contracts.yaml'}:6: contracts.X.calendar")


def test_masking() -> None:
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("+86 138-1234-1234") == "138****1234"
    assert mask_email("zhang.san@example.com") == "z***@example.com"
    assert mask_text("call 13812341234 or zhang@example.com") == "call 138****1234 or z***@example.com"
    assert mask_phone(None) == "" and mask_email("") == ""
