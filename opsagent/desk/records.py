"""Requester records (用户档案): organisations (internal departments, external customers), the people
who raise tickets, and the assets each uses or owns. Storage only; every write and every bulk read or
export leaves an audit row (who read whose records) in the same transaction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Connection, bindparam, func, insert, or_, select, update

from opsagent.errors import OpsAgentError
from opsagent.i18n import valid_zone
from opsagent.store import schema
from opsagent.store.engine import Store, now

_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{2,30}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{1,63}$")
CHANNELS = ("phone", "email", "portal", "api")


class RecordError(OpsAgentError):
    """A requester or organisation that is not there, or not unique."""


def clean_phone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not _PHONE.match(value):
        raise ValueError("not a phone number")
    return re.sub(r"[ ()-]", "", value)


def clean_email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value.lower()


class RequesterIn(BaseModel):
    """A person as the desk records them; ``organisation`` by name (created when new)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=255)
    department: str = Field(default="", max_length=255)
    phone: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)
    type: Literal["internal", "external"] | None = None  # None: from the organisation (else internal)
    organisation: str | None = Field(default=None, max_length=255)
    language: Literal["zh", "en"] = "zh"
    preferred_channel: Literal["phone", "email", "portal", "api"] = "phone"
    notes: str = Field(default="", max_length=10_000)
    assets: list[str] = Field(default_factory=list, max_length=100)
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone (None: the agent's)")

    _phone = field_validator("phone")(classmethod(lambda cls, v: clean_phone(v)))
    _email = field_validator("email")(classmethod(lambda cls, v: clean_email(v)))
    _zone = field_validator("timezone")(classmethod(lambda cls, v: valid_zone(v) if v else None))


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def _requester_query() -> Any:
    r, o = schema.requesters.c, schema.organisations.c
    return select(schema.requesters, o.name.label("organisation"), o.kind.label("organisation_kind")).select_from(
        schema.requesters.outerjoin(schema.organisations, o.id == r.organisation_id)
    )


# the hot lookups of the ticket path, built once (no per-call statement construction or cache key)
_BY_ID = _requester_query().where(schema.requesters.c.id == bindparam("id"))
_BY_EMAIL = _requester_query().where(schema.requesters.c.email == bindparam("email"))
_BY_NAME = _requester_query().where(schema.requesters.c.name == bindparam("name")).limit(2)
_BY_PHONE_OR_NAME = (
    _requester_query()
    .where(or_(schema.requesters.c.phone == bindparam("phone"), schema.requesters.c.name == bindparam("name")))
    .limit(2)
)
_INSERT = insert(schema.requesters)


# -- organisations ------------------------------------------------------------------------------------
def ensure_organisation(conn: Connection, name: str, kind: str) -> tuple[int, str]:
    """(id, kind) of the organisation, created with ``kind`` when new."""
    o = schema.organisations.c
    found = conn.execute(select(o.id, o.kind).where(o.name == name)).first()
    if found is not None:
        return int(found.id), str(found.kind)
    new = conn.execute(insert(schema.organisations).values(name=name, kind=kind, notes="", created_at=now()))
    assert new.inserted_primary_key is not None
    return int(new.inserted_primary_key[0]), kind


def add_organisation(store: Store, name: str, kind: str, notes: str, actor: str, address: str = "") -> dict[str, Any]:
    o = schema.organisations.c
    with store.transaction() as conn:
        if conn.execute(select(o.id).where(o.name == name)).first() is not None:
            raise RecordError(f"organisation {name!r} already exists")
        values = {"name": name, "kind": kind, "notes": notes, "address": address, "created_at": now()}
        conn.execute(insert(schema.organisations).values(**values))
        store.audit(conn, actor, "desk.organisation.add", name, {"kind": kind})
        return _row(conn.execute(select(schema.organisations).where(o.name == name)).one())


def set_address(store: Store, name: str, address: str, actor: str) -> None:
    """The organisation's address: the site an on-site visit goes to."""
    o = schema.organisations.c
    with store.transaction() as conn:
        if conn.execute(update(schema.organisations).where(o.name == name).values(address=address)).rowcount == 0:
            raise RecordError(f"no organisation {name!r}")
        store.audit(conn, actor, "desk.organisation.address", name, {})


def list_organisations(store: Store) -> list[dict[str, Any]]:
    o, r = schema.organisations.c, schema.requesters.c
    people = select(func.count()).where(r.organisation_id == o.id).scalar_subquery()
    with store.engine.connect() as conn:
        return [_row(x) for x in conn.execute(select(schema.organisations, people.label("people")).order_by(o.name))]


# -- requesters ---------------------------------------------------------------------------------------
def insert_requester(conn: Connection, person: RequesterIn) -> int:
    """Write one new person (and the organisation when new) inside the caller's transaction."""
    org_id, kind = None, None
    if person.organisation:
        org_id, kind = ensure_organisation(conn, person.organisation, person.type or "internal")
    at = now()
    values = person.model_dump(exclude={"organisation", "assets"})
    values["type"] = person.type or kind or "internal"
    new = conn.execute(_INSERT, values | {"organisation_id": org_id, "created_at": at, "updated_at": at})
    assert new.inserted_primary_key is not None
    rid = int(new.inserted_primary_key[0])
    link_assets(conn, rid, person.assets, "uses")
    return rid


def link_assets(conn: Connection, requester_id: int, assets: Iterable[str], relation: str) -> None:
    ra = schema.requester_assets.c
    for name in dict.fromkeys(assets):
        exists = conn.execute(
            select(ra.asset).where(ra.requester_id == requester_id, ra.asset == name, ra.relation == relation)
        ).first()
        if exists is None:
            conn.execute(
                insert(schema.requester_assets).values(requester_id=requester_id, asset=name, relation=relation)
            )


def add_requester(store: Store, person: RequesterIn, actor: str) -> dict[str, Any]:
    with store.transaction() as conn:
        if person.email and find(conn, person.email) is not None:
            raise RecordError(f"a requester with email {person.email} already exists")
        known = set(conn.execute(select(schema.assets.c.name).where(schema.assets.c.name.in_(person.assets))).scalars())
        missing = [a for a in person.assets if a not in known]
        if missing:
            raise RecordError(f"no asset named {missing[0]!r} in the inventory")
        rid = insert_requester(conn, person)
        store.audit(conn, actor, "desk.requester.add", f"requester:{rid}", {"name": person.name})
    found = get(store, str(rid), actor, audit=False)
    assert found is not None
    return found


def find(conn: Connection, ref: str) -> dict[str, Any] | None:
    """A requester by ``#id``/id, email, phone or name; None if there is none. A name or phone that
    several people share is ambiguous: :class:`RecordError`."""
    ref = ref.strip()
    if not ref:
        return None
    if ref.lstrip("#").isdigit() and len(ref.lstrip("#")) < 10:
        rows = conn.execute(_BY_ID, {"id": int(ref.lstrip("#"))}).all()
    elif "@" in ref:
        rows = conn.execute(_BY_EMAIL, {"email": ref.lower()}).all()
    else:
        try:
            phone = clean_phone(ref)
        except ValueError:
            phone = None
        if phone:
            rows = conn.execute(_BY_PHONE_OR_NAME, {"phone": phone, "name": ref}).all()
        else:
            rows = conn.execute(_BY_NAME, {"name": ref}).all()
    if len(rows) > 1:
        raise RecordError(f"{ref!r} names more than one requester: use the id or email")
    return _row(rows[0]) if rows else None


def _assets(conn: Connection, ids: Sequence[int]) -> dict[int, list[dict[str, str]]]:
    ra = schema.requester_assets.c
    out: dict[int, list[dict[str, str]]] = {i: [] for i in ids}
    if ids:
        for row in conn.execute(
            select(schema.requester_assets).where(ra.requester_id.in_(list(ids))).order_by(ra.asset)
        ):
            out[row.requester_id].append({"asset": row.asset, "relation": row.relation})
    return out


def get(store: Store, ref: str, actor: str, audit: bool = True) -> dict[str, Any] | None:
    """One requester with their assets and recent tickets; reading them is audited."""
    t, d = schema.incidents.c, schema.ticket_details.c
    with store.transaction() as conn:
        found = find(conn, ref)
        if found is None:
            return None
        found["assets"] = _assets(conn, [found["id"]])[found["id"]]
        tickets = select(t.id, t.title, t.status, t.type, t.opened_at).select_from(
            schema.incidents.join(schema.ticket_details, d.incident_id == t.id)
        )
        found["tickets"] = [
            _row(x) for x in conn.execute(tickets.where(d.requester_id == found["id"]).order_by(t.id.desc()).limit(20))
        ]
        if audit:
            store.audit(conn, actor, "desk.requester.read", f"requester:{found['id']}", {})
        return found


def ticket_of(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    """What the desk recorded when a person raised this ticket, with the requester's contact details
    masked (the record itself is read through :func:`get`, audited); None for alert-raised incidents."""
    from opsagent.desk.privacy import masked_requester

    d, r, o = schema.ticket_details.c, schema.requesters.c, schema.organisations.c
    row = conn.execute(
        select(schema.ticket_details, r.name, r.department, r.phone, r.email, r.type.label("requester_type"),
               o.name.label("organisation"))
        .select_from(schema.ticket_details.outerjoin(schema.requesters, r.id == d.requester_id)
                     .outerjoin(schema.organisations, o.id == r.organisation_id))
        .where(d.incident_id == incident_id)
    ).first()  # fmt: skip
    if row is None:
        return None
    found = _row(row)
    person = masked_requester({k: found.pop(k) for k in ("name", "department", "phone", "email", "organisation")})
    return found | {"requester": person | {"id": found["requester_id"], "type": found.pop("requester_type")}}


def list_requesters(
    store: Store, actor: str, organisation: str | None = None, limit: int = 1000, export: bool = False
) -> list[dict[str, Any]]:
    """People (with their assets), by name; a bulk read: one audit row says who read how many."""
    r = schema.requesters.c
    query = _requester_query().order_by(r.name, r.id).limit(limit)
    if organisation:
        query = query.where(schema.organisations.c.name == organisation)
    with store.transaction() as conn:
        rows = [_row(x) for x in conn.execute(query)]
        assets = _assets(conn, [x["id"] for x in rows])
        for row in rows:
            row["assets"] = assets[row["id"]]
        action = "desk.requester.export" if export else "desk.requester.list"
        store.audit(conn, actor, action, organisation or "*", {"count": len(rows)})
    return rows


def update_requester(conn: Connection, requester_id: int, person: RequesterIn) -> None:
    """An import's row for a known person: their record takes the row's values."""
    values = person.model_dump(exclude={"organisation", "assets", "type"}, exclude_none=True)
    if person.type:
        values["type"] = person.type
    if person.organisation:
        values["organisation_id"], kind = ensure_organisation(conn, person.organisation, person.type or "internal")
        values.setdefault("type", kind)
    conn.execute(
        update(schema.requesters).where(schema.requesters.c.id == requester_id).values(**values, updated_at=now())
    )
    link_assets(conn, requester_id, person.assets, "uses")
