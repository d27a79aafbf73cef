"""Which expressions can be evaluated for some assets alone.

An expression is *local to a label* (``asset``) when its result elements carrying ``asset="X"`` are
exactly those it returns over the series carrying ``asset="X"`` alone: selectors, element-wise functions
and range functions, aggregations that keep the label (``by (asset, …)``, ``without (…)`` not
dropping it), and vector matching that includes it (the default, ``on (asset, …)``, ``ignoring (…)``
not ignoring it). Functions that make or drop label sets (``absent``, ``vector``, ``scalar``) are not.
A poll result then needs only its asset's series evaluated, not the fleet's.
"""

from __future__ import annotations

from opsagent.alerts.promql import functions as fn
from opsagent.alerts.promql.ast import Aggregate, Binary, Call, Expr, MatrixSelector, VectorSelector, walk

_RANGE = {"rate", "increase", "delta", "irate", "idelta", "deriv", "predict_linear", "changes", "resets"}
_LOCAL_CALLS = frozenset(
    {"time", "clamp", "clamp_min", "clamp_max", "round", "quantile_over_time"}
    | _RANGE
    | set(fn.MATH)
    | set(fn.OVER_TIME)
)


# Element-wise functions of their arguments' values alone (no clock, no past points).
_TIMELESS_CALLS = frozenset({"clamp", "clamp_min", "clamp_max", "round"} | set(fn.MATH))


def _timeless(node: Expr) -> bool:
    if isinstance(node, Call):
        return node.func in _TIMELESS_CALLS
    if isinstance(node, VectorSelector):
        return node.offset == 0 and node.name is not None
    return not isinstance(node, MatrixSelector)


def _keeps(node: Expr, label: str) -> bool:
    if isinstance(node, Call):
        return node.func in _LOCAL_CALLS
    if isinstance(node, Aggregate):
        return (label not in node.grouping) if node.without else (label in node.grouping)
    if isinstance(node, Binary):
        matching = node.matching
        return (label in matching.labels) if matching.on else (label not in matching.labels)
    return True


def local_to(expr: Expr, label: str = "asset") -> bool:
    """Whether ``expr``'s result for one value of ``label`` depends only on the series with that value."""
    return all(_keeps(node, label) for node in walk(expr))


def time_invariant(expr: Expr) -> bool:
    """Whether ``expr`` at a later time gives the same result as long as no series it reads got a point
    or a stale mark and none of their last points left the lookback window: only named instant selectors
    without ``offset``, numbers, operators, aggregations and element-wise functions (no ranges, no
    ``time()``)."""
    return all(_timeless(node) for node in walk(expr))


# Range functions whose value over a window's points is that of the same points at any later time (deriv
# centres on the first point; *_over_time, changes, irate… read the points alone), and those whose value
# moves with the clock (rate/increase/delta extrapolate to the window's ends, predict_linear to the
# evaluation time) but are evaluated with the points held still: the evaluator says which results moved.
STEADY_RANGE = frozenset(
    {"rate", "increase", "delta", "irate", "idelta", "deriv", "predict_linear", "changes", "resets"}
    | {"quantile_over_time"}
    | set(fn.OVER_TIME)
)


def _steady(node: Expr) -> bool:
    if isinstance(node, Call):
        return node.func in _TIMELESS_CALLS or node.func in STEADY_RANGE
    if isinstance(node, VectorSelector):
        return node.offset == 0 and node.name is not None
    return True


def steady(expr: Expr) -> bool:
    """Whether ``expr``'s result can be held per asset between evaluations, as long as none of the asset's
    series got a point or a stale mark, no point left a range window or the lookback, and every range
    function's value it computed did not move with the clock (``Evaluator.until``/``moving`` tell): the
    time-invariant expressions and those over range functions, without ``time()`` or ``offset``."""
    return all(_steady(node) for node in walk(expr))
