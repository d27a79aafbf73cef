"""Pure conversion of walked varbinds into samples, named and typed as snmp_exporter does.

``ifHCInOctets{ifIndex="1",ifName="Gi0/1"} 123`` — the metric is the MIB object name, counters go
out as counters (no ``_total``), strings become a ``1``-valued series carrying the string as a label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from itertools import repeat
from operator import itemgetter
from typing import Any

from opsagent.collectors.base import Sample
from opsagent.collectors.snmp.options import Index, Metric

Value = None | str | bytes | int | float
Column = dict[str, Value]
_SECOND = itemgetter(1)
_new_sample = partial(tuple.__new__, Sample)  # OID suffix (after the column OID) → value


def column(rows: Iterable[tuple[str, Value]], base: str) -> Column:
    """Rows of a walk keyed by their suffix under ``base``."""
    prefix = base + "."
    return {oid[len(prefix) :]: value for oid, value in rows if oid.startswith(prefix)}


def as_text(value: Value) -> str:
    """A DisplayString: decoded, trailing NULs dropped (agents pad them)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").rstrip("\x00").strip()
    return "" if value is None else str(value)


def as_mac(value: Value) -> str:
    if isinstance(value, bytes):
        return ":".join(f"{b:02x}" for b in value)
    return as_text(value)


def as_hex(value: Value) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex().upper() if value else ""
    return as_text(value)


