"""Evaluate PromQL on given series with the real Prometheus engine (``promtool test rules``), and
the same series with opsagent's evaluator, so tests compare the two on identical data.

promtool prints what an expression returned when it differs from the expected samples; every test
case here expects a sentinel sample that never exists, so promtool always prints the real answer.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import yaml

from opsagent.alerts.promql import Evaluator, PromQLError, parse
from opsagent.series import SeriesHistory
from tests.peers.prometheus import run_promtool

Labels = tuple[tuple[str, str], ...]
Result = dict[tuple[str | None, Labels], float]  # (metric name or None, labels) -> value
SENTINEL = '{__opsagent_oracle__="never"}'
_SAMPLE = re.compile(r"\{([^}]*)\} (\S+?)(?=, \{|$)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _series_text(name: str, labels: Labels) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels)
    return f"{name}{{{inner}}}"


def _parse_got(line: str) -> Result:
    out: Result = {}
    for body, value in _SAMPLE.findall(line):
        pairs = dict(_LABEL.findall(body))
        name = pairs.pop("__name__", None)
        out[(name, tuple(sorted(pairs.items())))] = float(value)
    return out


def prometheus_eval(
    series: dict[tuple[str, Labels], list[float]], exprs: list[str], step: float, at: float
) -> list[Result | str]:
    """Each expression's instant result at ``at`` s, series sampled every ``step`` s from time 0, or
    Prometheus' error message for an expression it refuses."""
    case = {
        "interval": f"{int(step * 1000)}ms",
        "input_series": [
            {"series": _series_text(name, labels), "values": " ".join(repr(v) for v in values)}
            for (name, labels), values in series.items()
        ],
        "promql_expr_test": [
            {"expr": e, "eval_time": f"{int(at * 1000)}ms", "exp_samples": [{"labels": SENTINEL, "value": 0}]}
            for e in exprs
        ],
    }
    with tempfile.TemporaryDirectory(prefix="opsagent-promtool-") as tmp:
        path = Path(tmp) / "oracle.yaml"
        path.write_text(yaml.safe_dump({"evaluation_interval": "1m", "tests": [case]}, sort_keys=False))
        code, output = run_promtool(["test", "rules", str(path)])
    assert code == 1, output  # every case fails on purpose: its sentinel is never returned
    results: list[Result | str] = []
    for line in (raw.strip() for raw in output.splitlines()):
        if line.startswith("expr:") and ", err: " in line:
            results.append(line.split(", err: ", 1)[1])  # Prometheus refused the expression
        elif line.startswith("got:"):
            got = line.removeprefix("got:").strip()
            results.append({} if got == "nil" else _parse_got(got))
    assert len(results) == len(exprs), output
    return results


def opsagent_eval(
    series: dict[tuple[str, Labels], list[float]], exprs: list[str], step: float, at: float
) -> list[Result | str]:
    history = SeriesHistory(retention=1e9)
    for (name, labels), values in series.items():
        for i, value in enumerate(values):
            history.ingest((name, labels), [(name, dict(labels), value, "gauge")], i * step, replace=False)
    out: list[Result | str] = []
    for expr in exprs:
        try:
            tree = parse(expr)
        except PromQLError as exc:
            out.append(str(exc))
            continue
        value = Evaluator(history).evaluate(tree, at)
        assert isinstance(value, list)
        out.append({(e.name, tuple(sorted(e.labels.items()))): e.value for e in value})
    return out
