"""Range functions over one series' points, as Prometheus computes them (promql/functions.go).

Pure functions of (times, values, window start, window end); ``None`` means "no output sample".
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Iterable
from itertools import repeat

Points = tuple[list[float], list[float]]


def extrapolated(
    ts: list[float], vs: list[float], start: float, end: float, *, counter: bool, rate: bool
) -> float | None:
    """``rate``/``increase``/``delta``: Prometheus' extrapolatedRate, with counter resets."""
    n = len(ts)
    if n < 2:
        return None
    result = vs[-1] - vs[0]
    if counter:
        prev = vs[0]
        for v in vs[1:]:
            if v < prev:  # a counter reset: the counter restarted from zero
                result += prev
            prev = v
    sampled = ts[-1] - ts[0]
    if sampled <= 0:
        return None
    to_start = ts[0] - start
    to_end = end - ts[-1]
    average = sampled / (n - 1)
    if counter and result > 0 and vs[0] >= 0:
        to_zero = sampled * (vs[0] / result)  # a counter cannot go below zero before the window
        to_start = min(to_start, to_zero)
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    result *= interval / sampled
    if rate:
        result /= end - start
    return result


def irate(ts: list[float], vs: list[float], counter: bool = True, is_rate: bool = True) -> float | None:
    if len(ts) < 2:
        return None
    last, prev = vs[-1], vs[-2]
    result = last if counter and last < prev else last - prev
    if not is_rate:
        return result
    dt = ts[-1] - ts[-2]
    return result / dt if dt > 0 else None


def _kahan_sum(values: list[float]) -> float:
    """The sum of ``values`` as Prometheus' kahanSumInc (Kahan-Neumaier, compensated) computes it, at C
    speed: ``math.fsum`` is the correctly rounded sum, which the compensated sum equals or misses by an
    ulp at most (far below the 1e-9 our results agree with Prometheus' to). Where the two can part
    (infinities, NaN, partial sums that may overflow) the compensated steps themselves run. A Python
    loop over a predict_linear window (360 points at 1-minute polls over 6 h) was most of a rule
    evaluation's cost."""
    if values:
        try:
            total = math.fsum(values)
        except (ValueError, OverflowError):
            total = math.nan
        if math.isfinite(total) and max(map(abs, values)) * len(values) < _FSUM_BOUND:
            return total
    return _kahan_steps(values)


_FSUM_BOUND = 1e300  # n * max |value| below this: no partial sum of the compensated steps can overflow


def _kahan_steps(values: Iterable[float]) -> float:
    """Kahan-Neumaier summation of ``values`` in order, as Prometheus' kahanSumInc steps."""
    total = c = 0.0
    isinf = math.isinf
    for inc in values:
        t = total + inc
        if isinf(t):
            c = 0.0
        elif abs(total) >= abs(inc):
            c += (total - t) + inc
        else:
            c += (inc - t) + total
        total = t
    return total + c


# The x side of a fit: (timestamps, origin, xs, sum of xs, sum of their squares).
XFit = tuple[list[float], float, list[float], float, float]


# Timestamps in whole milliseconds by (first, last, count), checked against the timestamps themselves:
# a window's are the same at every tick until a point comes or goes (a 6 h window: 360 roundings).
Millis = dict[tuple[float, float, int], tuple[list[float], list[int]]]
_MILLIS_KEPT = 20_000


def regression_x(ts: list[float], at: float, millis: Millis | None = None) -> XFit:
    """x measured from ``at`` in whole milliseconds, its sum and its sum of squares: they depend on the
    timestamps alone, which the series of one poll batch share. ``millis``: the roundings of windows seen
    before (kept by the caller across evaluations)."""
    origin = round(at * 1000)
    key = (ts[0], ts[-1], len(ts))
    hit = None if millis is None else millis.get(key)
    if hit is not None and hit[0] == ts:
        ms = hit[1]
    else:
        ms = list(map(round, map(operator.mul, ts, repeat(1000))))
        if millis is not None:
            if len(millis) >= _MILLIS_KEPT:
                millis.clear()
            millis[key] = (ts, ms)
    xs = list(map(operator.truediv, map(operator.sub, ms, repeat(origin)), repeat(1e3)))  # (ms - origin) / 1e3
    return ts, at, xs, _kahan_sum(xs), _kahan_sum(list(map(operator.mul, xs, xs)))


