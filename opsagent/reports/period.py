"""The period (quarterly) statistics report: load from the store, compute, build the document."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, case, false, select

from opsagent.reports.charts import bar_chart
from opsagent.reports.document import Document, Fields, Figure, Heading, Para, Table
from opsagent.reports.i18n import CATEGORY, PROBLEM_STATUS, t, word
from opsagent.reports.repair import duration, local, zone_text
from opsagent.reports.stats import PeriodStats, period_stats
from opsagent.reports.titles import period_title
from opsagent.sla.policy import TARGETS, ServiceLevelPolicy
from opsagent.sla.projection import ClockDigests, counted_after, profile_of
from opsagent.store import schema
from opsagent.store.bulk import IDS, id_chunks
from opsagent.store.engine import Store
from opsagent.store.fastdates import epoch_reader, epoch_text_column, epochs

SCOPES = ("contract", "team")  # what a period report may be narrowed to


def load_stats(
    store: Store,
    policy: ServiceLevelPolicy,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    projections: bool = True,
    scope: Mapping[str, str] | None = None,
) -> PeriodStats:
    """The period's statistics: one SELECT of the incidents opened in [start, end) with their
    service record and asset kind, then the events of those whose outcome must be replayed (by
    chunks of ids) — no per-incident query. The database does the per-row work it does in C: epoch
    seconds of the incident's times, and the two labels the report reads (no JSON document parsed
    per incident).

    A settled incident's outcome is taken from the SLA tick's projection when it is what replaying
    the log gives: computed under this policy, after the incident's last event (``seen_event_id``),
    with every clock stopped (``outcome``), no event stamped after it (``next_check_at`` null) and
    not after the report's time. The others' clocks are replayed from their logs in one batch.
    ``projections`` False replays every log (the reference the shortcut is tested against).
    ``scope`` narrows the period to one contract and/or team (``{"contract": "C-1", "team": "net"}``)."""
    i, s, a = schema.incidents.c, schema.incident_service.c, schema.assets.c
    in_period = (i.opened_at >= start) & (i.opened_at < end)
    for column, value in (scope or {}).items():
        if column not in SCOPES:
            raise ValueError(f"scope: {column!r} is not one of {', '.join(SCOPES)}")
        in_period = in_period & (getattr(i, column) == value)
    joined = schema.incidents.outerjoin(schema.incident_service, s.incident_id == i.id).outerjoin(
        schema.assets, a.name == i.asset
    )
    digests = ClockDigests(policy)
    settled = (
        s.policy_digest.in_(digests.known())
        & ~counted_after(i.id, s.seen_event_id)
        & s.outcome.is_not(None)
        & s.next_check_at.is_(None)
        & (s.updated_at <= now)
    )
    if not projections:
        settled = false()
    with store.engine.connect() as conn:
        epochs = [epoch_reader(conn, col)[0] for col in (i.opened_at, i.acknowledged_at, i.resolved_at)]
        cols = [i.id, i.alertname, i.source, i.status, i.priority, i.category, i.requester_type, i.asset,
                i.labels["project"].as_string().label("project"),
                i.labels["complexity"].as_string().label("complexity"),
                i.type, i.contract, i.team,
                i.count.label("firings"), s.satisfaction, s.followed_up_at.is_not(None).label("followed_up"),
                a.kind.label("asset_kind"), *epochs,
                case((settled, s.outcome), else_=None).label("settled"),
                case((settled, s.policy_digest), else_=None).label("digest")]  # fmt: skip
        result = conn.execute(select(*cols).select_from(joined).where(in_period).order_by(i.id))
        names = list(result.keys())
        rows = result.all()
        columns: dict[str, Sequence[Any]] = dict(zip(names, zip(*rows, strict=True), strict=True)) if rows else {
            n: () for n in names
        }  # fmt: skip
        # the projection counts only if computed for this incident's own profile
        outcomes = [
            found if found is not None and digest == digests(profile_of(*profile)) else None
            for found, digest, *profile in zip(columns["settled"], columns["digest"], columns["priority"],
                                               columns["requester_type"], columns["complexity"], columns["type"],
                                               columns["contract"], strict=True)
        ]  # fmt: skip
        replay = [iid for iid, found in zip(columns["id"], outcomes, strict=True) if found is None]
        logs = _logs(conn, replay, in_period, len(columns["id"]))
    aligned = [
        found if found is not None else logs.get(iid) for iid, found in zip(columns["id"], outcomes, strict=True)
    ]
    return period_stats(columns, aligned, policy, start, end, now)


def _logs(conn: Connection, ids: list[int], in_period: Any, total: int) -> dict[int, list[tuple[float, str]]]:
    """The events of these incidents (ascending ids) as (epoch seconds, kind) in log order: by
    chunks of ids along the (incident, id) index, or — when most of the period's incidents are
    replayed — in one ordered pass over the period's events. Times are exact to the microsecond,
    as the tick reads them: julianday's few µs of error would decide a clock stopped exactly at its
    budget (acknowledged at 60 min of 1 h) otherwise."""
    e, i = schema.incident_events.c, schema.incidents.c
    at_col = epoch_text_column(conn, e.at)
    query = select(e.incident_id, at_col, e.kind).order_by(e.incident_id, e.id)
    out: dict[int, list[tuple[float, str]]] = {}
    if len(ids) * 2 > total:
        _group(conn.execute(query.join(schema.incidents, i.id == e.incident_id).where(in_period)).all(), out)
        return out
    query = query.where(e.incident_id.in_(IDS))
    for chunk in id_chunks(ids):
        _group(conn.execute(query, {"ids": chunk}).all(), out)
    return out


def _group(rows: Sequence[Any], out: dict[int, list[tuple[float, str]]]) -> None:
    """Rows (incident id, time, kind) ordered by incident, then log order, into ``out``."""
    if not rows:
        return
    ids, times, kinds = zip(*rows, strict=True)
    last = None
    log: list[tuple[float, str]] = []
    for incident_id, at, kind in zip(ids, epochs(times), kinds, strict=True):
        if incident_id != last:
            log = out[incident_id] = []
            last = incident_id
        log.append((at, kind))


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


def _problem_rows(rows: list[dict[str, Any]], lang: str, tz: tzinfo) -> Table:
    header = [t("problem", lang), t("status", lang), t("tickets", lang), t("root_cause", lang),
              t("workaround", lang), t("found_at", lang), t("closed_at", lang)]  # fmt: skip
    return Table(
        header,
        [
            [f"#{p['id']} {p['title']}", word(PROBLEM_STATUS, p["status"], lang), len(p["incidents"]),
             p["root_cause"] or "—", (p["workaround"] or {}).get("key", "—"), local(p["found_at"], tz),
             local(p["closed_at"], tz) if p["closed_at"] else "—"]
            for p in rows
        ],
    )  # fmt: skip


def problems_section(problems: dict[str, list[dict[str, Any]]], lang: str, tz: tzinfo) -> list[Any]:
    """The problems found in the period, then those of earlier periods still tracked (open when it began)."""
    out: list[Any] = [Heading(t("problems", lang))]
    for key, heading in (("found", "problems_found"), ("carried", "carried")):
        rows = problems.get(key, [])
        out.append(Heading(t(heading, lang), 3))
        out.append(_problem_rows(rows, lang, tz) if rows else Para(t("none", lang)))
    return out


def _problem_links(p: dict[str, Any]) -> dict[str, Any]:
    closed = p["closed_at"].isoformat() if p["closed_at"] else None
    incidents = [i["id"] for i in p["incidents"]]
    return {"found_at": p["found_at"].isoformat(), "closed_at": closed, "incidents": incidents,
            "workaround": p["workaround"]}  # fmt: skip


def problems_json(problems: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The JSON twin of :func:`problems_section` (times as ISO text)."""
    keep = ("id", "title", "status", "root_cause", "fix")
    return {key: [{k: p[k] for k in keep} | _problem_links(p) for p in rows] for key, rows in problems.items()}


def build(
    stats: PeriodStats,
    lang: str,
    tz: tzinfo,
    generated: datetime,
    problems: dict[str, list[dict[str, Any]]] | None = None,
    scope: Mapping[str, str] | None = None,
) -> Document:
    """The report's document; ``scope`` (one contract and/or team) is named under the period."""
    summary = stats.summary()
    title = period_title(stats.start, stats.end, tz, lang)
    doc = Document(title, lang)
    doc.add(
        Heading(t("summary", lang)),
        Fields(
            [
                (t("period", lang), f"{local(stats.start, tz)} — {local(stats.end, tz)}"),
                *[(t(k, lang), v) for k, v in (scope or {}).items()],
                (t("generated", lang), local(generated, tz)),
                (t("timezone", lang), zone_text(tz)),
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
        ("type", "by_type"),
        ("source_type", "by_source_type"),
        ("contract", "by_contract"),
        ("team", "by_team"),
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
    if problems is not None:
        doc.add(*problems_section(problems, lang, tz))
    return doc


def _dur(seconds: float | None, lang: str) -> str:
    return duration(seconds, lang) if seconds is not None else "—"
