"""A bounded per-series history of the agent's own samples, for the alert evaluator.

``rate``/``increase``/``*_over_time`` need past points; ``/metrics`` needs only the latest. The
history is fed by :class:`~opsagent.metrics.MetricsRegistry` when a batch arrives (a few list
appends per sample, no effect on scrapes) and trimmed to ``retention`` seconds. A series missing
from its producer's next batch is marked stale at that moment, as Prometheus does, so a vanished
filesystem stops matching instant selectors at once instead of lingering for the lookback.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat

LabelKey = tuple[tuple[str, str], ...]
LOOKBACK = 300.0  # Prometheus' default lookback delta for instant selectors
SHARED = object()  # Series.owner of a series that two producers feed


class Series:
    """One series: its labels (without ``__name__``; read-only: series of one label set share the
    dict) and parallel time/value lists."""

    __slots__ = ("key", "kind", "labels", "name", "owner", "stale_at", "ts", "vs")

    def __init__(self, name: str, labels: dict[str, str], key: LabelKey, kind: str) -> None:
        self.owner: object = None  # the producer that feeds it; SHARED when two do
        self.name = name
        self.labels = labels
        self.key = key
        self.kind = kind
        self.ts: list[float] = []
        self.vs: list[float] = []
        self.stale_at: float | None = None

    def append(self, t: float, value: float) -> None:
        if self.ts and t <= self.ts[-1]:  # out-of-order or duplicate points replace the last one
            self.vs[-1] = value
        else:
            self.ts.append(t)
            self.vs.append(value)
        self.stale_at = None

    def instant(self, t: float, lookback: float = LOOKBACK) -> float | None:
        """The value at ``t``: the last point in (t - lookback, t], unless the series went stale."""
        ts = self.ts
        if not ts:
            return None
        if ts[-1] <= t:
            i = len(ts) - 1
        else:
            i = bisect_right(ts, t) - 1
            if i < 0:
                return None
        if ts[i] <= t - lookback:
            return None
        if self.stale_at is not None and ts[i] < self.stale_at <= t:
            return None
        return self.vs[i]

    def window(self, start: float, end: float) -> tuple[list[float], list[float]]:
        """Points with start < t <= end (Prometheus range selectors are left-open)."""
        ts = self.ts
        lo = bisect_right(ts, start)
        hi = len(ts) if ts and ts[-1] <= end else bisect_right(ts, end)
        return ts[lo:hi], self.vs[lo:hi]


class _BatchLayout:
    """A producer's last batch: its signature, its series in order (with their point lists, which
    trimming shortens in place), the time of its last points and the epoch they were added at."""

    __slots__ = ("assets", "epoch", "exclusive", "last_t", "producer", "series", "signature", "ts_lists", "vs_lists")

    def __init__(
        self, producer: object, signature: Sequence[Hashable], series: list[Series], last_t: float, epoch: int
    ) -> None:
        self.producer = producer
        self.exclusive = all(s.owner == producer for s in series)
        self.signature = signature
        self.series = series
        self.ts_lists = [s.ts for s in series]
        self.vs_lists = [s.vs for s in series]
        self.last_t = last_t
        self.epoch = epoch
        self.assets = sorted({s.labels.get("asset", "") for s in series})


class AssetMark:
    """What changed an asset's series, for results cached per asset (alerts/memo.py): a version bumped by
    every point appended to, stale mark set on or series dropped with that ``asset`` label (``""``: none);
    per producer, a time no later than the last point of any of its live series there (its last whole
    batch's time: a series left out of it was marked stale then); and the newest point's time."""

    __slots__ = ("newest", "times", "version")

    def __init__(self) -> None:
        self.version = 0
        self.times: dict[object, float] = {}
        self.newest = float("-inf")

    def touch(self, producer: object, t: float, whole: bool) -> None:
        """Points at ``t`` from ``producer``; ``whole``: its whole batch (the others went stale)."""
        self.version += 1
        old = self.times.get(producer)
        self.times[producer] = t if whole or old is None else min(old, t)
        self.newest = max(self.newest, t)


class SeriesHistory:
    """Series by metric name, each keeping ``retention`` seconds (at most ``max_points`` points)."""

    def __init__(self, retention: float = 3600.0, max_points: int = 2000) -> None:
        self.retention = retention
        self.max_points = max_points
        self._by_name: dict[str, dict[LabelKey, Series]] = {}
        self._batches: dict[object, set[tuple[str, LabelKey]]] = {}
        self._lock = threading.Lock()
        self._ingested = 0
        # producer -> its last batch's layout (signature, series in order): see ``batch``
        self._layouts: dict[object, _BatchLayout] = {}
        # Bumped whenever a series becomes (or, fed again, is) shared by two producers: a layout
        # appended to at the current epoch knows its series are its own, end at its last time and are live.
        self._epoch = 0
        self._count = 0  # series held, kept as they are made and trimmed
        self._trimmed_at: float | None = None  # sample time of the last trim
        # Bumped whenever a series is made or dropped: the per-asset index below is rebuilt then.
        self._generation = 0
        self._by_asset: dict[str, tuple[int, dict[str, list[Series]]]] = {}  # name → (generation, asset → series)
        self._marks: dict[str, AssetMark] = {}  # asset label value ("" for none) → its changes

    def need(self, seconds: float) -> None:
        """Keep at least ``seconds`` of history (the longest range + offset the loaded rules use)."""
        self.retention = max(self.retention, seconds + LOOKBACK)

    def _series(self, name: str, key: LabelKey, labels: dict[str, str], kind: str) -> Series:
        by_key = self._by_name.get(name)
        if by_key is None:
            by_key = self._by_name[name] = {}
        series = by_key.get(key)
        if series is None:
            series = by_key[key] = Series(name, labels, key, kind)
            self._count += 1
            self._generation += 1
        return series

    def ingest(
        self, producer: object, rows: Iterable[tuple[str, Mapping[str, str], float, str]], t: float, *, replace: bool
    ) -> list[Series]:
        """Append ``(name, labels, value, kind)`` rows at time ``t``; the rows' series, in order.

        With ``replace`` the rows are the producer's whole batch: its series not in it go stale.
        """
        seen: set[tuple[str, LabelKey]] = set()
        out: list[Series] = []
        # A row's label mapping is usually shared by many rows (an interface's ~35 IF-MIB series): its
        # key and one read-only copy serve every series made from it (at fleet scale, millions of
        # series each held its own dict and key: ~0.6 KB a series)
        keys: dict[int, tuple[Mapping[str, str], LabelKey, dict[str, str]]] = {}
        with self._lock:
            self._layouts.pop(producer, None)  # ``batch`` records it again when it called us
            for name, labels, value, kind in rows:
                known = keys.get(id(labels))
                if known is None or known[0] is not labels:
                    known = keys[id(labels)] = (labels, tuple(sorted(labels.items())), dict(labels))
                series = self._series(name, known[1], known[2], kind)
                series.append(t, value)
                if series.owner is None:
                    series.owner = producer
                elif series.owner != producer:
                    # Another producer's layout may hold this series (as its own, until now): its fast
                    # appends check again. Only this can break them: the producer's own series never
                    # get points or stale marks elsewhere (its own ingest drops its layout). A global
                    # bump at every ingest (recording rules, each evaluation) made every device's
                    # append take the slow path.
                    series.owner = SHARED
                    self._epoch += 1
                seen.add((name, series.key))
                out.append(series)
            touched = {series.labels.get("asset", "") for series in out}
            if replace:
                kept = set()
                for name, key in self._batches.get(producer, set()) - seen:
                    gone = self._by_name.get(name, {}).get(key)
                    if gone is not None:
                        gone.stale_at = t
                        touched.add(gone.labels.get("asset", ""))
                        if gone.ts and gone.ts[-1] >= t:  # a late batch: the mark hides nothing, the next one may
                            kept.add((name, key))
                self._batches[producer] = seen | kept
            else:
                self._batches.setdefault(producer, set()).update(seen)
            self._touch(touched, producer, t, replace)
            self._counted(len(seen), t)
        return out

    def batch(
        self,
        producer: object,
        signature: Sequence[Hashable],
        rows: Callable[[], Iterable[tuple[str, Mapping[str, str], float, str]]],
        values: list[float],
        t: float,
    ) -> None:
        """A producer's whole batch at ``t`` (as ``ingest(..., replace=True)``). ``signature`` names
        its series in order; when it equals the producer's last one (the usual poll: same series,
        new values) only ``values`` are appended to the series found last time, else ``rows()`` are
        ingested in full."""
        with self._lock:
            hit = self._layouts.get(producer)
            if hit is not None and (hit.signature is signature or hit.signature == signature):
                hit.signature = signature  # kept: the next batch with this very object compares by identity
                self._append(hit, values, t)
                return
        series = self.ingest(producer, rows(), t, replace=True)
        with self._lock:
            if len(self._batches.get(producer, ())) == len({(one.name, one.key) for one in series}):
                self._layouts[producer] = _BatchLayout(producer, signature, series, t, self._epoch)
            # else it kept series a late batch could not mark stale: its next batch marks them (no fast path)

    def _append(self, layout: _BatchLayout, values: list[float], t: float) -> None:
        """Lock held. Nothing goes stale: only points are appended."""
        if len(values) != len(layout.series):
            raise ValueError(f"{len(values)} values for a layout of {len(layout.series)} series")
        if layout.epoch == self._epoch and layout.exclusive and t > layout.last_t:
            # Every series is this producer's alone, ends at ``last_t`` and none went stale since:
            # plain appends, at C speed.
            deque(map(list.append, layout.ts_lists, repeat(t)), maxlen=0)
            deque(map(list.append, layout.vs_lists, values), maxlen=0)
        else:
            for one, value in zip(layout.series, values, strict=True):
                one.append(t, value)
            layout.epoch = self._epoch
            layout.exclusive = all(one.owner == layout.producer for one in layout.series)
        layout.last_t = max(layout.last_t, t)
        self._touch(layout.assets, layout.producer, t, True)
        self._counted(len(values), t)

    def _touch(self, assets: Iterable[str], producer: object, t: float, whole: bool) -> None:
        """Lock held: the series of ``assets`` changed (points or stale marks at ``t`` from ``producer``)."""
        marks = self._marks
        for asset in assets:
            mark = marks.get(asset)
            if mark is None:
                mark = marks[asset] = AssetMark()
            mark.touch(producer, t, whole)

    def asset_marks(self, assets: Iterable[str] | None = None) -> dict[str, tuple[int, float, float]]:
        """(version, oldest, newest producer time) of ``assets`` (every asset seen when None); an asset
        never seen is left out."""
        with self._lock:
            marks = self._marks
            wanted = marks.items() if assets is None else ((a, marks[a]) for a in assets if a in marks)
            return {a: (m.version, min(m.times.values()), m.newest) for a, m in wanted if m.times}

    def _counted(self, points: int, t: float) -> None:
        """Amortised trimming (lock held). A trim visits every series, so it runs only once a
        tenth of the retention has passed since the last one (points older than the retention
        then exceed it by at most 10 %), or once every series has had 8 new points on average
        (a memory bound for bursts of polls). Trimming after every round of polls instead cost a
        visit of every series per round: ~0.2 ms CPU per SSH poll at 100 hosts."""
        self._ingested += points
        if self._trimmed_at is None:
            self._trimmed_at = t
        if t - self._trimmed_at >= self.retention / 10 or self._ingested > max(50_000, 8 * self._count):
            self._trim(t)

    def _trim(self, now: float) -> None:
        """Lock held. Points before the retention go, and all but the last ``max_points``. A
        series' last point stays unless the series empties (then it goes, and the cached layouts
        that may hold it), so the layouts' fast appends stay valid. This visits every series."""
        self._ingested = 0
        self._trimmed_at = now
        before, max_points = now - self.retention, self.max_points
        for name in list(self._by_name):
            by_key = self._by_name[name]
            emptied = []
            for key, series in by_key.items():
                ts = series.ts
                if ts and ts[0] >= before and len(ts) <= max_points:
                    continue
                cut = max(bisect_left(ts, before), len(ts) - max_points)
                if cut > 0:
                    del ts[:cut]
                    del series.vs[:cut]
                if not ts:
                    emptied.append(key)
            for key in emptied:
                gone = by_key.pop(key)
                mark = self._marks.get(gone.labels.get("asset", ""))
                if mark is not None:
                    mark.version += 1
                self._count -= 1
                self._generation += 1
            if emptied:
                self._layouts.clear()  # they may hold these series objects: found again next time
            if not by_key:
                del self._by_name[name]

    def trim(self, now: float) -> None:
        with self._lock:
            self._trim(now)

    def forget(self, producer: object, t: float) -> None:
        """The producer left (asset removed): its series go stale now. A series whose last point is not older
        than ``t`` (a late mark hides nothing) stays the producer's, so that its next batch, if it comes
        back, marks it stale: dropped, it lingered to the lookback, behind the batch's time the per-asset
        result caches count on (alerts/memo.py)."""
        self.ingest(producer, (), t, replace=True)
        with self._lock:
            if not self._batches.get(producer):
                self._batches.pop(producer, None)

    def producers(self) -> list[object]:
        with self._lock:
            return list(self._batches)

    def select(self, name: str | None) -> Iterator[Series]:
        """Every series of ``name`` (all series when ``name`` is None). A snapshot of the list."""
        with self._lock:
            if name is not None:
                return iter(list(self._by_name.get(name, {}).values()))
            return iter([s for by_key in self._by_name.values() for s in by_key.values()])

    def of_producers(self, wanted: Callable[[object], bool]) -> list[Series]:
        """The series the producers ``wanted`` accepts fed last (an asset's page: its collectors')."""
        with self._lock:
            keys = [k for producer, keys in self._batches.items() if wanted(producer) for k in keys]
            found = (self._by_name.get(name, {}).get(key) for name, key in keys)
            return [s for s in found if s is not None]

    def select_assets(self, name: str | None, assets: Iterable[str]) -> list[Series]:
        """The series of ``name`` (all names when None) whose ``asset`` label is one of ``assets``."""
        with self._lock:
            if name is None:
                wanted = set(assets)
                return [
                    s for by_key in self._by_name.values() for s in by_key.values() if s.labels.get("asset") in wanted
                ]
            index = self._asset_index(name)
            return [s for asset in assets for s in index.get(asset, ())]

    def any_of(self, names: Iterable[str], assets: Iterable[str]) -> bool:
        """Whether any series of ``names`` has an ``asset`` label in ``assets`` (stale ones count too)."""
        with self._lock:
            indexes = [self._asset_index(name) for name in names]
            return any(asset in index for index in indexes for asset in assets)

    def _asset_index(self, name: str) -> dict[str, list[Series]]:
        """Lock held: the series of ``name`` by their ``asset`` label, rebuilt after series came or went."""
        cached = self._by_asset.get(name)
        if cached is None or cached[0] != self._generation:
            index: dict[str, list[Series]] = {}
            for s in self._by_name.get(name, {}).values():
                index.setdefault(s.labels.get("asset", ""), []).append(s)
            cached = self._by_asset[name] = (self._generation, index)
        return cached[1]

    def series_count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._by_name.values())

    def point_count(self) -> int:
        with self._lock:
            return sum(len(s.ts) for v in self._by_name.values() for s in v.values())
