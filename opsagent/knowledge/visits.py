"""Field-service visits (现场服务) from a ticket: plan (维修计划书) → the customer's approval → progress notes
on site → the customer's sign-off (the incident's own sign-off, :func:`opsagent.sla.service.act`) with the
software versions left on site recorded against the asset (facts ``visit.software.*``, so the asset's fact
history says when each version went in).

The plan is built from what the store knows: the site is the requester organisation's address, the software
to bring are the asset's version facts (``os.version``, ``firmware``…), and the contract/warranty status is
taken from the service contracts (``desk/contracts.yaml``) as it stands on the day of planning.
"""

from __future__ import annotations

import re
from datetime import UTC, date
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Connection, insert, select, update

from opsagent.desk.contracts import Contract
from opsagent.errors import OpsAgentError
from opsagent.inventory.selectors import select as select_assets
from opsagent.knowledge.model import Name
from opsagent.sla import service
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now
from opsagent.store.inventory_repo import current_facts, load_inventory, record_facts

STATES = ("planned", "approved", "on_site", "signed_off")
V, N = schema.visits, schema.visit_notes
SOFTWARE = re.compile(r"(^os\.|version|firmware|release|^software\.)", re.IGNORECASE)
FACT_PREFIX = "visit.software."
COLLECTOR = "visit"
Item = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\x00-\x1f]+$")
]
Text = Annotated[str, StringConstraints(max_length=20_000, pattern=r"^[^\x00]*$")]
Component = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][\w.-]*$")]


class VisitError(OpsAgentError):
    """No such visit, or a step out of order (a note before the plan is approved…)."""


class PlanIn(BaseModel):
    """``visit plan`` / ``POST /api/v1/incidents/{id}/visits``."""

    model_config = ConfigDict(extra="forbid")
    engineers: list[Name] = Field(min_length=1, max_length=20)
    date: AwareDatetime
    site: Item | None = None  # default: the requester organisation's address
    organisation: Name | None = None  # default: the requester's organisation
    contact: Name | None = None  # default: the contract's first contact, else the requester
    asset: Name | None = None  # default: the ticket's asset
    tools: list[Item] = Field(default_factory=list, max_length=100)
    spare_parts: list[Item] = Field(default_factory=list, max_length=100)
    backup_media: list[Item] = Field(default_factory=list, max_length=100)
    purpose: Text = ""


class ApproveIn(BaseModel):
    """The customer's contact approved the plan (the person is named; who recorded it is the identity)."""

    model_config = ConfigDict(extra="forbid")
    by: Name
    comment: Text = ""


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000,
                                              pattern=r"^[^\x00]*$")]  # fmt: skip


class SignoffIn(BaseModel):
    """The customer signs off the visit; ``software``: component → version left on site."""

    model_config = ConfigDict(extra="forbid")
    by: Name
    comment: Text = ""
    software: dict[Component, Item] = Field(default_factory=dict, max_length=50)


def _incident(conn: Connection, incident_id: int) -> Any:
    row = conn.execute(select(schema.incidents).where(schema.incidents.c.id == incident_id)).first()
    if row is None:
        raise VisitError(f"no incident #{incident_id}")
    return row


def _requester(conn: Connection, incident_id: int) -> Any:
    d, r, o = schema.ticket_details.c, schema.requesters.c, schema.organisations.c
    query = (
        select(r.name, o.name.label("organisation"), o.address)
        .select_from(schema.ticket_details.join(schema.requesters, r.id == d.requester_id)
                     .outerjoin(schema.organisations, o.id == r.organisation_id))
        .where(d.incident_id == incident_id)
    )  # fmt: skip
    return conn.execute(query).first()


def _address(conn: Connection, organisation: str | None) -> str:
    o = schema.organisations.c
    if not organisation:
        return ""
    return str(conn.execute(select(o.address).where(o.name == organisation)).scalar() or "")


def software_of(facts: dict[str, Any]) -> list[str]:
    """The version facts of an asset, as ``key: value`` lines (what to bring, and back up before changing)."""
    return [f"{k}: {v}" for k, v in sorted(facts.items()) if SOFTWARE.search(k) and v not in (None, "", [], {})]


