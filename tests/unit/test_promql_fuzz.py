"""Seeded fuzzing (hypothesis) of the PromQL parser, the evaluator and the rule-file loader: any input
ends in a result or a clean error (PromQLError / EvalError / ConfigError), never another exception."""

from __future__ import annotations

import contextlib

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from opsagent.alerts.promql import EvalError, Evaluator, PromQLError, parse
from opsagent.alerts.rulefile import compile_document
from opsagent.errors import ConfigError
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory

TOKENS = [
    "up",
    "x",
    "node_load1",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    "!=",
    "=~",
    "!~",
    '"a"',
    '"web.*"',
    "'('",
    "asset",
    "__name__",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "==",
    "!=",
    ">",
    "<",
    ">=",
    "<=",
    "and",
    "or",
    "unless",
    "bool",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "by",
    "without",
    "offset",
    "@",
    ":",
    "sum",
    "avg",
    "topk",
    "bottomk",
    "quantile",
    "count",
    "stddev",
    "rate",
    "deriv",
    "predict_linear",
    "abs",
    "round",
    "clamp",
    "absent",
    "scalar",
    "vector",
    "time",
    "histogram_quantile",
    "quantile_over_time",
    "0",
    "1",
    "-1",
    "0.5",
    "1e9",
    "1e99999",
    "0x7fffffffffffffff",
    "0xffffffffffffffffff",
    "Inf",
    "NaN",
    "5m",
    "0s",
    "1h30m",
    "293y",
    "300",
    "1ms",
    " ",
    "#c\n",
]
SEED = settings(derandomize=True, max_examples=400, deadline=None, database=None)


def _history() -> SeriesHistory:
    h = SeriesHistory(retention=1e9)
    for t in range(0, 900, 15):
        rows = [
            ("up", {"asset": "a"}, 1.0, "gauge"),
            ("x", {"asset": "a"}, float(t % 7), "gauge"),
            ("x", {"asset": "b"}, float(t), "counter"),
            ("node_load1", {"asset": "web1"}, 0.5, "gauge"),
        ]
        h.ingest("p", rows, t, replace=True)
    return h


HISTORY = _history()


def _parse_and_evaluate(text: str) -> None:
    try:
        expr = parse(text)
    except PromQLError:
        return
    with contextlib.suppress(EvalError):
        Evaluator(HISTORY).evaluate(expr, 890.0)


@SEED
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join))
def test_token_soup_parses_or_fails_cleanly(text: str) -> None:
    _parse_and_evaluate(text)


@SEED
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    _parse_and_evaluate(text)


EXPRS = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join),
    st.sampled_from(["up == 0", "rate(x[5m]) > 1", "(" * 300 + "up" + ")" * 300, " + ".join(["up"] * 500)]),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
RULES = st.fixed_dictionaries(
    {},
    optional={
        "alert": st.one_of(st.sampled_from(["A", "B"]), SCALARS),
        "record": st.one_of(st.sampled_from(["job:up:sum", "bad name"]), SCALARS),
        "expr": st.one_of(EXPRS, SCALARS),
        "for": st.one_of(st.sampled_from(["5m", "0s", "banana", "-1m"]), SCALARS),
        "keep_firing_for": st.one_of(st.sampled_from(["1m"]), SCALARS),
        "labels": st.one_of(st.dictionaries(st.sampled_from(["severity", "bad-label", "x"]), SCALARS), SCALARS),
        "annotations": st.one_of(
            st.dictionaries(
                st.sampled_from(["summary", "opsagent_recover_expr", "opsagent_flap_window", "opsagent_resolve"]),
                st.one_of(EXPRS, st.sampled_from(["{{ $value }}", "{{ range }}", "3", "manual"])),
            ),
            SCALARS,
        ),
    },
)
GROUPS = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(["g", "h"]), SCALARS),
        "interval": st.one_of(st.sampled_from(["1m", "x"]), SCALARS),
        "limit": SCALARS,
        "rules": st.one_of(st.lists(st.one_of(RULES, SCALARS), max_size=4), SCALARS),
        "bogus": SCALARS,
    },
)
FILES = st.one_of(
    st.fixed_dictionaries({"groups": st.one_of(st.lists(st.one_of(GROUPS, SCALARS), max_size=3), SCALARS)}),
    SCALARS,
    st.lists(SCALARS, max_size=3),
)


@SEED
@given(FILES)
def test_rule_file_loader_loads_or_fails_cleanly(data: object) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    try:
        compile_document(parse_yaml_text(text, "fuzz.rules.yaml"))
    except ConfigError as exc:
        assert all(str(i).startswith("fuzz.rules.yaml") for i in exc.issues)


@SEED
@given(
    st.text(alphabet=st.sampled_from(list("groups:- name rules alert expr for up(){}[]'\"\n  &*!|>#0")), max_size=120)
)
def test_rule_file_text_loads_or_fails_cleanly(text: str) -> None:
    with contextlib.suppress(ConfigError):
        compile_document(parse_yaml_text(text, "fuzz.rules.yaml"))


def test_numeric_edge_cases_evaluate_cleanly() -> None:
    for text in (
        "topk(Inf, x)",
        "topk(NaN, x)",
        "bottomk(-Inf, x)",
        "quantile(NaN, x)",
        "round(x, 0)",
        "round(x, Inf)",
    ):
        _parse_and_evaluate(text)
    out = Evaluator(HISTORY).evaluate(parse("round(x, 0)"), 890.0)
    assert isinstance(out, list) and all(e.value != e.value for e in out)  # NaN, as Go's IEEE arithmetic gives
