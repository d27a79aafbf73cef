"""Deep nesting, long operator chains and out-of-range literals: `opsagent check` accepts what
promtool accepts and rejects what it rejects, with file:line and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.e2e.agent import opsagent
from tests.peers.prometheus import run_promtool

pytestmark = pytest.mark.peer

CASES = {
    "parens_100": "(" * 100 + "up" + ")" * 100 + " > 1",
    "plus_chain_1000": " + ".join(["up"] * 1000) + " > 1",
    "power_chain_300": "up ^ " * 300 + "1 > 1",
    "nested_calls_100": "abs(" * 100 + "up" + ")" * 100 + " > 1",
    "zero_range": "rate(up[0s]) > 1",
    "zero_range_ms": "rate(up[0ms]) > 1",
    "zero_offset": "up offset 0s > 1",
    "huge_offset": "up offset 1000000y > 1",
    "offset_293y": "up offset 293y > 1",
    "offset_292y": "up offset 292y > 1",
    "huge_range": "rate(up[1000000y]) > 1",
    "float_overflow": "up > 1e99999",
    "float_overflow_309": "up > 1e309",
    "float_underflow": "up > 1e-99999",
    "hex_overflow": "up > 0x8000000000000000",
    "hex_max": "up > 0x7fffffffffffffff",
    "unitless_range": "rate(up[300]) > 1",
    "repeated_unit": "rate(up[5m5m]) > 1",
    "units_out_of_order": "rate(up[1m1h]) > 1",
    "compound_duration": "rate(up[1h30m]) > 1",
}


def _rule_file(path: Path, expr: str) -> Path:
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr}]}]}))
    return path


def test_check_agrees_with_promtool(tmp_path: Path) -> None:
    folder = tmp_path / "alerts"
    folder.mkdir()
    accepted = {}
    for name, expr in CASES.items():
        path = _rule_file(folder / f"{name}.rules.yaml", expr)
        accepted[name] = run_promtool(["check", "rules", str(path)])[0] == 0
    assert accepted["parens_100"] and accepted["plus_chain_1000"] and not accepted["zero_range"]
    res = opsagent("check", str(folder), home=tmp_path)  # one run: every file checked
    assert "Traceback" not in res.stderr + res.stdout
    assert res.returncode == 2, (res.stdout, res.stderr)
    for name, ok in accepted.items():
        prefix = f"{folder / name}.rules.yaml:5: groups.0.rules.0.expr: unsupported or invalid PromQL: "
        assert (prefix in res.stderr) != ok, (name, "promtool accepts" if ok else "promtool rejects", res.stderr)
    assert f"{len(CASES)} file(s) checked, {sum(not ok for ok in accepted.values())} invalid" in res.stdout


def test_deeper_than_the_stack_is_a_clean_error(tmp_path: Path) -> None:
    path = _rule_file(tmp_path / "deep.rules.yaml", "(" * 5000 + "up" + ")" * 5000 + " > 1")
    res = opsagent("check", str(path), home=tmp_path)
    assert res.returncode == 2 and "nested too deeply" in res.stderr and "Traceback" not in res.stderr
