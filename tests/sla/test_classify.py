"""Impact, urgency and priority of a new incident from its alert's labels, under the shipped policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsagent.sla.policy import load_policy

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy([ROOT])


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"impact": "high", "urgency": "high"}, ("high", "high", "P1")),
        ({"impact": "Low", "urgency": "HIGH", "severity": "critical"}, ("low", "high", "P3")),  # both labels win
        ({"impact": "medium", "urgency": "low", "priority": "P1"}, ("medium", "low", "P4")),  # ITIL: matrix decides
        ({"severity": "critical"}, ("high", "high", "P1")),
        ({"severity": "warning"}, ("medium", "medium", "P3")),
        ({"severity": "info"}, ("low", "low", "P4")),
        ({"impact": "low", "severity": "critical"}, ("low", "high", "P3")),  # the missing one from the severity
        ({"priority": "P2", "severity": "critical"}, ("high", "high", "P2")),  # explicit priority over severity
        ({"priority": "P2"}, (None, None, "P2")),
        ({}, (None, None, "P3")),
        ({"impact": "huge", "urgency": "now"}, ("huge", "now", "P3")),  # unknown words: default priority
    ],
)
def test_classify_labels(labels: dict[str, str], expected: tuple[str | None, str | None, str]) -> None:
    found = POLICY.classify_labels(labels)
    assert (found.impact, found.urgency, found.priority) == expected


def test_severity_map_is_content(tmp_path: Path) -> None:
    text = (ROOT / "alerts" / "service-levels.yaml").read_text()
    head, rest = text.split("\nseverity_map:\n", 1)
    text = head + "\ntargets:\n" + rest.split("\ntargets:\n", 1)[1]  # the shipped map taken out
    site = tmp_path / "alerts"
    site.mkdir()
    (site / "service-levels.yaml").write_text(text + "\nseverity_map:\n  disaster: {impact: high, urgency: low}\n")
    policy = load_policy([tmp_path])
    assert policy.classify_labels({"severity": "disaster"}).priority == "P3"
    # a site's map replaces the default; a severity it omits keeps the built-in priority names
    assert policy.classify_labels({"severity": "critical"}) == type(policy.classify_labels({}))(None, None, "P1")
