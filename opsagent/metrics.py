"""The metrics registry: latest samples per (asset, collector), one custom prometheus-client
collector (never a Gauge object per series).

Each poll *replaces* its batch, so a vanished interface or filesystem disappears from ``/metrics``
instead of going stale. Each batch is also rendered to exposition text once, when it arrives: a
scrape then only joins strings. prometheus-client's own encoder formats every sample on every
scrape and needs ~1.4 s for 100,000 series on this machine; the cached text needs milliseconds
(``bench/bench_metrics.py``). The small, fast-changing self-metrics still go through
prometheus-client's encoder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.samples import Sample as PromSample
from prometheus_client.utils import floatToGoString

from opsagent.collectors.base import CollectResult, Revalued, Sample
from opsagent.series import SeriesHistory

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4; charset=utf-8"

Key = tuple[str, str]  # (asset, collector)

SELF_HELP = {
    "opsagent_up": "1 if the last poll of this asset by this collector succeeded, else 0.",
    "opsagent_collect_duration_seconds": "Duration of the last poll of this asset by this collector.",
    "opsagent_collect_errors_total": "Failed polls of this asset by this collector, by reason.",
    "opsagent_down_reason": "1 while the asset cannot be polled by this collector, labelled with the reason of the "
    "failed poll that began the outage (kept until a poll succeeds, so an alert on it keeps one identity).",
    "opsagent_collect_last_success_timestamp_seconds": "Unix time of the last successful poll.",
    "opsagent_collect_skipped_total": "Polls skipped: the previous poll of the target was still running, or the "
    "poll could not start within half an interval of its slot.",
    "opsagent_series": "Number of series the agent currently exposes from its collectors.",
}


_SIGNATURE = itemgetter(0, 1, 3)  # Sample fields name, labels, kind
_VALUE = itemgetter(2)


def family_of(sample: Sample) -> tuple[str, str]:
    """(family name, exposition type). Counters drop ``_total`` (prometheus-client adds it back)."""
    if sample.kind == "counter":
        name = sample.name[:-6] if sample.name.endswith("_total") else sample.name
        return name, "counter"
    return sample.name, "gauge"  # info metrics are exposed as gauges valued 1, as node_exporter does


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if value - value == 0:  # finite (inf - inf and NaN - NaN are NaN): the common case first
        return repr(float(value))
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _format_values(values: list[float]) -> list[str]:
    """Each value's exposition text and newline; repr of every float at C speed when all are
    finite (a finite sum proves it), else value by value."""
    floats = [float(v) for v in values]
    total = sum(floats)
    if total - total == 0:
        return [f"{v!r}\n" for v in floats]
    return [_format_value(v) + "\n" for v in floats]


def _go_float(value: float) -> str:
    """A value as prometheus-client's encoders write it (Go's float formatting)."""
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]


def sample_line(name: str, labels: Mapping[str, str], value: float) -> str:
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return f"{name}{{{body}}} {_format_value(value)}\n" if body else f"{name} {_format_value(value)}\n"


@dataclass(slots=True)
class _Group:
    """One family's share of a batch layout: which samples, their names and full label dicts."""

    family: str
    kind: str
    indexes: list[int]
    names: list[str]
    labels: list[dict[str, str]]
    pick: Callable[[list[Any]], tuple[Any, ...]] | None = None  # None for a single-sample group

    def seal(self) -> None:
        """Done adding samples: a group of several gets its item picker (one C call per render)."""
        if len(self.indexes) > 1:
            self.pick = itemgetter(*self.indexes)


@dataclass(slots=True)
class _Layout:
    """What a target's batch looked like last time. Polls of one target nearly always return the
    same series in the same order: then only the values are new, and an update is a history
    append per sample (no label escaping, grouping or dict lookups; formatting waits for a scrape)."""

    signature: list[tuple[str, tuple[tuple[str, str], ...], str]]
    groups: list[_Group]
    prefixes: list[str]  # 'name{labels} ' per sample, batch order
    rendered: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], str]]  # label set -> (dict, text)


