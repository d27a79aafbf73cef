"""The SSH poll's output path end to end, without a network: two real batch outputs of a Debian host
(tests/fixtures/ssh_batch/poll1.txt, poll2.txt, the second a poll later) cut into checks, parsed (the
second with the first's parse cache), recorded in the metrics registry and rendered as /metrics text
with the poll's facts. ``expected.txt`` was written by the code before the SSH-poll CPU work of issue
25 (item 4): any change of a series, label, value or fact shows up here."""

from __future__ import annotations

import json
from pathlib import Path

from opsagent.collectors import options_models
from opsagent.collectors.profiles import load_profiles
from opsagent.collectors.ssh.collector import interpret
from opsagent.collectors.ssh.options import SshOptions
from opsagent.collectors.ssh.plans import ParseCache
from opsagent.metrics import MetricsRegistry

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "ssh_batch"


def test_two_polls_expose_the_same_text_and_facts_as_before() -> None:
    options = SshOptions.model_validate(dict(load_profiles([ROOT], options_models())[("ssh", "linux")].options))
    registry, cache, texts = MetricsRegistry(), ParseCache(), []
    for i in (1, 2):
        result = interpret("web01", "ssh", options, (FIXTURES / f"poll{i}.txt").read_text(), "", 0, cache)
        result.duration = 0.25
        registry.record(result, 1_000_000.0 + 60 * (i - 1))
        facts = json.dumps(result.facts, sort_keys=True, indent=1)
        texts.append(registry.render_collected(False) + "\n# facts\n" + facts + "\n")
    assert "\n# --- next poll ---\n".join(texts) == (FIXTURES / "expected.txt").read_text()
