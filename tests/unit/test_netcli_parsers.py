"""Device CLI parsers against fixture cases of real outputs (tests/fixtures/netcli/<parser>/<case>.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsagent.netcli.parsers import PARSERS

FIXTURES = Path(__file__).parent.parent / "fixtures" / "netcli"
CASES = sorted(FIXTURES.glob("*/*.json"))


def test_every_parser_has_cases() -> None:
    assert {p.parent.name for p in CASES} == set(PARSERS)


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parser_case(case: Path) -> None:
    data = json.loads(case.read_text(encoding="utf-8"))
    assert PARSERS[case.parent.name](data["output"]) == data["expected"]
    assert all(v for v in data["expected"].values()), "a case must pin every field it claims"