class _Batch:
    """A target's latest poll: its layout and values. The exposition text is rendered on the first
    scrape after the poll, once (a poll costs no formatting at all when nobody scrapes before the
    next one; a scrape joins cached strings)."""

    __slots__ = ("_texts", "layout", "values")

    def __init__(self, layout: _Layout, values: list[float]) -> None:
        self.layout = layout
        self.values = values
        self._texts: list[str] | None = None

    def texts(self) -> list[str]:
        """The exposition lines of each group of the layout (in ``layout.groups`` order)."""
        texts = self._texts
        if texts is None:  # two scrapes racing here compute the same thing: no lock needed
            layout = self.layout
            lines = [p + v for p, v in zip(layout.prefixes, _format_values(self.values), strict=True)]
            texts = [lines[g.indexes[0]] if g.pick is None else "".join(g.pick(lines)) for g in layout.groups]
            self._texts = texts
        return texts

    def rows(self, group: _Group) -> list[tuple[str, dict[str, str], float]]:
        values = self.values
        return [(n, lb, values[i]) for n, lb, i in zip(group.names, group.labels, group.indexes, strict=True)]


@dataclass
class _TargetStats:
    up: float = 0.0
    duration: float = 0.0
    last_success: float | None = None
    skipped: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # failed polls by reason
    down_reason: str | None = None  # reason of the first failed poll of the current outage
    last_error: str = ""  # reason of the last poll when it failed


