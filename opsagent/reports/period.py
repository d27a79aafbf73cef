"""The period (quarterly) statistics report: load from the store, compute, build the document."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select

from opsagent.reports.charts import bar_chart
from opsagent.reports.document import Document, Fields, Figure, Heading, Table
from opsagent.reports.i18n import CATEGORY, t, word
from opsagent.reports.repair import duration, local
from opsagent.reports.stats import PeriodStats, period_stats
from opsagent.reports.titles import period_title
from opsagent.sla.policy import TARGETS, ServiceLevelPolicy
from opsagent.store import schema
from opsagent.store.engine import Store
from opsagent.store.fastdates import epoch_reader, utc_reader


def load_stats(store: Store, policy: ServiceLevelPolicy, start: datetime, end: datetime, now: datetime) -> PeriodStats:
    """Two SELECTs — the incidents opened in [start, end) with their service record and asset kind,
    and their events in the same order — merged in one pass: no per-incident query, no dict of every
    event kept in memory."""
    i, e, s, a = schema.incidents.c, schema.incident_events.c, schema.incident_service.c, schema.assets.c
    in_period = (i.opened_at >= start) & (i.opened_at < end)
    joined = schema.incidents.outerjoin(schema.incident_service, s.incident_id == i.id).outerjoin(
        schema.assets, a.name == i.asset
    )
    with store.engine.connect() as inc_conn, store.engine.connect() as ev_conn:
        times = {name: utc_reader(inc_conn, col) for name, col in _times(i, s).items()}
        cols = [i.id, i.alertname, i.source, i.status, i.priority, i.category, i.requester_type, i.asset, i.labels,
                i.count, s.satisfaction, a.kind.label("asset_kind"), *(expr for expr, _ in times.values())]  # fmt: skip
        at_col, to_epoch = epoch_reader(ev_conn, e.at)
        events_q = (
            select(e.incident_id, at_col, e.kind)
            .join(schema.incidents, i.id == e.incident_id)
            .where(in_period)
            .order_by(e.incident_id, e.id)
        )
        rows = inc_conn.execute(select(*cols).select_from(joined).where(in_period).order_by(i.id))
        evs = ev_conn.execute(events_q)
        converters = {name: conv for name, (_, conv) in times.items()}
        return period_stats(_with_events(rows, evs, converters, to_epoch), policy, start, end, now)


def _times(i: Any, s: Any) -> dict[str, Any]:
    return {"opened_at": i.opened_at, "acknowledged_at": i.acknowledged_at, "resolved_at": i.resolved_at,
            "followed_up_at": s.followed_up_at}  # fmt: skip


def _with_events(
    rows: Iterable[Any],
    events: Iterable[Any],
    converters: dict[str, Callable[[Any], Any]],
    to_epoch: Callable[[Any], float],
) -> Iterator[tuple[dict[str, Any], list[tuple[float, str]]]]:
    """Pair each incident (ordered by id) with its events (ordered by incident id, then log order)."""
    pending = iter(events)
    ev = next(pending, None)
    keys = list(rows.keys()) if hasattr(rows, "keys") else None
    for row in rows:
        incident = dict(zip(keys, row, strict=True)) if keys is not None else row._asdict()
        for name, convert in converters.items():
            incident[name] = convert(incident[name])
        log: list[tuple[float, str]] = []
        while ev is not None and ev[0] < incident["id"]:
            ev = next(pending, None)
        while ev is not None and ev[0] == incident["id"]:
            log.append((to_epoch(ev[1]), ev[2]))
            ev = next(pending, None)
        yield incident, log


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
    title = period_title(stats.start, stats.end, tz, lang)
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
