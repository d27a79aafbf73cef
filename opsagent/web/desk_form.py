"""The new-ticket form's fields ↔ :class:`~opsagent.desk.intake.TicketRequest` (pure): the form's flat
names, the category tree as one list of ``category`` / ``category/sub`` choices, and errors mapped back
to the field that caused them, so the page shows each beside its input and keeps what was typed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from opsagent.desk.content import DeskContent
from opsagent.desk.intake import TicketRequest

TEXT_FIELDS = ("title", "channel", "type", "category", "impact", "urgency", "assets", "symptom", "request",
               "promises", "description", "team", "requester_id", "requester_q")  # fmt: skip
REQUESTER_FIELDS = ("name", "phone", "email", "department", "organisation")
FIELDS = (*TEXT_FIELDS, *(f"req_{k}" for k in REQUESTER_FIELDS))
CHANNELS = ("phone", "email", "portal", "api")
TYPES = ("incident", "service_request")
LEVELS = ("high", "medium", "low")
MAX_FIELD = 10_000


def values_of(form: Mapping[str, Any]) -> dict[str, str]:
    """The submitted values this form knows (strings, cut to size); anything else is ignored."""
    out: dict[str, str] = {}
    for name in FIELDS:
        value = form.get(name, "")
        out[name] = value.strip()[:MAX_FIELD] if isinstance(value, str) else ""
    return out


def category_choices(desk: DeskContent, lang: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, cat in desk.categories.categories.items():
        label = cat.zh if lang == "zh" else cat.en
        out.append((key, label))
        out += [(f"{key}/{sk}", f"{label} / {sub.zh if lang == 'zh' else sub.en}") for sk, sub in cat.sub.items()]
    return out


def teams(desk: DeskContent) -> list[str]:
    return sorted({desk.routing.default_team, *(rule.team for rule in desk.routing.rules)})


def _requester(v: Mapping[str, str]) -> dict[str, Any]:
    if v["requester_id"]:
        if not v["requester_id"].isdigit() or len(v["requester_id"]) > 9:
            return {"id": -1}  # refused by the model's bounds, reported on the requester field
        return {"id": int(v["requester_id"])}
    spec = {k: v[f"req_{k}"] for k in REQUESTER_FIELDS if v[f"req_{k}"]}
    if spec and v["channel"] in CHANNELS:
        spec["preferred_channel"] = v["channel"]
    return spec


def field_of(loc: tuple[Any, ...]) -> str:
    """The form field a model error's location names."""
    if not loc:
        return "form"
    if loc[0] == "requester":
        if len(loc) > 1 and loc[1] in REQUESTER_FIELDS:
            return f"req_{loc[1]}"
        return "requester"
    if loc[0] == "subcategory":
        return "category"
    return str(loc[0])


def build(v: Mapping[str, str]) -> tuple[TicketRequest | None, dict[str, str]]:
    """The request the form describes, or the errors per field."""
    errors: dict[str, str] = {}
    requester = _requester(v)
    if not requester:
        errors["requester"] = "pick a requester from the lookup or enter a new one (a name at least)"
    category, _, sub = v["category"].partition("/")
    data: dict[str, Any] = {
        "title": v["title"], "channel": v["channel"] or "phone", "type": v["type"] or "incident",
        "requester": requester or {"name": None}, "category": category, "subcategory": sub,
        "impact": v["impact"] or None, "urgency": v["urgency"] or None, "assets": v["assets"],
        "symptom": v["symptom"], "request": v["request"], "promises": v["promises"],
        "description": v["description"], "team": v["team"] or None,
    }  # fmt: skip
    try:
        req = TicketRequest.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            errors.setdefault(field_of(tuple(err["loc"])), str(err["msg"]))
        return None, errors
    if errors:
        return None, errors
    return req, {}


def intake_field(message: str) -> str:
    """The field an :class:`~opsagent.desk.intake.IntakeError` (``"field: why"``) is about."""
    head = message.split(":", 1)[0].strip()
    if head.startswith("requester"):
        return "requester"
    return head if head in ("category", "assets", "team", "title") else "form"


def portal_request(
    v: Mapping[str, str], email: str, name: str, lang: str
) -> tuple[TicketRequest | None, dict[str, str]]:
    """A requester's own request from the portal: channel ``portal``, the requester is the signed-in user
    (their email), never a form field."""
    category, _, sub = v["category"].partition("/")
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "title": v["title"], "channel": "portal", "type": v["type"] or "incident", "category": category,
        "subcategory": sub, "description": v["description"], "symptom": v["description"][:2000],
        "requester": {"email": email, "name": name, "language": lang if lang in ("zh", "en") else "zh",
                      "preferred_channel": "portal"},
    }  # fmt: skip
    try:
        return TicketRequest.model_validate(data), {}
    except ValidationError as exc:
        for err in exc.errors():
            field = field_of(tuple(err["loc"]))  # the requester is the account, not a field of this form
            errors.setdefault("form" if field.startswith(("req_", "requester")) else field, str(err["msg"]))
        return None, errors
