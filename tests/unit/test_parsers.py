"""Parser fixture cases (pyinfra style): tests/fixtures/parsers/<parser>/<case>.json holds a real
command output and the values expected from it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opsagent.collectors.base import Sample
from opsagent.collectors.parsers.dbstatus import (
    mysql_global_status_samples,
    mysql_slave_status_samples,
    parse_redis_info,
    parse_stub_status,
    pg_settings_samples,
)
from opsagent.collectors.parsers.linux import (
    parse_cpuinfo_model,
    parse_meminfo,
    parse_os_release,
    parse_proc_stat,
)


def samples_by_key(samples: list[Sample]) -> dict[str, float]:
    """``name{label="value",...}`` → value, so a case names one series."""
    out = {}
    for s in samples:
        body = ",".join(f'{k}="{v}"' for k, v in s.labels)
        out[f"{s.name}{{{body}}}" if body else s.name] = s.value
    return out


FIXTURES = Path(__file__).parent.parent / "fixtures" / "parsers"
PARSERS: dict[str, Callable[[str], Any]] = {
    "meminfo": parse_meminfo,
    "os_release": parse_os_release,
    "proc_stat": parse_proc_stat,
    "cpuinfo_model": lambda text: {"model": parse_cpuinfo_model(text)},
    "pg_settings": lambda rows: samples_by_key(pg_settings_samples(rows)),
    "mysql_global_status": lambda rows: samples_by_key(mysql_global_status_samples(rows)),
    "mysql_slave_status": lambda rows: samples_by_key(mysql_slave_status_samples(rows)),
    "redis_info": parse_redis_info,
    "stub_status": parse_stub_status,
}
CASES = sorted(FIXTURES.glob("*/*.json"))


def test_every_parser_has_cases() -> None:
    assert {p.parent.name for p in CASES} == set(PARSERS)


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parser_case(case: Path) -> None:
    data = json.loads(case.read_text(encoding="utf-8"))
    parsed = PARSERS[case.parent.name](data["output"])
    for key, expected in data["expected"].items():
        assert parsed.get(key) == expected, f"{case.name}: {key}"


def test_meminfo_units_and_names() -> None:
    parsed = parse_meminfo("MemTotal:  2048 kB\nActive(file):  10 kB\nHugePages_Total:   4\ngarbage line\n")
    assert parsed == {"MemTotal_bytes": 2048 * 1024, "Active_file_bytes": 10240, "HugePages_Total": 4}


def test_os_release_quotes_comments_and_blank_lines() -> None:
    text = '# comment\n\nNAME=\'Some OS\'\nPRETTY_NAME="Some \\"quoted\\" OS"\nID=some\nBROKEN\n'
    assert parse_os_release(text) == {"name": "Some OS", "pretty_name": 'Some "quoted" OS', "id": "some"}
