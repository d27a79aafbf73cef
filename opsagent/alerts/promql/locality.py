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
from opsagent.alerts.promql.ast import Aggregate, Binary, Call, Expr, walk

_RANGE = {"rate", "increase", "delta", "irate", "idelta", "deriv", "predict_linear", "changes", "resets"}
_LOCAL_CALLS = frozenset(
    {"time", "clamp", "clamp_min", "clamp_max", "round", "quantile_over_time"}
    | _RANGE
    | set(fn.MATH)
    | set(fn.OVER_TIME)
)


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