def linear_regression(
    ts: list[float], vs: list[float], at: float, shared: list[XFit] | None = None, millis: Millis | None = None
) -> tuple[float, float] | None:
    """(slope, intercept at ``at``) by least squares, as Prometheus' linearRegression: x is measured
    from ``at`` in whole milliseconds, sums are compensated (Kahan-Neumaier), and a constant series
    has a slope of exactly 0 (deriv of a flat disk is 0, not 1e-9). ``deriv`` centres on the first
    sample's time, ``predict_linear`` on the evaluation time. ``shared`` (a list of at most one fit, kept
    by the caller across the series of one evaluation): the x side is computed once for series with
    equal timestamps (the same numbers; a whole batch's series share them)."""
    n = len(ts)
    if n < 2:
        return None
    first = vs[0]
    if first == first and vs.count(first) == n:  # every value equal (NaN never equals itself)
        return (math.nan, math.nan) if math.isinf(first) else (0.0, first)
    if shared and shared[0][1] == at and shared[0][0] == ts:
        _ts, _at, xs, sx, sxx = shared[0]
    else:
        fit = regression_x(ts, at, millis)
        _ts, _at, xs, sx, sxx = fit
        if shared is not None:
            shared[:] = [fit]
    sy, sxy = _kahan_sum(vs), _kahan_sum(list(map(operator.mul, xs, vs)))
    cov = sxy - sx * sy / n
    var = sxx - sx * sx / n
    slope = cov / var if var != 0 else math.nan
    return slope, sy / n - slope * sx / n


def changes(vs: list[float]) -> float:
    return float(sum(1 for a, b in itertools.pairwise(vs) if a != b and not (math.isnan(a) and math.isnan(b))))


def resets(vs: list[float]) -> float:
    return float(sum(1 for a, b in itertools.pairwise(vs) if b < a))


def stdvar(vs: list[float]) -> float:
    mean = sum(vs) / len(vs)
    return sum((v - mean) ** 2 for v in vs) / len(vs)


def quantile(q: float, vs: list[float]) -> float:
    """Prometheus' quantile: linear interpolation between closest ranks."""
    if not vs or math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(vs)
    rank = q * (len(ordered) - 1)
    lower = math.floor(rank)
    upper = min(lower + 1, len(ordered) - 1)
    weight = rank - lower
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def round_to(v: float, to_nearest: float) -> float:
    """Prometheus' round(v, to_nearest) in Go's IEEE arithmetic: floor(v * (1/to_nearest) + 0.5) /
    (1/to_nearest), so a step of 0 gives NaN as there, never a ZeroDivisionError."""
    inverse = 1.0 / to_nearest if to_nearest != 0 else math.copysign(math.inf, to_nearest)
    scaled = v * inverse + 0.5
    floored = float(math.floor(scaled)) if math.isfinite(scaled) else scaled
    if inverse == 0:
        return math.nan if floored == 0 or math.isnan(floored) else math.copysign(math.inf, floored)
    return floored / inverse


OVER_TIME: dict[str, Callable[[list[float]], float]] = {
    "avg_over_time": lambda vs: sum(vs) / len(vs),
    "min_over_time": min,
    "max_over_time": max,
    "sum_over_time": sum,
    "count_over_time": lambda vs: float(len(vs)),
    "last_over_time": lambda vs: vs[-1],
    "stddev_over_time": lambda vs: math.sqrt(stdvar(vs)),
    "stdvar_over_time": stdvar,
    "present_over_time": lambda vs: 1.0,
}

MATH: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "ceil": lambda v: float(math.ceil(v)) if math.isfinite(v) else v,
    "floor": lambda v: float(math.floor(v)) if math.isfinite(v) else v,
    "sqrt": lambda v: math.sqrt(v) if v >= 0 else math.nan,
    "exp": lambda v: math.exp(v) if v < 709 else math.inf,
    "ln": lambda v: math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan),
    "log2": lambda v: math.log2(v) if v > 0 else (-math.inf if v == 0 else math.nan),
    "log10": lambda v: math.log10(v) if v > 0 else (-math.inf if v == 0 else math.nan),
}
