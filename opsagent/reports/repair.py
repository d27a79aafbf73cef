"""维修服务报告 — the repair service report of one incident (pure: data in, document out).

Fields follow the service norms: symptom (故障现象), cause (故障原因), steps (处理步骤), result
(处理结果), the whole timeline from the event log, the service-level outcome, the follow-up call
(维修结果复查) with satisfaction, and the user's sign-off (用户签字确认: who, when).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from opsagent.desk.privacy import for_third_parties
from opsagent.i18n import zone_label
from opsagent.reports.document import Document, Fields, Heading, Para, SignOff, Table
from opsagent.reports.i18n import CATEGORY, STATUS, event_name, t, word
from opsagent.reports.messages import event_text
from opsagent.sla.clock import Clock


def local(value: datetime | None, tz: tzinfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def zone_text(tz: tzinfo) -> str:
    """The zone every time of a report is shown in, said once: ``Asia/Shanghai (UTC+08:00)``."""
    return f"{getattr(tz, 'key', None) or tz} ({zone_label(datetime.now(tz))})"


def duration(seconds: float, lang: str) -> str:
    minutes = round(seconds / 60)
    h, m = divmod(minutes, 60)
    if lang == "zh":
        return f"{h}小时{m:02d}分" if h else f"{m}分钟"
    return f"{h}h {m:02d}m" if h else f"{m}m"


def clock_outcome(clock: Clock, lang: str) -> str:
    if clock.breached:
        return t("breached", lang)
    if clock.met:
        return t("met", lang)
    return t("paused_state" if clock.state == "paused" else "running", lang)


def _desk_section(ticket: Mapping[str, Any], incident: Mapping[str, Any], lang: str) -> list[Any]:
    """What the desk recorded for a person-raised ticket; the requester's phone and email arrive
    masked (opsagent.desk.records.ticket_of) and are masked in the free text: the report goes to third
    parties."""
    who = ticket.get("requester") or {}
    source = incident["source"]
    return [
        Heading(t("desk_intake", lang)),
        Fields(
            [
                (t("contact", lang), who.get("name") or ""),
                (t("organisation", lang), who.get("organisation") or ""),
                (t("department", lang), who.get("department") or ""),
                (t("phone", lang), who.get("phone") or ""),
                (t("email", lang), who.get("email") or ""),
                (t("type", lang), incident.get("type") or ""),
                (t("channel", lang), ticket.get("channel") or ""),
                (t("subcategory", lang), ticket.get("subcategory") or ""),
                (t("team", lang), incident.get("team") or ""),
                (t("contract", lang), incident.get("contract") or ""),
                (t("user_request", lang), for_third_parties(ticket.get("request") or "", source)),
                (t("promises", lang), for_third_parties(ticket.get("promises") or "", source)),
                (t("flags", lang), ", ".join(ticket.get("flags") or [])),
            ]
        ),
    ]


def build(incident: Mapping[str, Any], lang: str, tz: tzinfo) -> Document:
    service: Mapping[str, Any] = incident.get("service") or {}
    clocks: Mapping[str, Clock] = incident.get("clocks") or {}
    pending = t("not_yet", lang)
    labels = incident.get("labels") or {}

    def shown(text: str) -> str:  # a person's ticket: phones and emails in its free text masked
        return for_third_parties(text, incident["source"])

    doc = Document(f"{t('repair_title', lang)} #{incident['id']}", lang)
    doc.add(
        Heading(t("basic", lang)),
        Fields(
            [
                (t("no", lang), f"INC-{incident['id']:06d}"),
                (t("title", lang), shown(incident["title"])),
                (t("project", lang), labels.get("project", "")),
                (t("asset", lang), incident.get("asset") or ""),
                (t("category", lang), word(CATEGORY, incident["category"], lang)),
                (t("priority", lang), incident["priority"]),
                (t("requester", lang), t(incident["requester_type"], lang)),
                (t("source", lang), incident["source"]),
                (t("status", lang), word(STATUS, incident["status"], lang)),
                (t("assignee", lang), incident.get("assignee") or ""),
                (t("opened", lang), local(incident["opened_at"], tz)),
                (t("acknowledged", lang), local(incident.get("acknowledged_at"), tz)),
                (t("resolved", lang), local(incident.get("resolved_at"), tz)),
                (t("closed", lang), local(incident.get("closed_at"), tz)),
                (t("timezone", lang), zone_text(tz)),
            ]
        ),
    )
    ticket = incident.get("ticket")
    if ticket:
        doc.add(*_desk_section(ticket, incident, lang))
    doc.add(
        Heading(t("symptom", lang)),
        Para(shown(service.get("symptom") or incident.get("description") or incident["title"])),
        Heading(t("cause", lang)),
        Para(shown(incident.get("cause") or pending)),
        Heading(t("steps", lang)),
        Para(shown(incident.get("resolution_steps") or pending)),
        Heading(t("result", lang)),
        Para(
            shown(service.get("result") or "")
            or (word(STATUS, incident["status"], lang) if incident.get("resolved_at") else pending)
        ),
        Heading(t("sla", lang)),
        Table(
            [
                t("target", lang),
                t("budget", lang),
                t("used", lang),
                t("due", lang),
                t("paused", lang),
                t("outcome", lang),
            ],
            [
                [
                    t(name, lang),
                    duration(c.budget, lang),
                    duration(c.used, lang),
                    local(c.due, tz),
                    duration(c.paused_seconds, lang),
                    clock_outcome(c, lang),
                ]
                for name, c in clocks.items()
            ],
        ),
        Heading(t("timeline", lang)),
        Table(
            [t("at", lang), t("event", lang), t("by", lang), t("message", lang)],
            [
                [local(e["at"], tz), event_name(e["kind"], lang), e["actor"], shown(event_text(e, lang))]
                for e in incident.get("events", [])
            ],
        ),
        Heading(t("followup", lang)),
        Fields(
            [
                (t("followup_due", lang), local(service.get("followup_due_at"), tz) or pending),
                (t("followed_up", lang), local(service.get("followed_up_at"), tz) or pending),
                (t("followed_up_by", lang), service.get("followed_up_by") or ""),
                (t("satisfaction", lang), f"{service['satisfaction']} / 5" if service.get("satisfaction") else pending),
                (t("feedback", lang), shown(service.get("feedback") or "")),
                (t("archived", lang), local(service.get("archived_at"), tz)),
            ]
        ),
        Heading(t("signoff", lang)),
        SignOff(
            [
                (t("signed_by", lang), service.get("signed_off_by") or ""),
                (t("signed_at", lang), local(service.get("signed_off_at"), tz)),
                (t("engineer_sign", lang), incident.get("assignee") or ""),
            ]
        ),
    )
    return doc
