"""Evaluates a parsed PromQL subset expression at one instant over a :class:`SeriesHistory`.

An instant vector is a list of ``Element(name, labels, value)``; ``labels`` never holds
``__name__`` and is shared with the stored series (never mutated here), so a threshold over 10,000
series copies no dicts. Label matching follows Prometheus: one-to-one by default, ``on``/``ignoring``,
``group_left``/``group_right``, and many-to-many for ``and``/``or``/``unless``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from opsagent.alerts.promql import functions as fn
from opsagent.alerts.promql.ast import (
    Aggregate,
    Binary,
    Call,
    Expr,
    MatrixSelector,
    Number,
    String,
    Unary,
    VectorMatching,
    VectorSelector,
)
from opsagent.series import LOOKBACK, Series, SeriesHistory


class Element(NamedTuple):
    name: str | None
    labels: dict[str, str]
    value: float


Vector = list[Element]
_CLOCKED = frozenset({"rate", "increase", "delta", "predict_linear"})  # values that move with the clock
# The functions _range_function computes: over one series' window each, keeping its labels.
_RANGE_FUNCTIONS = frozenset(
    {"rate", "increase", "delta", "irate", "idelta", "deriv", "predict_linear", "changes", "resets"}
    | {"quantile_over_time", *fn.OVER_TIME}
)
Value = float | Vector


class EvalError(ValueError):
    """An expression that parsed but cannot be evaluated on this data (e.g. duplicate matches)."""


def _pow(a: float, b: float) -> float:
    try:
        return float(a**b)
    except (OverflowError, ZeroDivisionError):
        return math.inf
    except (ValueError, TypeError):
        return math.nan


def _div(a: float, b: float) -> float:
    if b == 0:  # IEEE 754, as Go computes it: x/0 = ±Inf, 0/0 = NaN
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _mod(a: float, b: float) -> float:
    return math.fmod(a, b) if b != 0 else math.nan


ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _div,
    "%": _mod,
    "^": _pow,
    "atan2": math.atan2,
}
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


def _value_check(op: str, value: str) -> Callable[[str], bool]:
    if op == "=":
        return lambda v: v == value
    if op == "!=":
        return lambda v: v != value
    pattern = re.compile(f"(?:{value})\\Z", re.DOTALL)  # Prometheus regexes are fully anchored
    if op == "=~":
        return lambda v: pattern.match(v) is not None
    return lambda v: pattern.match(v) is None


def _matcher(label: str, op: str, value: str) -> Callable[[dict[str, str]], bool]:
    check = _value_check(op, value)
    return lambda lb: check(lb.get(label, ""))


_Checks = tuple[list[Callable[[str], bool]], list[Callable[[dict[str, str]], bool]]]


def _checks(matchers: tuple[tuple[str, str, str], ...]) -> _Checks:
    """(checks of the metric name — ``__name__`` matchers —, checks of the other labels)."""
    names = [_value_check(op, value) for label, op, value in matchers if label == "__name__"]
    labels = [_matcher(label, op, value) for label, op, value in matchers if label != "__name__"]
    return names, labels


@dataclass
class Stats:
    """What one evaluation touched: points read from the history (the benchmark's unit)."""

    samples: int = 0


class Evaluator:
    """Evaluates expressions at time ``t`` over ``history``."""

    def __init__(self, history: SeriesHistory, lookback: float = LOOKBACK) -> None:
        self.history = history
        self.lookback = lookback
        self.stats = Stats()
        self._matchers: dict[tuple[tuple[str, str, str], ...], _Checks] = {}
        # Asset names: selectors read only these assets' series (for expressions ``local_to`` asset).
        self.scope: frozenset[str] | None = None
        # When not None (alerts/memo.py sets them): per asset, the time before which no point of its range
        # windows leaves them, and the assets a range function's value moved with the clock for.
        self.until: dict[str, float] | None = None
        self.moving: set[str] = set()
        self._millis: fn.Millis = {}  # regression windows' timestamps in milliseconds (functions.regression_x)
        # Set for the next range function only (see _pruned): the matching and the signatures of the other
        # side of the binary operator it is the left operand of; series matching none are not computed.
        self._only: tuple[VectorMatching, set[object]] | None = None

    def evaluate(self, expr: Expr, t: float) -> Value:
        return self._eval(expr, t)

    def _eval(self, expr: Expr, t: float) -> Value:
        if isinstance(expr, Binary | Unary):
            return self._arithmetic(expr, t)
        if isinstance(expr, Number):
            return expr.value
        if isinstance(expr, VectorSelector):
            return self._instant(expr, t)
        if isinstance(expr, Call):
            return self._call(expr, t)
        if isinstance(expr, Aggregate):
            return self._aggregate(expr, t)
        if isinstance(expr, String | MatrixSelector):
            raise EvalError("a string or range vector cannot be the result of an expression")
        raise EvalError(f"unsupported node {type(expr).__name__}")

    def _arithmetic(self, root: Binary | Unary, t: float) -> Value:
        """Operator trees in post-order with explicit stacks: ``a + b + … (1,000 terms)`` is 1,000
        levels deep and costs no recursion; other nodes (calls, aggregations) recurse as they nest."""
        values: list[Value] = []
        stack: list[tuple[Expr, bool]] = [(root, False)]
        while stack:
            node, operands_done = stack.pop()
            if isinstance(node, Binary):
                if operands_done:
                    rhs = values.pop()
                    values.append(self._binary(node, values.pop(), rhs))
                elif _prunable(node):
                    rhs = self._eval(node.rhs, t)
                    values.append(self._binary(node, self._pruned(node, rhs, t), rhs))
                else:
                    stack += ((node, True), (node.rhs, False), (node.lhs, False))
            elif isinstance(node, Unary):
                if operands_done:
                    value = values.pop()
                    negated = -value if isinstance(value, float) else [Element(None, e.labels, -e.value) for e in value]
                    values.append(negated)
                else:
                    stack += ((node, True), (node.expr, False))
            else:
                values.append(self._eval(node, t))
        return values[0]

    # -- selectors ----------------------------------------------------------------------------
    def _series(self, sel: VectorSelector) -> Iterable[Series]:
        checks = self._matchers.get(sel.matchers)
        if checks is None:
            checks = self._matchers[sel.matchers] = _checks(sel.matchers)
        name_checks, label_checks = checks
        scope = self.scope
        candidates = self.history.select(sel.name) if scope is None else self.history.select_assets(sel.name, scope)
        if name_checks:  # {__name__=~"a|b"}: series labels never hold __name__, the series' name is it
            candidates = (s for s in candidates if all(c(s.name) for c in name_checks))
        if not label_checks:
            return candidates
        if len(label_checks) == 1:
            check = label_checks[0]
            return (s for s in candidates if check(s.labels))
        return (s for s in candidates if all(c(s.labels) for c in label_checks))

    def _instant(self, sel: VectorSelector, t: float) -> Vector:
        at = t - sel.offset
        out: Vector = []
        append = out.append
        lookback = self.lookback
        for s in self._series(sel):
            value = s.instant(at, lookback)
            if value is not None:
                append(Element(s.name, s.labels, value))
        self.stats.samples += len(out)
        return out

    def _pruned(self, node: Binary, rhs: Value, t: float) -> Value:
        """The left operand (a range function, see _prunable) of ``node``, computed only for the series that
        have a match in ``rhs``: the others' results would be dropped by the operator (``rate(x[5m]) /
        node_network_speed_bytes``: a rate only for the interfaces with a speed, not every veth and lo)."""
        if isinstance(rhs, list):
            self._only = (node.matching, {signature(e.labels, node.matching) for e in rhs})
        try:
            return self._eval(node.lhs, t)
        finally:
            self._only = None

    def _ranges(
        self, sel: MatrixSelector, t: float, only: tuple[VectorMatching, set[object]] | None = None
    ) -> Iterable[tuple[Series, list[float], list[float]]]:
        end = t - sel.vector.offset
        start = end - sel.range
        for s in self._series(sel.vector):
            if only is not None and signature(s.labels, only[0]) not in only[1]:
                continue
            ts, vs = s.window(start, end)
            if ts:
                self.stats.samples += len(ts)
                yield s, ts, vs

    # -- functions ----------------------------------------------------------------------------
    def _call(self, call: Call, t: float) -> Value:
        name = call.func
        if name == "time":
            return t
        if name == "vector":
            return [Element(None, {}, self._scalar(call.args[0], t))]
        if name == "scalar":
            vec = self._vector(call.args[0], t)
            return vec[0].value if len(vec) == 1 else math.nan
        if name in ("absent", "absent_over_time"):
            return self._absent(call, t)
        if name in fn.MATH:
            f = fn.MATH[name]
            return [Element(None, e.labels, f(e.value)) for e in self._vector(call.args[0], t)]
        if name in ("clamp", "clamp_min", "clamp_max", "round"):
            return self._clamp_round(call, t)
        arg = call.args[-1] if name in ("quantile_over_time",) else call.args[0]
        assert isinstance(arg, MatrixSelector)
        return self._range_function(call, arg, t)

    def _range_function(self, call: Call, arg: MatrixSelector, t: float) -> Vector:
        only, self._only = self._only, None  # for this function's own series, not its arguments'
        name = call.func
        end = t - arg.vector.offset
        start = end - arg.range
        out: Vector = []
        extra = self._scalar(call.args[1 if name == "predict_linear" else 0], t) if len(call.args) > 1 else 0.0
        shared: list[fn.XFit] = []  # the x side of the last fit: series of one batch share timestamps
        slope = math.nan  # predict_linear's last fit's
        for s, ts, vs in self._ranges(arg, t, only):
            value: float | None
            if name in ("rate", "increase", "delta"):
                value = fn.extrapolated(ts, vs, start, end, counter=name != "delta", rate=name == "rate")
            elif name in ("irate", "idelta"):
                value = fn.irate(ts, vs, counter=name == "irate", is_rate=name == "irate")
            elif name in ("deriv", "predict_linear"):
                # Prometheus: deriv centres x on the first sample, predict_linear on the evaluation time
                fit = fn.linear_regression(ts, vs, ts[0] if name == "deriv" else t, shared, self._millis)
                value = None if fit is None else (fit[0] if name == "deriv" else fit[1] + fit[0] * extra)
                slope = math.nan if fit is None else fit[0]
            elif name == "changes":
                value = fn.changes(vs)
            elif name == "resets":
                value = fn.resets(vs)
            elif name == "quantile_over_time":
                value = fn.quantile(extra, vs)
            else:
                value = fn.OVER_TIME[name](vs)
            if self.until is not None:
                self._held(s, ts, vs, arg, name, value, slope)
            if value is not None:
                keep_name = name == "last_over_time"
                out.append(Element(s.name if keep_name else None, s.labels, value))
        return out

    def _held(
        self,
        s: Series,
        ts: list[float],
        vs: list[float],
        arg: MatrixSelector,
        name: str,
        value: float | None,
        slope: float,
    ) -> None:
        """Until when ``value`` (a range function's, over ``ts``/``vs``) stays what it is for ``s``'s asset,
        the points held still: until the window's first point leaves it; and only if the function does not
        move with the clock (see locality.STEADY_RANGE): rate/increase/delta over points all equal (0,
        whatever the extrapolation), predict_linear with a slope of exactly 0."""
        assert self.until is not None
        asset = s.labels.get("asset", "")
        leaves = ts[0] + arg.range + arg.vector.offset
        if leaves < self.until.get(asset, math.inf):
            self.until[asset] = leaves
        if name not in _CLOCKED or value is None:
            return
        still = slope == 0.0 if name == "predict_linear" else value == 0.0 and vs.count(vs[0]) == len(vs)
        if not still:
            self.moving.add(asset)

    def _absent(self, call: Call, t: float) -> Vector:
        arg = call.args[0]
        if isinstance(arg, MatrixSelector):
            present = any(True for _ in self._ranges(arg, t))
            sel: VectorSelector | None = arg.vector
        else:
            present = bool(self._vector(arg, t))
            sel = arg if isinstance(arg, VectorSelector) else None
        if present:
            return []
        labels: dict[str, str] = {}
        if sel is not None:
            for label, op, value in sel.matchers:
                if op == "=":
                    labels[label] = value
        return [Element(None, labels, 1.0)]

    def _clamp_round(self, call: Call, t: float) -> Vector:
        vec = self._vector(call.args[0], t)
        params = [self._scalar(a, t) for a in call.args[1:]]
        if call.func == "round":
            step = params[0] if params else 1.0
            return [Element(None, e.labels, fn.round_to(e.value, step)) for e in vec]
        low, high = -math.inf, math.inf
        if call.func == "clamp":
            low, high = params
        elif call.func == "clamp_min":
            low = params[0]
        else:
            high = params[0]
        if low > high:
            return []
        return [Element(None, e.labels, max(low, min(high, e.value))) for e in vec]

    # -- aggregation --------------------------------------------------------------------------
    def _aggregate(self, agg: Aggregate, t: float) -> Vector:
        vec = self._vector(agg.expr, t)
        param = self._scalar(agg.param, t) if agg.param is not None else 0.0
        groups: dict[tuple[str, ...] | tuple[tuple[str, str], ...], tuple[dict[str, str], list[Element]]] = {}
        by = agg.grouping
        for e in vec:
            if agg.without:
                dropped = set(by)
                labels = {k: v for k, v in e.labels.items() if k not in dropped}
                key: tuple[str, ...] | tuple[tuple[str, str], ...] = tuple(sorted(labels.items()))
            else:
                key = tuple(e.labels.get(k, "") for k in by)
            entry = groups.get(key)
            if entry is None:
                if not agg.without:
                    labels = {k: str(v) for k, v in zip(by, key, strict=True) if v != ""}
                entry = groups[key] = (labels, [])
            entry[1].append(e)
        out: Vector = []
        for labels, members in groups.values():
            values = [m.value for m in members]
            if agg.op in ("topk", "bottomk"):
                if not -(2.0**63) <= param < 2.0**63:  # NaN too, as Prometheus refuses it
                    raise EvalError(f"scalar value {param} overflows int64")
                k = int(param)
                ranked = sorted(members, key=lambda m: m.value, reverse=agg.op == "topk")
                out.extend(ranked[: max(k, 0)])
                continue
            out.append(Element(None, labels, _reduce(agg.op, values, param)))
        return out

    # -- binary operators ---------------------------------------------------------------------
    def _binary(self, node: Binary, lhs: Value, rhs: Value) -> Value:
        op = node.op
        if isinstance(lhs, float) and isinstance(rhs, float):
            if op in COMPARE:
                return 1.0 if COMPARE[op](lhs, rhs) else 0.0
            return ARITH[op](lhs, rhs)
        if isinstance(lhs, float) or isinstance(rhs, float):
            return self._vector_scalar(node, lhs, rhs)
        assert isinstance(lhs, list) and isinstance(rhs, list)
        if op in ("and", "or", "unless"):
            return _set_op(op, lhs, rhs, node.matching)
        return _vector_vector(node, lhs, rhs)

    def _vector_scalar(self, node: Binary, lhs: Value, rhs: Value) -> Vector:
        op = node.op
        scalar_left = isinstance(lhs, float)
        vec = rhs if scalar_left else lhs
        scalar = lhs if scalar_left else rhs
        assert isinstance(vec, list) and isinstance(scalar, float)
        if op in COMPARE:
            cmp = COMPARE[op]
            if node.bool_modifier:
                if scalar_left:
                    return [Element(None, e.labels, 1.0 if cmp(scalar, e.value) else 0.0) for e in vec]
                return [Element(None, e.labels, 1.0 if cmp(e.value, scalar) else 0.0) for e in vec]
            if scalar_left:  # the value kept is the vector's, as Prometheus does
                return [e for e in vec if cmp(scalar, e.value)]
            return [e for e in vec if cmp(e.value, scalar)]
        f = ARITH[op]
        if scalar_left:
            return [Element(None, e.labels, f(scalar, e.value)) for e in vec]
        return [Element(None, e.labels, f(e.value, scalar)) for e in vec]

    # -- helpers ------------------------------------------------------------------------------
    def _vector(self, expr: Expr, t: float) -> Vector:
        value = self._eval(expr, t)
        if isinstance(value, float):
            raise EvalError("expected an instant vector, got a scalar")
        return value

    def _scalar(self, expr: Expr | None, t: float) -> float:
        if expr is None:
            return 0.0
        value = self._eval(expr, t)
        if not isinstance(value, float):
            raise EvalError("expected a scalar, got a vector")
        return value


def _reduce(op: str, values: list[float], param: float) -> float:
    if op == "sum":
        return float(sum(values))
    if op == "avg":
        return sum(values) / len(values)
    if op == "min":
        return min(values)
    if op == "max":
        return max(values)
    if op == "count":
        return float(len(values))
    if op == "group":
        return 1.0
    if op == "stdvar":
        return fn.stdvar(values)
    if op == "stddev":
        return math.sqrt(fn.stdvar(values))
    if op == "quantile":
        return fn.quantile(param, values)
    raise EvalError(f"unsupported aggregation {op}")


def _prunable(node: Binary) -> bool:
    """Whether ``node``'s left operand is a range function whose series without a match on the right can
    be left out: the operator keeps only matched left elements (one-to-one or group_left arithmetic and
    comparisons, ``and``; not ``or``/``unless``, nor group_right, which checks every left element for
    duplicates). A range function's elements carry their series' labels, so a series is matched by them."""
    lhs = node.lhs
    if not isinstance(lhs, Call) or lhs.func not in _RANGE_FUNCTIONS:
        return False
    if node.op == "and":
        return True
    return node.matching.card in ("one-to-one", "group_left") and (node.op in ARITH or node.op in COMPARE)


def signature(labels: dict[str, str], matching: VectorMatching) -> tuple[str, ...] | tuple[tuple[str, str], ...]:
    if matching.on:
        return tuple(labels.get(k, "") for k in matching.labels)
    if matching.labels:
        ignored = matching.labels
        return tuple(sorted((k, v) for k, v in labels.items() if k not in ignored))
    return tuple(sorted(labels.items()))


def _set_op(op: str, lhs: Vector, rhs: Vector, matching: VectorMatching) -> Vector:
    right = {signature(e.labels, matching) for e in rhs}
    if op == "and":
        return [e for e in lhs if signature(e.labels, matching) in right]
    if op == "unless":
        return [e for e in lhs if signature(e.labels, matching) not in right]
    left = {signature(e.labels, matching) for e in lhs}
    return lhs + [e for e in rhs if signature(e.labels, matching) not in left]


def _result_labels(one: dict[str, str], other: dict[str, str], matching: VectorMatching) -> dict[str, str]:
    if matching.card == "one-to-one":
        if matching.on:
            return {k: one[k] for k in matching.labels if k in one}
        if matching.labels:
            return {k: v for k, v in one.items() if k not in matching.labels}
        return one
    if not matching.include:
        return one
    labels = dict(one)
    for k in matching.include:
        if other.get(k):
            labels[k] = other[k]
        else:
            labels.pop(k, None)
    return labels


def _vector_vector(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    matching = node.matching
    swap = matching.card == "group_right"
    many, one = (rhs, lhs) if swap else (lhs, rhs)
    index: dict[object, Element] = {}
    for e in one:
        sig = signature(e.labels, matching)
        if sig in index:
            side = "left" if swap else "right"
            raise EvalError(f"found duplicate series for the match group on the {side} hand-side of '{node.op}'")
        index[sig] = e
    seen: set[object] = set()
    out: Vector = []
    compare = COMPARE.get(node.op)
    arith = ARITH.get(node.op)
    for e in many:
        sig = signature(e.labels, matching)
        other = index.get(sig)
        if other is None:
            continue
        if matching.card == "one-to-one":
            if sig in seen:
                raise EvalError(
                    f"found duplicate series for the match group on the left hand-side of '{node.op}' "
                    "(many-to-many matching not allowed: use group_left/group_right)"
                )
            seen.add(sig)
        a, b = (other.value, e.value) if swap else (e.value, other.value)
        labels = _result_labels(e.labels, other.labels, matching)
        if compare is not None:
            ok = compare(a, b)
            if node.bool_modifier:
                out.append(Element(None, labels, 1.0 if ok else 0.0))
            elif ok:
                keep = matching.card != "one-to-one" or not matching.on
                out.append(Element(e.name if keep else None, labels, a))
        else:
            assert arith is not None
            out.append(Element(None, labels, arith(a, b)))
    return out