def coverage(policy: ServiceLevelPolicy, organisation: str | None, contract: str | None, asset: str | None,
             matches: Any, today: date) -> dict[str, Any]:  # fmt: skip
    """The contract and warranty status shown on the plan: the ticket's contract, else the organisation's."""
    contracts = {n: c for n, c in policy.contracts.items() if isinstance(c, Contract)}
    name = contract if contract in contracts else None
    if name is None:
        name = next((n for n, c in contracts.items() if organisation and c.organisation == organisation), None)
    if name is None:
        return {"contract": None, "valid": False, "warranty": [], "contacts": []}
    c = contracts[name]
    warranty = [
        {"kind": w.kind, "assets": w.assets, "until": w.until.isoformat(), "valid": today <= w.until}
        for w in c.warranty
        if asset is None or matches(w.assets, asset)
    ]
    return {
        "contract": name,
        "organisation": c.organisation,
        "valid_from": c.valid_from.isoformat(),
        "valid_until": c.valid_until.isoformat(),
        "valid": c.valid_from <= today <= c.valid_until,
        "warranty": warranty,
        "contacts": [x.model_dump() for x in c.contacts],
    }


def _matcher(store: Store) -> Any:
    inventory = load_inventory(store)

    def matches(selector: str, asset: str) -> bool:
        try:
            return any(a.name == asset for a in select_assets(inventory, selector))
        except OpsAgentError:
            return False

    return matches


def plan(store: Store, policy: ServiceLevelPolicy, incident_id: int, body: PlanIn, actor: str,
         today: date | None = None) -> int:  # fmt: skip
    """Plan a visit from a ticket; returns its id."""
    with store.engine.connect() as conn:
        incident = _incident(conn, incident_id)
        person = _requester(conn, incident_id)
        organisation = body.organisation or (person.organisation if person is not None else None)
        site = body.site or _address(conn, organisation)
    asset = body.asset or incident.asset
    if body.asset is not None:
        with store.engine.connect() as conn:
            if conn.execute(select(schema.assets.c.id).where(schema.assets.c.name == body.asset)).first() is None:
                raise VisitError(f"no asset {body.asset!r} in the inventory")
    day = today or now().date()
    status = coverage(policy, organisation, incident.contract, asset, _matcher(store), day)
    contacts = status["contacts"]
    contact = body.contact or (contacts[0]["name"] if contacts else (person.name if person is not None else None))
    software = software_of(current_facts(store, asset)) if asset else []
    checklist = {"tools": body.tools, "spare_parts": body.spare_parts, "software": software,
                 "backup_media": body.backup_media}  # fmt: skip
    at = now()
    with store.transaction() as conn:
        new = conn.execute(insert(V).values(
            incident_id=incident_id, status="planned", engineers=body.engineers, planned_for=body.date.astimezone(UTC),
            site=site, organisation=organisation, contact=contact, asset=asset, checklist=checklist,
            coverage=status, purpose=body.purpose or incident.title, software_left={}, created_by=actor,
            created_at=at, updated_at=at,
        )).inserted_primary_key  # fmt: skip
        assert new is not None
        visit_id = int(new[0])
        _note(conn, visit_id, actor, "planned", f"{', '.join(body.engineers)} @ {body.date.isoformat()}")
        store.audit(conn, actor, "visit.plan", f"visit:{visit_id}", {"incident": incident_id})
    return visit_id


def _note(conn: Connection, visit_id: int, actor: str, kind: str, message: str) -> None:
    conn.execute(insert(N).values(visit_id=visit_id, at=now(), actor=actor, kind=kind, message=message))
    conn.execute(update(V).where(V.c.id == visit_id).values(updated_at=now()))


def _visit(conn: Connection, visit_id: int, allowed: tuple[str, ...], step: str) -> Any:
    row = conn.execute(select(V).where(V.c.id == visit_id)).first()
    if row is None:
        raise VisitError(f"no visit #{visit_id}")
    if row.status not in allowed:
        raise VisitError(f"cannot {step} visit #{visit_id}: it is {row.status}")
    return row


