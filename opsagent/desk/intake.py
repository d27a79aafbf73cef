"""The one ticket path. Every channel — the CLI, the JSON API, the email channel still to come — builds a
:class:`TicketRequest` and calls :func:`open_ticket`; a channel only fetches and parses (Zammad-style
drivers). The ticket is an incident row (``source`` = the channel, ``type`` = incident or
service_request) with its opened event, its service record and its intake details, written in one
transaction; its SLA clocks, escalation, reports and follow-up are those of every incident.

What the desk decides here, in order: the requester (looked up by id, email, phone or name, else
created), the affected assets (an inventory selector), the priority (impact × urgency through the
policy's matrix), the responsible team (routing rules), and the service contract that covers the ticket
(its targets then drive the clocks; out of scope or expired: flagged, never refused).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, insert
from sqlalchemy.exc import IntegrityError

from opsagent.desk import records
from opsagent.desk.content import DeskContent, Facts
from opsagent.desk.contracts import Coverage, cover
from opsagent.errors import OpsAgentError
from opsagent.incidents.model import EventKind, Status
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.store import schema
from opsagent.store.engine import Store, now

MAX_TEXT = 10_000
Level = Literal["high", "medium", "low"]
DEFAULT_PRIORITY = "P3"


class IntakeError(OpsAgentError):
    """A ticket the desk cannot open as asked (unknown category, no such requester …): the caller's
    input, reported as a 400 / exit 2."""


class RequesterSpec(BaseModel):
    """Who calls: looked up by ``id``, else ``email``, else ``phone``, else ``name``; created from these
    fields when no record matches (a name is then required)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: int | None = Field(default=None, ge=1, le=2**31)
    name: str | None = Field(default=None, min_length=1, max_length=255)
    phone: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)
    department: str = Field(default="", max_length=255)
    organisation: str | None = Field(default=None, max_length=255)
    type: Literal["internal", "external"] | None = None
    language: Literal["zh", "en"] = "zh"
    preferred_channel: Literal["phone", "email", "portal", "api"] | None = None