class MetricsRegistry:
    """Latest samples plus the agent's own per-target health."""

    def __init__(self, help_texts: Mapping[str, str] | None = None) -> None:
        self._batches: dict[Key, _Batch] = {}
        # The same batches indexed by asset (collector -> batch): a per-target scrape
        # (``/metrics?target=ASSET``) reads its asset's few batches, never every target's.
        self._by_asset: dict[str, dict[str, _Batch]] = {}
        self._help: dict[str, str] = dict(SELF_HELP)
        if help_texts:
            self._help.update(help_texts)
        self._stats: dict[Key, _TargetStats] = {}
        self._lock = threading.Lock()  # guards the dict swaps; scrapes run in a worker thread
        # Past points per series for the alert evaluator (rate, *_over_time); /metrics never reads it.
        self.history = SeriesHistory()
        self.agent_labels: dict[str, str] = {}  # {"agent": id} on the self-metrics of a cluster member
        self._families: dict[tuple[str, str], tuple[str, str]] = {}

    def add_help(self, help_texts: Mapping[str, str]) -> None:
        for name, text in help_texts.items():
            self._help.setdefault(name, text)

    def update(self, asset: str, collector: str, samples: Iterable[Sample], now: float | None = None) -> None:
        """Replace the batch of (asset, collector) with ``samples`` (an ``asset`` label is added)."""
        key = (asset, collector)
        batch = samples if isinstance(samples, list) else list(samples)
        t = time.time() if now is None else now
        last = self._batches.get(key)
        layout = last.layout if last is not None else None
        if isinstance(batch, Revalued) and layout is not None and layout.signature is batch.signature:
            values = batch.values  # the layout's series (known by identity), new values: nothing to compare
        else:
            layout, values = self._layout_for(asset, batch, layout)
        rendered = layout.rendered
        # The layout's own (equal) signature: the history kept that very list last time, so its
        # comparison is one identity check per sample instead of a second deep comparison.
        signature = layout.signature
        self.history.batch(
            key,
            signature,
            lambda: [(n, rendered[lb][0], v, k) for (n, lb, k), v in zip(signature, values, strict=True)],
            values,
            t,
        )
        fresh = _Batch(layout, values)
        with self._lock:
            self._batches[key] = fresh
            self._by_asset.setdefault(asset, {})[collector] = fresh

    def _layout_for(self, asset: str, batch: list[Sample], layout: _Layout | None) -> tuple[_Layout, list[float]]:
        """The layout of ``batch`` (the last one when its series are the same) and its values."""
        if isinstance(batch, Revalued):
            signature, values = batch.signature, batch.values
        else:  # (name, labels, kind) and value per sample, at C speed
            signature, values = list(map(_SIGNATURE, batch)), list(map(_VALUE, batch))
        if layout is None or layout.signature != signature:
            return self._new_layout(asset, batch, signature, layout), values
        if isinstance(batch, Revalued):
            layout.signature = signature  # the same series: the next batches are known by identity
        return layout, values

    def _new_layout(
        self,
        asset: str,
        batch: list[Sample],
        signature: list[tuple[str, tuple[tuple[str, str], ...], str]],
        old: _Layout | None,
    ) -> _Layout:
        """Group a batch by family and render its label text (kept for the next polls). Label
        sets still in use from the previous layout keep their dicts and text."""
        previous = old.rendered if old is not None else {}
        current: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], str]] = {}
        groups: dict[str, _Group] = {}
        prefixes: list[str] = []
        for index, s in enumerate(batch):
            family, kind = self._family(s)
            group = groups.get(family)
            if group is None:
                group = groups[family] = _Group(family, kind, [], [], [])
            rendered = current.get(s.labels) or previous.get(s.labels)
            if rendered is None:
                full = dict(s.labels)
                full["asset"] = asset
                rendered = (full, ",".join(f'{k}="{_escape(v)}"' for k, v in full.items()))
            current[s.labels] = rendered
            group.indexes.append(index)
            group.names.append(s.name)
            group.labels.append(rendered[0])
            prefixes.append(f"{s.name}{{{rendered[1]}}} ")
        for group in groups.values():
            group.seal()
        return _Layout(signature, list(groups.values()), prefixes, current)

    def _family(self, sample: Sample) -> tuple[str, str]:
        hit = self._families.get((sample.name, sample.kind))
        if hit is None:
            hit = self._families[(sample.name, sample.kind)] = family_of(sample)
        return hit

    def record(self, result: CollectResult, now: float) -> None:
        """Update per-target health from a poll result (and its samples when it succeeded)."""
        key = (result.asset, result.collector)
        with self._lock:
            stats = self._stats.setdefault(key, _TargetStats())
            stats.duration = result.duration
            stats.up = 1.0 if result.ok else 0.0
            if result.ok:
                stats.last_success = now
                stats.down_reason = None
                stats.last_error = ""
            else:
                reason = result.reason or result.outcome.value
                stats.errors[reason] = stats.errors.get(reason, 0) + 1
                stats.last_error = reason
                if stats.down_reason is None:
                    stats.down_reason = reason
        # A failed poll keeps no stale values: the target's series are replaced by whatever the
        # failure carries (an exporter-style `pg_up 0`, or nothing); `opsagent_up` says why.
        self.update(result.asset, result.collector, result.samples, now)
        self._record_self(key, now)

    def _record_self(self, key: Key, now: float) -> None:
        """The per-target health series go to the history too (rules like TargetDown read them)."""
        with self._lock:
            stats = self._stats.get(key)
            if stats is None:
                return
            errors = list(stats.errors.items())
            down = stats.down_reason
            values = [stats.up, stats.duration, float(stats.skipped), *(float(n) for _, n in errors)]
            if down is not None:
                values.append(1.0)
        asset, collector = key

        def rows() -> list[tuple[str, Mapping[str, str], float, str]]:
            labels = {"asset": asset, "collector": collector}
            out: list[tuple[str, Mapping[str, str], float, str]] = [
                ("opsagent_up", labels, values[0], "gauge"),
                ("opsagent_collect_duration_seconds", labels, values[1], "gauge"),
                ("opsagent_collect_skipped_total", labels, values[2], "counter"),
            ]
            out += [
                ("opsagent_collect_errors_total", labels | {"reason": r}, value, "counter")
                for (r, _), value in zip(errors, values[3 : 3 + len(errors)], strict=True)
            ]
            if down is not None:
                out.append(("opsagent_down_reason", labels | {"reason": down}, 1.0, "gauge"))
            return out

        # the series are the same as long as the error reasons and the outage's reason are
        signature = (*(r for r, _ in errors), ("down", down))
        self.history.batch(("self", asset, collector), signature, rows, values, now)

    def skipped(self, asset: str, collector: str) -> None:
        with self._lock:
            self._stats.setdefault((asset, collector), _TargetStats()).skipped += 1

    def forget(self, asset: str, collector: str | None = None) -> None:
        """Drop an asset (or one of its collectors) that left the inventory."""
        with self._lock:
            for store in (self._batches, self._stats):
                for key in [k for k in store if k[0] == asset and collector in (None, k[1])]:
                    del store[key]
            per_asset = self._by_asset.get(asset, {})
            for name in [c for c in per_asset if collector in (None, c)]:
                del per_asset[name]
            if not per_asset:
                self._by_asset.pop(asset, None)
        for producer in self.history.producers():
            if isinstance(producer, tuple) and asset in producer[:2] and collector in (None, producer[-1]):
                self.history.forget(producer, time.time())

    def series_count(self) -> int:
        with self._lock:
            batches = list(self._batches.values())
        return sum(len(b.values) for b in batches)

    def latest(self, asset: str | None = None) -> list[tuple[str, dict[str, str], float]]:
        """Flat (name, labels, value) view for the CLI and tests."""
        with self._lock:
            items = list(self._batches.items())
        return [row for (a, _), b in items if asset in (None, a) for g in b.layout.groups for row in b.rows(g)]

    # -- prometheus-client custom collector protocol ------------------------------------------
    def collect(self) -> Iterator[Metric]:
        """Every family, collected samples and self-metrics (for any prometheus-client registry)."""
        merged: dict[str, Metric] = {}
        for family, kind, parts in self._merged(texts=False):
            metric = merged[family] = Metric(family, self._help_for(family), kind)
            metric.samples.extend(
                PromSample(n, lb, v, None, None) for batch, group in parts for n, lb, v in batch.rows(group)
            )
        yield from merged.values()
        yield from self.collect_self()

    def collect_self(self) -> Iterator[Metric]:
        with self._lock:
            stats = list(self._stats.items())
            errors = [((a, c, r), n) for (a, c), st in stats for r, n in st.errors.items()]
        yield from self._self_metrics(stats, errors, self.series_count())

    def _merged(self, *, texts: bool, batches: list[_Batch] | None = None) -> list[tuple[str, str, list[Any]]]:
        """Per family (kind, parts) over every target (or over ``batches``): each target's rendered
        text of the family (``texts``) or its (batch, group) for the samples. A family reported with
        two types keeps the first."""
        if batches is None:
            with self._lock:
                batches = list(self._batches.values())
        merged: dict[str, tuple[str, list[Any]]] = {}
        for batch in batches:
            groups = batch.layout.groups
            items: list[Any] = batch.texts() if texts else [(batch, g) for g in groups]
            for g, item in zip(groups, items, strict=True):
                entry = merged.get(g.family)
                if entry is None:
                    entry = merged[g.family] = (g.kind, [])
                if entry[0] == g.kind:
                    entry[1].append(item)
        return [(name, kind, parts) for name, (kind, parts) in merged.items()]

    def render_collected(self, openmetrics: bool) -> str:
        """Exposition text of the collected families from the cached per-batch text."""
        return self._render(self._merged(texts=True), openmetrics)

    def target_batches(self, asset: str, collectors: Collection[str] | None = None) -> dict[str, int] | None:
        """Series count per collector of ``asset`` (only ``collectors`` when given); None when the
        registry holds no batch of the asset (unknown, or not polled yet)."""
        with self._lock:
            per_asset = self._by_asset.get(asset)
            if per_asset is None:
                return None
            return {c: len(b.values) for c, b in per_asset.items() if collectors is None or c in collectors}

    def render_target(self, asset: str, collectors: Collection[str] | None, openmetrics: bool) -> str:
        """Exposition text of one asset's collected series (of ``collectors`` only when given), as the
        multi-target exporters (snmp_exporter, blackbox_exporter) answer ``?target=``. The asset's
        batches come from the per-asset index, and their text is the same cached text ``/metrics``
        joins: the cost is that of the asset's own series."""
        with self._lock:
            per_asset = self._by_asset.get(asset, {})
            batches = [b for c, b in per_asset.items() if collectors is None or c in collectors]
        return self._render(self._merged(texts=True, batches=batches), openmetrics)

    def failures(self, asset: str, collectors: Collection[str] | None = None) -> dict[str, str]:
        """Why the last poll of each collector of ``asset`` failed (collector -> reason), for a
        target answered without series."""
        with self._lock:  # the asset's own collectors only (by key), never a scan of every target
            names = [c for c in self._by_asset.get(asset, ()) if collectors is None or c in collectors]
            stats = [(c, self._stats.get((asset, c))) for c in names]
        return {c: st.last_error for c, st in stats if st is not None and st.last_error}

    def _render(self, merged: list[tuple[str, str, list[Any]]], openmetrics: bool) -> str:
        out: list[str] = []
        for family, kind, parts in merged:
            header = family if openmetrics or kind != "counter" else family + "_total"
            out.append(f"# HELP {header} {_escape(self._help_for(family))}\n# TYPE {header} {kind}\n")
            out.extend(parts)
        return "".join(out)

    def _help_for(self, family: str) -> str:
        return self._help.get(family) or self._help.get(family + "_total") or f"Collected metric {family}."

    def render_self(self, openmetrics: bool) -> str:
        """The agent's own per-target series as exposition text, exactly as prometheus-client's
        encoders write :meth:`collect_self` (same order, sorted labels, value text), without a
        sample object per series: at 5,000 targets that was most of a scrape's cost."""
        with self._lock:
            stats = [
                (key, st.up, st.duration, st.skipped, st.last_success, st.down_reason)
                for key, st in self._stats.items()
            ]
            errors = [((a, c, r), n) for (a, c), st in self._stats.items() for r, n in st.errors.items()]
        agent = dict(self.agent_labels)
        base, with_reason = sorted({"asset", "collector", *agent}), sorted({"asset", "collector", "reason", *agent})

        def braces(keys: list[str], labels: dict[str, str]) -> str:
            return "{" + ",".join(f'{k}="{_escape(labels[k])}"' for k in keys) + "}"

        ups, durations, skips, lasts, downs = [], [], [], [], []
        for (asset, collector), up, duration, skipped, last, down in stats:
            labels = {"asset": asset, "collector": collector} | agent
            head = braces(base, labels)
            ups.append(f"opsagent_up{head} {_go_float(up)}\n")
            durations.append(f"opsagent_collect_duration_seconds{head} {_go_float(duration)}\n")
            skips.append(f"opsagent_collect_skipped_total{head} {_go_float(skipped)}\n")
            if last is not None:
                lasts.append(f"opsagent_collect_last_success_timestamp_seconds{head} {_go_float(last)}\n")
            if down is not None:
                downs.append(f"opsagent_down_reason{braces(with_reason, labels | {'reason': down})} 1.0\n")
        errs = [
            f"opsagent_collect_errors_total"
            f"{braces(with_reason, {'asset': a, 'collector': c, 'reason': r} | agent)} {_go_float(n)}\n"
            for (a, c, r), n in errors
        ]
        total = f"opsagent_series{braces(sorted(agent), agent) if agent else ''} {_go_float(self.series_count())}\n"
        out: list[str] = []
        for family, kind, lines in (
            ("opsagent_up", "gauge", ups),
            ("opsagent_collect_duration_seconds", "gauge", durations),
            ("opsagent_collect_last_success_timestamp_seconds", "gauge", lasts),
            ("opsagent_collect_skipped", "counter", skips),
            ("opsagent_collect_errors", "counter", errs),
            ("opsagent_down_reason", "gauge", downs),
            ("opsagent_series", "gauge", [total]),
        ):
            header = family if openmetrics or kind != "counter" else family + "_total"
            text = SELF_HELP[family if kind != "counter" else family + "_total"]
            text = text.replace("\\", r"\\").replace("\n", r"\n")
            if openmetrics:
                text = text.replace('"', r"\"")
            out.append(f"# HELP {header} {text}\n# TYPE {header} {kind}\n")
            out.extend(lines)
        return "".join(out)

    def _self_metrics(
        self, stats: list[tuple[Key, _TargetStats]], errors: list[tuple[tuple[str, str, str], int]], series: int
    ) -> Iterator[Metric]:
        up = Metric("opsagent_up", SELF_HELP["opsagent_up"], "gauge")
        duration = Metric("opsagent_collect_duration_seconds", SELF_HELP["opsagent_collect_duration_seconds"], "gauge")
        last = Metric(
            "opsagent_collect_last_success_timestamp_seconds",
            SELF_HELP["opsagent_collect_last_success_timestamp_seconds"],
            "gauge",
        )
        skipped = Metric("opsagent_collect_skipped", SELF_HELP["opsagent_collect_skipped_total"], "counter")
        agent = self.agent_labels
        for (asset, collector), st in stats:
            labels = {"asset": asset, "collector": collector} | agent
            up.add_sample("opsagent_up", labels, st.up)
            duration.add_sample("opsagent_collect_duration_seconds", labels, st.duration)
            skipped.add_sample("opsagent_collect_skipped_total", labels, st.skipped)
            if st.last_success is not None:
                last.add_sample("opsagent_collect_last_success_timestamp_seconds", labels, st.last_success)
        errs = Metric("opsagent_collect_errors", SELF_HELP["opsagent_collect_errors_total"], "counter")
        for (asset, collector, reason), count in errors:
            labels = {"asset": asset, "collector": collector, "reason": reason} | agent
            errs.add_sample("opsagent_collect_errors_total", labels, count)
        down = Metric("opsagent_down_reason", SELF_HELP["opsagent_down_reason"], "gauge")
        for (asset, collector), st in stats:
            if st.down_reason is not None:
                labels = {"asset": asset, "collector": collector, "reason": st.down_reason} | agent
                down.add_sample("opsagent_down_reason", labels, 1.0)
        total = Metric("opsagent_series", SELF_HELP["opsagent_series"], "gauge")
        total.add_sample("opsagent_series", dict(agent), series)
        yield from (up, duration, last, skipped, errs, down, total)


