"""A rule file with shape errors and PromQL/template errors reports all of them, each with its line."""

from __future__ import annotations

import pytest

from opsagent.alerts.rulefile import compile_document
from opsagent.errors import ConfigError
from opsagent.loader import parse_yaml_text

TEXT = """groups:
  - name: g
    bogus: 1
    rules:
      - alert: A
        expr: rate(x[0s]) > 1
      - alert: B
        expr: up == 0
        for: banana
      - alert: C
        expr: histogram_quantile(0.9, x) > 1
        annotations:
          summary: "{{ range $x }}"
  - name: h
    rules:
      - record: "bad name"
        expr: sum(x
"""


def test_shape_and_promql_errors_are_all_reported() -> None:
    with pytest.raises(ConfigError) as info:
        compile_document(parse_yaml_text(TEXT, "mixed.rules.yaml"))
    found = [(i.line, i.field) for i in info.value.issues]
    assert found == [
        (3, "groups.0.bogus"),  # shape
        (6, "groups.0.rules.0.expr"),  # PromQL: [0s]
        (9, "groups.0.rules.1.for"),  # shape
        (11, "groups.0.rules.2.expr"),  # PromQL: unsupported function
        (13, "groups.0.rules.2.annotations.summary"),  # template
        (16, "groups.1.rules.0"),  # shape: recording rule name
        (17, "groups.1.rules.0.expr"),  # PromQL: unclosed parenthesis
    ]
    assert all(str(i).startswith(f"mixed.rules.yaml:{i.line}: ") for i in info.value.issues)


def test_string_or_range_result_is_refused() -> None:
    text = (
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up[5m]\n"
        "      - alert: A\n        expr: '\"x\"'\n"
    )
    with pytest.raises(ConfigError) as info:
        compile_document(parse_yaml_text(text, "s.rules.yaml"))
    assert [(i.line, "instant vector" in i.message) for i in info.value.issues] == [(5, True), (7, True)]
