"""Running a profile's SQL queries cheaply and forgivingly, for the PostgreSQL and MySQL collectors.

*Cheaply*: rows arrive as tuples with their column names; each query is compiled once per column
layout into index lookups; a query whose rows are the same as at the last poll of that asset (most
of ``pg_settings``, ``SHOW GLOBAL VARIABLES``, the version) reuses the samples and facts it made then
instead of converting ~350 rows again.

*Forgivingly*, as postgres_exporter and mysqld_exporter do: a query that fails (permission, missing
table, bad SQL, or a statement/lock timeout on a locked table) is logged, counted in
``<prefix>_exporter_query_errors_total{query}`` and flagged by ``<prefix>_exporter_last_scrape_error``;
the other queries are still reported and the poll stays OK (``pg_up`` means "able to connect"). Only a
failure that leaves the connection dead (lost connection, client read timeout) fails the poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsagent.collectors.base import CollectResult, Sample, SampleKind
from opsagent.collectors.sqlquery import QuerySpec, exposition_kind, fact_value, label_value, number
from opsagent.errors import CollectError

log = logging.getLogger(__name__)

Rows = Sequence[tuple[Any, ...]]
Table = tuple[tuple[str, ...], Rows]  # column names, rows
Transform = Callable[[list[Mapping[str, Any]]], list[Sample]]

# Reasons a query error leaves the rest of the poll usable, as long as the connection is still alive;
# anything else (a lost or refused connection, auth) fails the poll.
_SOFT_REASONS = frozenset({"permission", "query_error", "missing", "timeout"})
# Reasons an ``optional`` query is skipped quietly for (expected on some servers); a timeout is not
# expected, so it is counted even for an optional query.
_EXPECTED_REASONS = frozenset({"permission", "query_error", "missing"})


class QueryFailed(Exception):
    """A driver error classified by the collector: ``reason`` is a short code (timeout, query_error, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class Plan:
    """A query compiled against one column layout: label and metric columns as indexes."""

    columns: tuple[str, ...]
    labels: tuple[tuple[str, int], ...]  # sorted by label name, as Sample labels are
    metrics: tuple[tuple[int, str, SampleKind, float], ...]  # (index, series, exposition kind, scale)


def compile_plan(spec: QuerySpec, columns: tuple[str, ...]) -> Plan:
    where = {name: i for i, name in enumerate(columns)}
    labels = tuple((name, where[name]) for name in sorted(spec.labels) if name in where)
    metrics = tuple(
        (where[column], m.name, exposition_kind(m.name, m.kind), m.scale)
        for column, m in spec.metrics.items()
        if column in where
    )
    return Plan(columns, labels, metrics)


def plan_samples(plan: Plan, rows: Rows) -> list[Sample]:
    """Every (row, metric column) with a numeric value becomes a sample; NULL values are skipped.
    A missing label column gives no label (as a NULL gives an empty one)."""
    out: list[Sample] = []
    append = out.append
    for row in rows:
        labels = tuple((name, label_value(row[i])) for name, i in plan.labels)
        for i, name, kind, scale in plan.metrics:
            raw = row[i]
            value = float(raw) if type(raw) is int or type(raw) is float else number(raw)
            if value is not None and value == value:  # NaN is no figure
                append(Sample(name, labels, value * scale if scale != 1.0 else value, kind))
    return out


def plan_facts(spec: QuerySpec, columns: tuple[str, ...], rows: Rows) -> Any:
    """Rows as facts: keyed by ``fact_key`` (a scalar when one other column), else one row or a list."""
    keep = None if spec.fact_columns is None else {*spec.fact_columns, spec.fact_key}
    picked = [(i, c) for i, c in enumerate(columns) if keep is None or c in keep]
    if spec.fact_key is not None and len(picked) == 2 and spec.fact_key in columns:
        # name → value (settings, variables): the common big case, without a dict per row
        key_at = columns.index(spec.fact_key)
        value_at = next(i for i, _ in picked if i != key_at)
        return {label_value(row[key_at]): fact_value(row[value_at]) for row in rows}
    clean = [{c: fact_value(row[i]) for i, c in picked} for row in rows]
    if spec.fact_key is None:
        return clean[0] if len(clean) == 1 else clean
    out: dict[str, Any] = {}
    for entry in clean:
        key = label_value(entry.pop(spec.fact_key, None))
        out[key] = next(iter(entry.values())) if len(entry) == 1 else entry
    return out


@dataclass
class QueryRun:
    samples: list[Sample] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # optional query → why it was skipped
    errors: dict[str, str] = field(default_factory=dict)  # failed query → "reason: message"

    def result(self, asset: str, collector: str) -> CollectResult:
        """An OK result; failed and skipped queries are named in the message and the facts."""
        if self.skipped:
            self.facts["skipped_queries"] = self.skipped
        message = ""
        if self.errors:
            self.facts["query_errors"] = self.errors
            message = f"{len(self.errors)} quer{'y' if len(self.errors) == 1 else 'ies'} failed: " + "; ".join(
                f"{name} ({why})" for name, why in self.errors.items()
            )
        return CollectResult(asset=asset, collector=collector, samples=self.samples, facts=self.facts, message=message)


@dataclass
class _Memo:
    rows: list[tuple[Any, ...]]
    samples: list[Sample]
    facts: Any


@dataclass
class _AssetState:
    memo: dict[str, _Memo] = field(default_factory=dict)
    errors_total: dict[str, int] = field(default_factory=dict)


class QueryRunner:
    """Runs query sets for one collector; keeps, per asset, the last rows of each query (to skip
    converting unchanged ones) and the per-query error counters. One poll per asset at a time (the
    poller guarantees it), so the per-asset state needs no lock."""

    def __init__(
        self, prefix: str, transforms: Mapping[str, Transform] | None = None, success_metric: str | None = None
    ) -> None:
        self.prefix = prefix
        self.transforms = dict(transforms or {})
        # The exporter's own per-collector success gauge (pg_scrape_collector_success,
        # mysql_exporter_collector_success), one per query: 1 when it ran, 0 when it failed.
        self.success_metric = success_metric
        self._plans: dict[tuple[int, tuple[str, ...]], tuple[QuerySpec, Plan]] = {}
        self._assets: dict[str, _AssetState] = {}

    def forget(self, asset: str | None = None) -> None:
        """Drop the kept rows and error counters of one asset (removed from the inventory) or all."""
        if asset is None:
            self._assets.clear()
        else:
            self._assets.pop(asset, None)

    def run(
        self,
        asset: str,
        specs: Sequence[QuerySpec],
        version: int,
        execute: Callable[[str], Table],
        classify: Callable[[Exception], QueryFailed],
        flavor: str = "",
        alive: Callable[[], bool] = lambda: True,
    ) -> QueryRun:
        """Run every query that applies to the server's ``version`` and ``flavor`` (mysql, mariadb).
        ``alive`` says whether the connection survived a failed query. Raises :class:`CollectError`
        only when the poll as a whole fails."""
        state = self._assets.setdefault(asset, _AssetState())
        out = QueryRun()
        applicable = [spec for spec in specs if spec.applies_to(version, flavor)]
        for spec in applicable:
            try:
                columns, rows = execute(spec.sql)
            except Exception as exc:
                found = classify(exc)
                if found.reason not in _SOFT_REASONS or not alive():
                    raise CollectError(found.reason, f"query {spec.name!r}: {found}") from None
                self._failed(asset, spec, found, state, out)
                continue
            self._convert(state, spec, columns, rows, out)
        self._error_samples(applicable, state, out)
        return out

    def _failed(self, asset: str, spec: QuerySpec, failed: QueryFailed, state: _AssetState, out: QueryRun) -> None:
        state.memo.pop(spec.name, None)
        if spec.optional and failed.reason in _EXPECTED_REASONS:
            out.skipped[spec.name] = f"{failed.reason}: {failed}"
            return
        out.errors[spec.name] = f"{failed.reason}: {failed}"
        state.errors_total[spec.name] = state.errors_total.get(spec.name, 0) + 1
        log.warning("%s: query %r failed (%s): %s", asset, spec.name, failed.reason, failed)

    def _convert(
        self, state: _AssetState, spec: QuerySpec, columns: tuple[str, ...], rows: Rows, out: QueryRun
    ) -> None:
        memo = state.memo.get(spec.name)
        if memo is not None and memo.rows == rows:  # unchanged since the last poll: same output
            out.samples += memo.samples
            if spec.facts is not None:
                out.facts[spec.facts] = memo.facts
            return
        samples = plan_samples(self._plan(spec, columns), rows)
        if spec.transform is not None:
            samples += self.transforms[spec.transform]([dict(zip(columns, row, strict=True)) for row in rows])
        facts = plan_facts(spec, columns, rows) if spec.facts is not None else None
        state.memo[spec.name] = _Memo(list(rows), samples, facts)
        out.samples += samples
        if spec.facts is not None:
            out.facts[spec.facts] = facts

    def _plan(self, spec: QuerySpec, columns: tuple[str, ...]) -> Plan:
        key = (id(spec), columns)
        found = self._plans.get(key)
        if found is None or found[0] is not spec:  # the spec is kept in the entry: its id stays unique
            if len(self._plans) > 4096:  # content reloads make new specs; drop the stale plans
                self._plans.clear()
            found = (spec, compile_plan(spec, columns))
            self._plans[key] = found
        return found[1]

    def _error_samples(self, applicable: Sequence[QuerySpec], state: _AssetState, out: QueryRun) -> None:
        # Counters start at 0 for every query so a rate() sees the first error.
        name = f"{self.prefix}_exporter_query_errors_total"
        for spec in applicable:
            count = state.errors_total.get(spec.name)
            if not spec.optional or count is not None:  # an optional query once it has timed out
                out.samples.append(Sample(name, (("query", spec.name),), float(count or 0), "counter"))
                if self.success_metric is not None:
                    ok = 0.0 if spec.name in out.errors else 1.0
                    out.samples.append(Sample(self.success_metric, (("collector", spec.name),), ok, "gauge"))
        out.samples.append(Sample.of(f"{self.prefix}_exporter_last_scrape_error", 1 if out.errors else 0))