def as_number(value: Value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:  # some agents send gauges as strings ("12.5")
        return float(as_text(value))
    except ValueError:
        return None


def render(kind: str, value: Value) -> str:
    if kind == "PhysAddress48":
        return as_mac(value)
    if kind == "OctetString":
        return as_hex(value)
    return as_text(value)


def parse_index(suffix: str, indexes: list[Index]) -> tuple[dict[str, str], dict[str, str]] | None:
    """(labels, sub-OID per label) from a row suffix; None when the suffix does not fit."""
    try:
        parts = [int(p) for p in suffix.split(".")] if suffix else []
    except ValueError:
        return None
    labels: dict[str, str] = {}
    subs: dict[str, str] = {}
    for idx in indexes:
        taken, text = _take(parts, idx)
        if taken is None:
            return None
        labels[idx.labelname] = text
        subs[idx.labelname] = ".".join(str(p) for p in parts[:taken])
        parts = parts[taken:]
    return labels, subs


def _take(parts: list[int], idx: Index) -> tuple[int | None, str]:
    if idx.type == "oid":
        return len(parts), ".".join(map(str, parts))
    if idx.type == "gauge":
        return (1, str(parts[0])) if parts else (None, "")
    if idx.type == "IpAddr":
        return (4, ".".join(map(str, parts[:4]))) if len(parts) >= 4 else (None, "")
    if idx.type == "PhysAddress48":
        return (6, ":".join(f"{p:02x}" for p in parts[:6])) if len(parts) >= 6 else (None, "")
    size, start = (idx.fixed_size, 0) if idx.fixed_size else ((parts[0] if parts else -1), 1)
    if size < 0 or len(parts) < start + size:
        return None, ""
    raw = bytes(p & 0xFF for p in parts[start : start + size])
    text = as_text(raw) if idx.type == "DisplayString" else as_hex(raw)
    return start + size, text


# A row's labels (index labels + lookups) per table shape and row suffix, plus per metric the
# label tuples of its rows in walk order. Kept per device across polls while the lookup tables
# are the same objects (see the collector), so an unchanged label set is never rebuilt.
RowLabels = tuple[dict[str, str], tuple[tuple[str, str], ...]] | None
IndexCache = dict[object, Any]


def _row_labels(metric: Metric, suffix: str, data: Mapping[str, Column]) -> RowLabels:
    """A row's labels as a dict and as the sorted tuple samples carry; None when the suffix does not fit."""
    if not metric.indexes:
        labels: dict[str, str] = {}
        subs: dict[str, str] = {}
    else:
        parsed = parse_index(suffix, metric.indexes)
        if parsed is None:
            return None
        labels, subs = parsed
    for lk in metric.lookups:
        found = data.get(lk.oid, {}).get(".".join(subs.get(label, "") for label in lk.labels))
        if found is not None:
            labels[lk.labelname] = render(lk.type, found)
    return labels, tuple(sorted(labels.items()))


def _shape(metric: Metric) -> tuple[object, ...]:
    return (
        tuple((i.labelname, i.type, i.fixed_size) for i in metric.indexes),
        tuple((lk.labelname, lk.oid, lk.type, tuple(lk.labels)) for lk in metric.lookups),
    )


def _rows_of(metric: Metric, rows: Column, data: Mapping[str, Column], cache: IndexCache) -> list[RowLabels]:
    """The labels of each row of ``rows`` (in order). The ~30 IF-MIB columns of a table share
    each row's labels (one parse of the suffix, one ifName/ifDescr/ifAlias lookup per row); a
    metric whose rows are those of the last poll reuses its whole list."""
    keys = tuple(rows)
    mine = ("metric", metric.name, metric.oid)
    hit = cache.get(mine)
    if hit is not None and hit[0] == keys:
        return hit[1]  # type: ignore[no-any-return]
    shape = _shape(metric)
    table = cache.get(shape)
    if table is None:
        table = cache[shape] = {}
    out: list[RowLabels] = []
    for suffix in keys:
        row = table.get(suffix, False)
        if row is False:
            row = table[suffix] = _row_labels(metric, suffix, data) if metric.indexes or suffix == "0" else None
        out.append(row)
    cache[mine] = (keys, out)
    return out


def _numbers(values: Iterable[Value]) -> list[float | None]:
    """Each value as a number (None when it is not one), at C speed when all are."""
    listed = list(values)
    try:
        return list(map(float, listed))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return [as_number(v) for v in listed]


def metric_samples(metric: Metric, data: Mapping[str, Column], cache: IndexCache | None = None) -> list[Sample]:
    """Samples of one metric from the walked columns (``data`` keyed by column OID), converted a
    column at a time: labels from the cache, numbers in one pass."""
    rows = data.get(metric.oid)
    if not rows:
        return []
    labels = _rows_of(metric, rows, data, {} if cache is None else cache)
    if metric.type in ("gauge", "counter"):
        name, kind, scale = metric.name, metric.type, metric.scale
        numbers = _numbers(rows.values())
        if scale != 1.0:
            numbers = [None if v is None else v * scale for v in numbers]
        if None in labels or None in numbers:
            return [
                Sample(name, row[1], v, kind)
                for row, v in zip(labels, numbers, strict=True)
                if row is not None and v is not None
            ]
        # every row fits and is a number: the samples are made at C speed (tuple.__new__ per row)
        tuples = map(_SECOND, labels)  # type: ignore[arg-type]
        return list(map(_new_sample, zip(repeat(name), tuples, numbers, repeat(kind))))
    out: list[Sample] = []
    for row, value in zip(labels, rows.values(), strict=True):
        if row is not None:
            sample = _sample(metric, row, value)
            if sample is not None:
                out.append(sample)
    return out


def _sample(metric: Metric, row: tuple[dict[str, str], tuple[tuple[str, str], ...]], value: Value) -> Sample | None:
    if metric.type in ("gauge", "counter"):
        number = as_number(value)
        if number is None:
            return None
        return Sample(metric.name, row[1], number * metric.scale, metric.type)
    labels = dict(row[0])
    if metric.type == "EnumAsInfo":
        number = as_number(value)
        name = metric.enum_values.get(int(number)) if number is not None else None
        labels[metric.name] = name if name is not None else as_text(value)
        return Sample(metric.name + "_info", tuple(sorted(labels.items())), 1.0, "gauge")
    labels[metric.name] = render(metric.type, value)
    return Sample(metric.name, tuple(sorted(labels.items())), 1.0, "gauge")


def walk_roots(metrics: Iterable[Metric]) -> tuple[list[str], list[str]]:
    """(columns to walk, lookup columns) for a set of metrics; scalars are fetched by GET elsewhere."""
    columns: dict[str, None] = {}
    lookups: dict[str, None] = {}
    for m in metrics:
        if m.indexes:
            columns[m.oid] = None
        for lk in m.lookups:
            lookups[lk.oid] = None
    return list(columns), [o for o in lookups if o not in columns]
