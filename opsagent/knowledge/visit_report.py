"""The plan of an on-site visit (维修计划书), zh/en, as a document (Markdown, HTML, PDF through
:mod:`opsagent.reports.document`, like the repair service report): arrangements, contract and warranty,
the checklist, the customer's approval, progress on site, software left, and the sign-off."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from opsagent.reports.document import Document, Fields, Heading, Para, SignOff, Table
from opsagent.reports.i18n import NOTE_KIND, VISIT_STATUS, t, word
from opsagent.reports.repair import local, zone_text


def _coverage(cov: Mapping[str, Any], lang: str) -> list[Any]:
    out: list[Any] = [Heading(t("coverage", lang))]
    if not cov.get("contract"):
        return [*out, Para(t("no_contract", lang))]
    state = t("in_force", lang) if cov["valid"] else t("expired", lang)
    out.append(Fields([(t("contract", lang), cov["contract"]),
                       (t("validity", lang), f"{cov['valid_from']} — {cov['valid_until']} ({state})")]))  # fmt: skip
    if cov["warranty"]:
        rows = [[w["kind"], w["assets"], w["until"], t("in_force" if w["valid"] else "expired", lang)]
                for w in cov["warranty"]]  # fmt: skip
        out.append(Table([t("warranty", lang), t("asset", lang), t("until", lang), t("status", lang)], rows))
    return out


def _checklist(checklist: Mapping[str, list[str]], lang: str) -> Table:
    rows: list[list[Any]] = []
    for key in ("tools", "spare_parts", "software", "backup_media"):
        items = checklist.get(key) or ["—"]
        rows.extend([t(key, lang), item] for item in items)
    return Table([t("item_kind", lang), t("item", lang)], rows)


def build(visit: Mapping[str, Any], lang: str, tz: tzinfo) -> Document:
    pending = t("not_yet", lang)
    incident = visit["incident"]
    doc = Document(f"{t('visit_title', lang)} #{visit['id']}", lang)
    doc.add(
        Heading(t("visit_basic", lang)),
        Fields(
            [
                (t("ticket", lang), f"#{incident['id']} {incident['title']}"),
                (t("organisation", lang), visit["organisation"] or "—"),
                (t("site", lang), visit["site"] or pending),
                (t("customer_contact", lang), visit["contact"] or pending),
                (t("asset", lang), visit["asset"] or "—"),
                (t("planned_for", lang), local(visit["planned_for"], tz)),
                (
                    t("engineers", lang),
                    "、".join(visit["engineers"]) if lang == "zh" else ", ".join(visit["engineers"]),
                ),
                (t("purpose", lang), visit["purpose"]),
                (t("status", lang), word(VISIT_STATUS, visit["status"], lang)),
                (t("timezone", lang), zone_text(tz)),
            ]
        ),
        *_coverage(visit["coverage"], lang),
        Heading(t("checklist", lang)),
        _checklist(visit["checklist"], lang),
        Heading(t("approval", lang)),
        SignOff(
            [
                (t("approved_by", lang), visit["approved_by"] or pending),
                (t("approved_at", lang), local(visit["approved_at"], tz) or pending),
                (t("comment", lang), visit["approval_comment"] or ""),
            ]
        ),
        Heading(t("progress", lang)),
        Table(
            [t("at", lang), t("event", lang), t("by", lang), t("message", lang)],
            [[local(n["at"], tz), word(NOTE_KIND, n["kind"], lang), n["actor"], n["message"]] for n in visit["notes"]],
        ),
    )
    left = visit["software_left"]
    doc.add(Heading(t("software_left", lang)))
    doc.add(Table([t("component", lang), t("version", lang)], [[k, v] for k, v in left.items()]) if left
            else Para(pending))  # fmt: skip
    doc.add(
        Heading(t("signoff", lang)),
        SignOff(
            [
                (t("signed_by", lang), visit["signed_off_by"] or pending),
                (t("signed_at", lang), local(visit["signed_off_at"], tz) or pending),
                (t("engineer_sign", lang), ""),
            ]
        ),
    )
    return doc
