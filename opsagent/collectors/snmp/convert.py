"""Pure conversion of walked varbinds into samples, named and typed as snmp_exporter does.

``ifHCInOctets{ifIndex="1",ifName="Gi0/1"} 123`` — the metric is the MIB object name, counters go
out as counters (no ``_total``), strings become a ``1``-valued series carrying the string as a label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opsagent.collectors.base import Sample
from opsagent.collectors.snmp.options import Index, Metric

Value = None | str | bytes | int | float
Column = dict[str, Value]  # OID suffix (after the column OID) → value


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


# One dict per poll: a row's labels (index labels + lookups) keyed by the table shape and suffix.
RowLabels = tuple[dict[str, str], tuple[tuple[str, str], ...]] | None
IndexCache = dict[tuple[object, str], RowLabels]


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


def metric_samples(metric: Metric, data: Mapping[str, Column], cache: IndexCache | None = None) -> list[Sample]:
    """Samples of one metric from the walked columns (``data`` keyed by column OID).

    ``cache`` (one dict per poll) shares each row's labels between the metrics of a table: the ~30
    IF-MIB columns all parse the same ifIndex suffixes and look up the same ifName/ifDescr/ifAlias,
    which was most of a poll's CPU at 1,000 switches.
    """
    rows = data.get(metric.oid, {})
    out: list[Sample] = []
    shape = (
        tuple((i.labelname, i.type, i.fixed_size) for i in metric.indexes),
        tuple((lk.labelname, lk.oid, lk.type, tuple(lk.labels)) for lk in metric.lookups),
    )
    cache = {} if cache is None else cache
    for suffix, value in rows.items():
        if not metric.indexes and suffix != "0":
            continue
        key = (shape, suffix)
        if key in cache:
            row = cache[key]
        else:
            row = cache[key] = _row_labels(metric, suffix, data)
        if row is None:
            continue
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