class TicketRequest(BaseModel):
    """A call logged at the desk (the body of ``POST /api/v1/tickets``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=500)
    channel: Literal["phone", "email", "portal", "api"] = "api"
    type: Literal["incident", "service_request"] = "incident"
    requester: RequesterSpec
    category: str = Field(min_length=1, max_length=16)
    subcategory: str = Field(default="", max_length=64)
    impact: Level | None = None
    urgency: Level | None = None
    assets: str = Field(default="", max_length=1000, description="inventory selector of the affected assets")
    symptom: str = Field(default="", max_length=MAX_TEXT)
    request: str = Field(default="", max_length=MAX_TEXT, description="what the user asked for")
    promises: str = Field(default="", max_length=MAX_TEXT, description="what the desk promised")
    description: str = Field(default="", max_length=MAX_TEXT)
    team: str | None = Field(default=None, min_length=1, max_length=255, description="overrides routing")


# selector → [(asset name, its groups)]; raises SelectorError for a bad selector
AssetResolver = Callable[[str], list[tuple[str, frozenset[str]]]]
# a channel's own rows, written in the ticket's transaction: (conn, incident id, requester record)
Within = Callable[[Connection, int, dict[str, Any]], None]


@dataclass(frozen=True)
class Opened:
    id: int
    priority: str
    team: str
    contract: str | None
    flags: tuple[str, ...]
    requester_id: int
    requester_created: bool

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "priority": self.priority, "team": self.team, "contract": self.contract,
                "flags": list(self.flags), "requester_id": self.requester_id,
                "requester_created": self.requester_created}  # fmt: skip


def open_ticket(
    store: Store,
    policy: ServiceLevelPolicy,
    desk: DeskContent,
    req: TicketRequest,
    actor: str,
    resolve_assets: AssetResolver | None = None,
    at: datetime | None = None,
    within: Within | None = None,
) -> Opened:
    """Open the ticket; ``actor`` is who logged it (the authenticated identity, never the body).
    ``within`` writes a channel's bookkeeping in the same transaction (the email channel's ledger)."""
    from opsagent.knowledge.suggest import any_published, on_opened

    for retry in (False, True):
        try:
            with store.transaction() as conn:
                opened = open_in(conn, store, policy, desk, req, actor, resolve_assets, at, within)
                suggest = any_published(conn)  # asked here: an empty knowledge base costs no connection of its own
            break
        except IntegrityError:
            if retry:
                raise
            # two calls recorded the same new requester (email) at once: the other won, this one finds it
    if suggest:
        on_opened(store, opened.id)  # after the ticket's own commit: never holds it up
    return opened


def open_in(
    conn: Connection,
    store: Store,
    policy: ServiceLevelPolicy,
    desk: DeskContent,
    req: TicketRequest,
    actor: str,
    resolve_assets: AssetResolver | None = None,
    at: datetime | None = None,
    within: Within | None = None,
) -> Opened:
    """:func:`open_ticket` inside the caller's transaction (a channel that commits many tickets at once);
    the caller runs the knowledge suggestions (``on_opened``) after its commit."""
    problem = desk.check_category(req.category, req.subcategory)
    if problem is not None:
        raise IntakeError(f"category: {problem}")
    assets: list[tuple[str, frozenset[str]]] = []
    if req.assets:
        if resolve_assets is None:
            raise IntakeError("assets: no inventory to resolve the selector against")
        assets = resolve_assets(req.assets)
        if not assets:
            raise IntakeError(f"assets: {req.assets!r} matches no asset")
    moment = at or now()
    groups = frozenset().union(*(g for _, g in assets)) if assets else frozenset()
    priority = policy.priority_for(req.impact, req.urgency) or DEFAULT_PRIORITY
    person, created = _requester(conn, req.requester)
    organisation = person.get("organisation")
    facts = Facts(req.category, req.subcategory, req.type, groups, organisation)
    team = req.team or desk.route(facts)
    local_day = moment.astimezone(policy.built_calendars[policy.default_calendar].tz).date()
    coverage = cover(policy.contracts, organisation, req.category, groups, local_day)
    incident_id = _insert(conn, req, person, priority, team, coverage, [a for a, _ in assets], actor, moment)
    if created:
        store.audit(conn, actor, "desk.requester.add", f"requester:{person['id']}", {"via": req.channel})
    if within is not None:
        within(conn, incident_id, person)
    return Opened(incident_id, priority, team, coverage.contract, coverage.flags, person["id"], created)


def _requester(conn: Connection, spec: RequesterSpec) -> tuple[dict[str, Any], bool]:
    try:
        for ref in (str(spec.id) if spec.id else None, spec.email, spec.phone, spec.name):
            if ref:
                found = records.find(conn, ref)
                if found is not None:
                    return found, False
        if spec.id:
            raise IntakeError(f"requester.id: no requester #{spec.id}")
        if not spec.name:
            raise IntakeError("requester: no record matches; a name is needed to create one")
        person = records.RequesterIn(
            name=spec.name, phone=spec.phone, email=spec.email, department=spec.department,
            organisation=spec.organisation, type=spec.type, language=spec.language,
            preferred_channel=spec.preferred_channel or "phone",
        )  # fmt: skip
    except (ValueError, records.RecordError) as exc:
        raise IntakeError(f"requester: {exc}") from None
    rid = records.insert_requester(conn, person)
    found = records.find(conn, str(rid))
    assert found is not None
    return found, True


def _insert(
    conn: Connection,
    req: TicketRequest,
    person: dict[str, Any],
    priority: str,
    team: str,
    coverage: Coverage,
    assets: list[str],
    actor: str,
    at: datetime,
) -> int:
    labels = {"category": req.category, "team": team, "type": req.type, "channel": req.channel}
    if req.subcategory:
        labels["subcategory"] = req.subcategory
    # constant statements with parameters: compiled once, no per-ticket statement building
    new = conn.execute(_INCIDENT, {
        "fingerprint": f"ticket-{uuid.uuid4().hex}", "alertname": f"{req.category}/{req.subcategory}".rstrip("/"),
        "source": req.channel, "status": Status.OPEN.value, "title": req.title, "description": req.description,
        "severity": "", "priority": priority, "category": req.category, "requester_type": person["type"],
        "asset": assets[0] if assets else None, "resolve_policy": "manual", "labels": labels, "annotations": {},
        "value": None, "count": 1, "flapping": False, "suppressed": [], "opened_at": at, "last_fired_at": at,
        "updated_at": at, "type": req.type, "team": team, "contract": coverage.contract,
    }).inserted_primary_key  # fmt: skip
    assert new is not None
    iid = int(new[0])
    events: list[dict[str, Any]] = [
        {"kind": EventKind.OPENED.value, "message": req.title,
         "detail": {"source": req.channel, "type": req.type, "requester": person["id"], "team": team,
                    "contract": coverage.contract, "logged_by": actor}},
    ]  # fmt: skip
    if coverage.flags:
        events.append({"kind": EventKind.FLAGGED.value, "message": "; ".join(coverage.notes),
                       "detail": {"flags": list(coverage.flags), "contract": coverage.about}})  # fmt: skip
    for e in events:
        conn.execute(_EVENT, {"incident_id": iid, "at": at, "actor": actor} | e)
    symptom = req.symptom or None
    conn.execute(_SERVICE, {"incident_id": iid, "impact": req.impact, "urgency": req.urgency, "symptom": symptom,
                            "sla": {}, "breached": False, "updated_at": at})  # fmt: skip
    conn.execute(_DETAILS, {"incident_id": iid, "requester_id": person["id"], "channel": req.channel,
                            "subcategory": req.subcategory, "request": req.request, "promises": req.promises,
                            "assets": assets, "flags": list(coverage.flags)})  # fmt: skip
    return iid


_INCIDENT = insert(schema.incidents)
_EVENT = insert(schema.incident_events)
_SERVICE = insert(schema.incident_service)
_DETAILS = insert(schema.ticket_details)


def inventory_resolver(inventory: Any) -> AssetResolver:
    """Selector → assets with their groups (and the groups' ancestors), over one loaded inventory."""
    from opsagent.inventory.resolve import GroupIndex
    from opsagent.inventory.selectors import select

    index = GroupIndex(inventory)

    def resolve(pattern: str) -> list[tuple[str, frozenset[str]]]:
        return [(a.name, index.groups_of(a)) for a in select(inventory, pattern, index)]

    return resolve