class Exposition:
    """What ``/metrics`` serves: collected series (cached text) + agent health (prometheus-client)."""

    def __init__(self, metrics: MetricsRegistry, *, process: bool = True) -> None:
        self.metrics = metrics
        # the agent's other health collectors (process, backups); its per-target series are rendered
        # first, straight to text (MetricsRegistry.render_self)
        self.health = CollectorRegistry(auto_describe=False)
        if process:
            ProcessCollector(namespace="opsagent", registry=self.health)

    def render(self, accept: str | None, *, collected: bool = True) -> tuple[bytes, str]:
        """Exposition in the format the scraper asked for (OpenMetrics 1.0 or text 0.0.4): the
        collected series and the agent's own, or (``collected=False``) the agent's own only."""
        encoder, content_type = choose_encoder(accept or "")
        openmetrics = content_type.startswith("application/openmetrics-text")
        health = self.metrics.render_self(openmetrics) + encoder(self.health).decode()
        if openmetrics:
            health = health.removesuffix("# EOF\n")
        body = self.metrics.render_collected(openmetrics) if collected else ""
        body += health + ("# EOF\n" if openmetrics else "")
        return body.encode(), content_type

    def render_target(self, accept: str | None, asset: str, collectors: Collection[str] | None) -> tuple[bytes, str]:
        """One asset's collected series (``/metrics?target=ASSET[&collector=…]``), nothing else."""
        _encoder, content_type = choose_encoder(accept or "")
        openmetrics = content_type.startswith("application/openmetrics-text")
        body = self.metrics.render_target(asset, collectors, openmetrics) + ("# EOF\n" if openmetrics else "")
        return body.encode(), content_type
