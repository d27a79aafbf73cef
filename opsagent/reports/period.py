"""The period (quarterly) statistics report: load from the store, compute, build the document."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select

from opsagent.reports.charts import bar_chart
from opsagent.reports.document import Document, Fields, Figure, Heading, Table
from opsagent.reports.i18n import CATEGORY, t, word
from opsagent.reports.repair import duration, local
from opsagent.reports.stats import PeriodStats, period_stats
from opsagent.sla.policy import TARGETS, ServiceLevelPolicy
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc

_TIMES = ("opened_at", "acknowledged_at", "resolved_at", "closed_at")


def load_stats(store: Store, policy: ServiceLevelPolicy, start: datetime, end: datetime, now: datetime) -> PeriodStats:
    """One pass over the incidents opened in [start, end), their events and service records."""
    i, e, s = schema.incidents.c, schema.incident_events.c, schema.incident_service.c
    in_period = (i.opened_at >= start) & (i.opened_at < end)
    cols = [i.id, i.alertname, i.source, i.status, i.priority, i.category, i.requester_type, i.asset, i.labels,
            i.count, *(getattr(i, n) for n in _TIMES)]  # fmt: skip
    with store.engine.connect() as conn:
        incidents: list[dict[str, Any]] = []
        for row in conn.execute(select(*cols).where(in_period)):
            data = dict(row._mapping)
            for name in _TIMES:
                if data[name] is not None:
                    data[name] = as_utc(data[name])
            incidents.append(data)
        events: dict[int, list[dict[str, Any]]] = {}
        query = (
            select(e.incident_id, e.at, e.kind)
            .join(schema.incidents, i.id == e.incident_id)
            .where(in_period)
            .order_by(e.incident_id, e.id)
        )
        for ev in conn.execute(query):
            events.setdefault(ev.incident_id, []).append({"at": as_utc(ev.at), "kind": ev.kind})
        service = {
            r.incident_id: dict(r._mapping)
            for r in conn.execute(
                select(s.incident_id, s.satisfaction, s.followed_up_at)
                .join(schema.incidents, i.id == s.incident_id)
                .where(in_period)
            )
        }
        kinds = {r.name: r.kind for r in conn.execute(select(schema.assets.c.name, schema.assets.c.kind))}
    return period_stats(incidents, events, service, kinds, policy, start, end, now)


def _pct(value: float | None) -> str:
    return f"{value * 100:.1f}%" if value is not None else "—"


def _dim_section(stats: PeriodStats, dim: str, key: str, lang: str, limit: int = 12) -> list[Any]:
    counter: Counter[str] = stats.by[dim]
    items = counter.most_common(limit)
    label = (lambda k: word(CATEGORY, k, lang)) if dim == "category" else (lambda k: k)
    rows: list[list[Any]] = [[label(k), n, _pct(n / stats.total if stats.total else None)] for k, n in items]
    table = Table([t(dim, lang), t("count", lang), t("share", lang)], rows)
    chart = bar_chart(t(key, lang), [(str(r[0]), float(r[1])) for r in rows])
    return [Heading(t(key, lang)), Figure(t(key, lang), chart, table), table]


def build(stats: PeriodStats, lang: str, tz: tzinfo, generated: datetime) -> Document:
    summary = stats.summary()
    title = t("period_title", lang)
    doc = Document(title, lang)
    doc.add(
        Heading(t("summary", lang)),
        Fields(
            [
                (t("period", lang), f"{local(stats.start, tz)} — {local(stats.end, tz)}"),
                (t("generated", lang), local(generated, tz)),
                (t("total", lang), stats.total),
                (t("open_now", lang), stats.still_open),
                (t("mtta", lang), _dur(summary["mtta_seconds"], lang)),
                (t("mtta_median", lang), _dur(summary["median_tta_seconds"], lang)),
                (t("mttr", lang), _dur(summary["mttr_seconds"], lang)),
                (t("mttr_median", lang), _dur(summary["median_ttr_seconds"], lang)),
                (t("followups_open", lang), stats.followups_open),
            ]
        ),
        Heading(t("compliance", lang)),
    )
    rows: list[list[Any]] = [
        [t(name, lang), stats.sla_met[name], stats.sla_breached[name], _pct(stats.compliance(name))] for name in TARGETS
    ]
    comp = Table([t("target", lang), t("met", lang), t("breached", lang), t("rate", lang)], rows)
    chart = bar_chart(
        t("compliance", lang),
        [(str(r[0]), (stats.compliance(n) or 0) * 100) for r, n in zip(rows, TARGETS, strict=True)],
        "%",
    )
    doc.add(Figure(t("compliance", lang), chart, comp), comp)
    for dim, key in (
        ("project", "by_project"),
        ("category", "by_category"),
        ("asset_kind", "by_kind"),
        ("asset", "by_asset"),
        ("priority", "by_priority"),
        ("source", "by_source"),
    ):
        doc.add(*_dim_section(stats, dim, key, lang))
    doc.add(
        Heading(t("top_faults", lang)),
        Table(
            [t("fault", lang), t("asset", lang), t("incidents", lang), t("firings", lang)],
            [[f["alertname"], f["asset"], f["incidents"], f["firings"]] for f in summary["top_faults"]],
        ),
    )
    sat = summary["satisfaction"]
    scores = Table([t("score", lang), t("count", lang)], [[k, v] for k, v in sat["scores"].items()])
    doc.add(
        Heading(t("satisfaction_stats", lang)),
        Fields(
            [
                (t("responses", lang), sat["responses"]),
                (t("average", lang), f"{sat['average']:.2f} / 5" if sat["average"] is not None else "—"),
            ]
        ),
        Figure(
            t("satisfaction_stats", lang),
            bar_chart(t("satisfaction_stats", lang), [(f"{k} ★", float(v)) for k, v in sat["scores"].items()]),
            scores,
        ),
    )
    return doc


def _dur(seconds: float | None, lang: str) -> str:
    return duration(seconds, lang) if seconds is not None else "—"