def approve(store: Store, visit_id: int, body: ApproveIn, actor: str) -> None:
    """The customer's contact approved the plan (before the visit): who, when, and who recorded it."""
    with store.transaction() as conn:
        _visit(conn, visit_id, ("planned",), "approve")
        values = {"status": "approved", "approved_by": body.by, "approved_at": now(), "approval_comment": body.comment}
        conn.execute(update(V).where(V.c.id == visit_id).values(**values))
        _note(conn, visit_id, actor, "approved", f"{body.by}: {body.comment}".rstrip(": "))
        store.audit(conn, actor, "visit.approve", f"visit:{visit_id}", {"by": body.by})


def note(store: Store, visit_id: int, body: NoteIn, actor: str) -> None:
    """A progress note during the visit (only once the plan is approved); the first one means on site."""
    with store.transaction() as conn:
        row = _visit(conn, visit_id, ("approved", "on_site"), "note")
        if row.status == "approved":
            conn.execute(update(V).where(V.c.id == visit_id).values(status="on_site"))
        _note(conn, visit_id, actor, "note", body.message)
        conn.execute(insert(schema.incident_events).values(
            incident_id=row.incident_id, at=now(), kind="note", actor=actor,
            message=f"[visit #{visit_id}] {body.message}", detail={"visit": visit_id},
        ))  # fmt: skip
        store.audit(conn, actor, "visit.note", f"visit:{visit_id}", {})


def signoff(store: Store, policy: ServiceLevelPolicy, visit_id: int, body: SignoffIn, actor: str) -> None:
    """The customer's sign-off at the end: the incident's sign-off (it must be resolved), then the software
    left on site as facts of the asset, then the visit closed."""
    with store.engine.connect() as conn:
        row = _visit(conn, visit_id, ("approved", "on_site"), "sign off")
    service.act(store, policy, row.incident_id, "signoff", actor, body.comment, signed_by=body.by)
    if body.software and row.asset:
        kept = {k: v for k, v in current_facts(store, row.asset).items() if k.startswith(FACT_PREFIX)}
        record_facts(store, row.asset, COLLECTOR, kept | {FACT_PREFIX + k: v for k, v in body.software.items()})
    with store.transaction() as conn:
        values = {"status": "signed_off", "software_left": body.software}
        conn.execute(update(V).where(V.c.id == visit_id).values(**values))
        left = ", ".join(f"{k} {v}" for k, v in body.software.items())
        _note(
            conn,
            visit_id,
            actor,
            "signed_off",
            f"{body.by}: {body.comment}".rstrip(": ") + (f" · {left}" if left else ""),
        )
        store.audit(conn, actor, "visit.signoff", f"visit:{visit_id}", {"by": body.by, "software": body.software})


def _row(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for key in ("planned_for", "approved_at", "created_at", "updated_at", "at"):
        if data.get(key) is not None:
            data[key] = as_utc(data[key])
    return data


def get(store: Store, visit_id: int) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(V).where(V.c.id == visit_id)).first()
        if row is None:
            return None
        notes = [_row(n) for n in conn.execute(select(N).where(N.c.visit_id == visit_id).order_by(N.c.id))]
        incident = _incident(conn, row.incident_id)
        signed = conn.execute(
            select(schema.incident_service.c.signed_off_by, schema.incident_service.c.signed_off_at).where(
                schema.incident_service.c.incident_id == row.incident_id
            )
        ).first()
    found = _row(row) | {
        "notes": notes,
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "status": incident.status,
            "priority": incident.priority,
        },
    }
    found["signed_off_by"] = signed.signed_off_by if signed is not None else None
    found["signed_off_at"] = as_utc(signed.signed_off_at) if signed is not None and signed.signed_off_at else None
    return found


def for_incident(store: Store, incident_id: int) -> list[dict[str, Any]]:
    query = select(V).where(V.c.incident_id == incident_id).order_by(V.c.id)
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]
