"""Results of asset-local, time-invariant expressions kept per asset between evaluations.

An expression that is local to ``asset`` (``promql.locality.local_to``) and time-invariant
(``promql.locality.time_invariant``: instant selectors, operators, aggregations, element-wise functions)
gives, for one asset, the same elements at a later time as long as none of that asset's series got a
point or a stale mark and none of their points left the lookback window. The history keeps those changes
per asset (``SeriesHistory.asset_marks``), so an evaluation re-evaluates only the assets that changed
since their cached result and reuses the others: a full tick every 15 s over hosts polled every 60 s
evaluates a quarter of them, and none that a poll-driven tick has already evaluated since their poll.
Expressions over range functions (``promql.locality.steady``) are held too, per asset until the first
point of one of its range windows leaves it, and only when no value moved with the clock (rate over
counters that did not move: 0 however it is extrapolated; predict_linear of a flat series): a host's
error counters are evaluated again when they get points, not at every tick.
The result equals a full evaluation's (tests/unit/test_alert_memo.py compares them over random series).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from opsagent.alerts.promql.ast import Expr
from opsagent.alerts.promql.engine import Element, Evaluator


@dataclass(slots=True)
class _Cached:
    elements: list[Element]
    version: int
    at: float  # the evaluation time they are for
    until: float = math.inf  # when a point leaves one of the asset's range windows


@dataclass
class AssetMemo:
    """One expression's results by asset (the ``asset`` label's value, ``""`` for none)."""

    expr: Expr
    cached: dict[str, _Cached] = field(default_factory=dict)
    evaluated: int = 0  # assets evaluated (the rest were reused), for tests and benchmarks

    def evaluate(
        self,
        evaluator: Evaluator,
        t: float,
        scope: frozenset[str] | None = None,
        marks: dict[str, tuple[int, float, float]] | None = None,
    ) -> list[Element]:
        """The expression's elements at ``t`` over ``scope``'s assets (every asset when None), as
        ``evaluator`` gives them, re-evaluating only the assets whose cached elements may have changed.
        ``marks``: the history's ``asset_marks(scope)``, read by the caller for several expressions."""
        # Marks are read before the evaluation: a point added while it runs changes the version, so the
        # asset is evaluated again next time even if this evaluation already saw the point.
        if marks is None:
            marks = evaluator.history.asset_marks(scope)
        lookback = evaluator.lookback
        cached = self.cached
        stale = [
            asset
            for asset, (version, oldest, newest) in marks.items()
            if not _valid(cached.get(asset), version, oldest, newest, t, lookback)
        ]
        fresh = self._refresh(evaluator, t, stale, marks) if stale else {}
        if scope is None:
            for asset in [a for a in cached if a not in marks]:
                del cached[asset]
        out: list[Element] = []
        for asset in marks:
            elements = fresh.get(asset)
            if elements is None:
                hit = cached.get(asset)
                elements = hit.elements if hit is not None else []
            out += elements
        return out

    def _refresh(
        self, evaluator: Evaluator, t: float, assets: list[str], marks: dict[str, tuple[int, float, float]]
    ) -> dict[str, list[Element]]:
        """``assets``' elements at ``t``, kept for later evaluations unless a range function's value moved
        with the clock for them."""
        outer = evaluator.scope
        evaluator.scope = frozenset(assets)
        evaluator.until, evaluator.moving = {}, set()
        try:
            result = evaluator.evaluate(self.expr, t)
            until, moving = evaluator.until, evaluator.moving
        finally:
            evaluator.scope = outer
            evaluator.until, evaluator.moving = None, set()
        if not isinstance(result, list):
            raise ValueError("the expression returned a scalar")
        fresh: dict[str, list[Element]] = {asset: [] for asset in assets}
        for element in result:
            fresh.setdefault(element.labels.get("asset", ""), []).append(element)
        for asset, elements in fresh.items():
            mark = marks.get(asset)
            if mark is None:  # (local expressions keep the label: never, but never cached either)
                continue
            if asset in moving:
                self.cached.pop(asset, None)
            else:
                self.cached[asset] = _Cached(elements, mark[0], t, until.get(asset, math.inf))
        self.evaluated += len(assets)
        return fresh


def _valid(hit: _Cached | None, version: int, oldest: float, newest: float, t: float, lookback: float) -> bool:
    """Whether an asset's cached elements are its elements at ``t``: nothing changed its series since,
    none of its points was newer than the cached evaluation, time has not gone back, no last point
    has aged out of the lookback window by ``t`` (an instant selector then drops it) and no point has left
    a range window."""
    return (
        hit is not None
        and hit.version == version
        and hit.at <= t < hit.until
        and newest <= hit.at
        and t < oldest + lookback
    )
