"""Pure logic of the desk's console forms: the new-ticket form's fields become the intake's
TicketRequest with errors mapped back to the field that caused them; the portal's request names the
signed-in requester, never a form field; the vendored htmx is the pinned release."""

from __future__ import annotations

import hashlib

from opsagent.desk.content import DEFAULT_CATEGORIES, DeskContent, RoutingFile
from opsagent.web import desk_form, queries_desk
from opsagent.web.render import STATIC

HTMX_SHA256 = "e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447"  # npm htmx.org@2.0.4 dist/htmx.min.js


def _values(**given: str) -> dict[str, str]:
    return desk_form.values_of(given)


def test_a_chosen_requester_and_a_category_pair_build_the_request() -> None:
    req, errors = desk_form.build(_values(title=" VPN down ", requester_id="7", category="network/vpn", impact="high",
                                          urgency="low", assets="core-sw1", channel="phone"))  # fmt: skip
    assert errors == {} and req is not None
    assert req.title == "VPN down" and req.requester.id == 7 and (req.category, req.subcategory) == ("network", "vpn")
    assert req.channel == "phone" and req.impact == "high" and req.team is None


def test_a_new_requester_takes_the_calls_channel_as_preferred() -> None:
    req, errors = desk_form.build(_values(title="x", category="other", req_name="孙八", req_phone="139 0000 1111",
                                          channel="email"))  # fmt: skip
    assert errors == {} and req is not None
    assert req.requester.name == "孙八" and req.requester.preferred_channel == "email" and req.requester.id is None


def test_errors_are_reported_per_field() -> None:
    req, errors = desk_form.build(_values(channel="fax", impact="huge", req_email="x" * 400))
    assert req is None
    assert {"title", "category", "channel", "impact", "req_email"} <= set(errors)
    req, errors = desk_form.build(_values(title="x", category="other"))
    assert req is None and set(errors) == {"requester"}
    for bad in ("12345678901", "7; drop", "-1"):  # not an id: refused on the requester field
        assert set(desk_form.build(_values(title="x", category="other", requester_id=bad))[1]) == {"requester"}
    assert desk_form.intake_field("assets: 'nope' matches no asset") == "assets"
    assert desk_form.intake_field("requester.id: no requester #9") == "requester"
    assert desk_form.intake_field("something else") == "form"


def test_unknown_form_fields_are_ignored_and_values_bounded() -> None:
    values = desk_form.values_of({"title": "t" * 20_000, "actor": "admin", "csrf_token": "x"})
    assert "actor" not in values and len(values["title"]) == desk_form.MAX_FIELD


def test_the_portal_request_is_the_signed_in_requesters() -> None:
    req, errors = desk_form.portal_request(_values(title="打印机", category="hardware", description="卡纸"),
                                           "wangwu@example.com", "王五", "zh")  # fmt: skip
    assert errors == {} and req is not None
    assert req.channel == "portal" and req.requester.email == "wangwu@example.com" and req.requester.id is None
    assert req.requester.preferred_channel == "portal" and req.symptom == "卡纸"
    assert desk_form.portal_request(_values(), "wangwu@example.com", "王五", "en")[1].keys() >= {"title", "category"}


def test_category_choices_list_each_category_and_its_subcategories() -> None:
    desk = DeskContent(DEFAULT_CATEGORIES, RoutingFile())
    assert ("network", "网络") in desk_form.category_choices(desk, "zh")
    assert desk_form.teams(desk) == ["service-desk"]


def test_the_vendored_htmx_is_the_pinned_release() -> None:
    data = (STATIC / "vendor" / "htmx-2.0.4.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == HTMX_SHA256
    assert (STATIC / "vendor" / "htmx-LICENSE.txt").read_text().startswith("Zero-Clause BSD")


def test_the_queue_shows_the_running_clock_due_first() -> None:
    clocks = {
        "response": {"state": "stopped", "due": "2026-12-07T01:00:00+00:00", "breached": False},
        "resolution": {"state": "running", "due": "2026-12-07T09:00:00+00:00", "breached": False},
        "onsite": {"state": "running", "due": "2026-12-07T05:00:00+00:00", "breached": True},
    }
    shown = queries_desk._next_clock(clocks)
    assert shown is not None and shown["clock"] == "onsite" and shown["breached"] is True
    assert queries_desk._next_clock({"response": {"state": "met"}}) is None and queries_desk._next_clock({}) is None


def test_a_portal_account_without_a_usable_email_is_a_form_error() -> None:
    req, errors = desk_form.portal_request(_values(title="x", category="other"), "x" * 400, "王五", "zh")
    assert req is None and set(errors) == {"form"}
