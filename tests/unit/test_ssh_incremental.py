"""Line by line parsing of the diskstats, network and filesystems checks (ssh/incremental.py) gives exactly
what parse + emit give, poll after poll with the memo carried over: over outputs mutated as hosts change
(counters move, devices come and go, lines repeat or reorder), hostile lines and options that change."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from opsagent.collectors.ssh import incremental
from opsagent.collectors.ssh.batch import MARK
from opsagent.collectors.ssh.checks import PARSERS
from opsagent.collectors.ssh.collector import interpret
from opsagent.collectors.ssh.options import Check, SshOptions
from opsagent.collectors.ssh.plans import ParseCache

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ssh_checks"
CASES = [p for name in incremental.DIRECT for p in sorted((FIXTURES / name).glob("*.json"))]
HOSTILE = [
    "",
    "MemTotal: 1 kB",
    "MemTotal:\t9",
    "Active(anon): 5 kB\r",
    "\x1cX: 3 kB",
    "Y: 4 kB\u2028Z: 5 kB",
    " ",
    "\x00",
    "@@section@@",
    "a:b",
    "1 2 3 4 5 6 7",
    "1 2 x 4 5 6 7 8",
    "x" * 300,
    "é\u202e 9 9",
    "  eth0: 1 2 3",
    "lo: " + " ".join(["9"] * 16),
    "1 2 3 4 5 6 /",
    "1 2 3 4 5 x /m",
    "Inter-|   Receive",
]


def _full(parser: str, text: str, options: SshOptions) -> object:
    try:
        return PARSERS[parser].emit(PARSERS[parser].parse(text), options)
    except ValueError as exc:
        return ("ValueError", str(exc))


def _direct(parser: str, text: str, options: SshOptions, memo: dict) -> tuple[object, dict]:
    try:
        samples, facts, new = incremental.DIRECT[parser](text, options, memo)
    except ValueError as exc:
        return ("ValueError", str(exc)), memo  # a failed parse keeps the last memo, as interpret does
    return (samples, facts), new


def _mutate(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        action = rng.random()
        if lines[i] == "@@section@@" or "|" in lines[i]:  # separators and net/dev's header stay
            continue
        if action < 0.6:  # a counter moves
            numbers = list(re.finditer(r"\d+", lines[i]))
            if numbers:
                m = rng.choice(numbers)
                lines[i] = lines[i][: m.start()] + str(int(m.group()) + rng.randint(1, 99)) + lines[i][m.end() :]
        elif action < 0.7:
            lines.insert(i, lines[i])  # a line repeated (a device listed twice)
        elif action < 0.8 and len(lines) > 2:
            del lines[i]
        else:
            j = rng.randrange(len(lines))
            if lines[j] != "@@section@@":
                lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_direct_equals_parse_and_emit_poll_after_poll(case: Path) -> None:
    parser = case.parent.name
    state = json.loads(case.read_text())["output"]
    options = SshOptions()
    rng = random.Random(f"{case.name}-25")
    memo: dict = {}
    failures = 0
    for _ in range(300):
        state = _mutate(rng, state) if rng.random() < 0.9 else state
        text = state
        if rng.random() < 0.2:  # a hostile line in this poll's output only
            lines = text.split("\n")
            lines.insert(rng.randrange(len(lines)), rng.choice(HOSTILE))
            text = "\n".join(lines)
        got, memo = _direct(parser, text, options, memo)
        expected = _full(parser, text, options)
        assert got == expected, text
        if expected[0] == "ValueError":
            failures += 1
        else:  # the memo holds only this poll's lines (and the entries of its devices in use)
            lines = {*text.splitlines(), *text.split("\n")}
            assert all(isinstance(key, tuple) or key in lines for key in memo)
    assert failures < 150  # the mutations keep most outputs parseable: the comparison covers samples


@pytest.mark.parametrize("parser", sorted(incremental.DIRECT))
def test_hostile_outputs_end_the_same_way(parser: str) -> None:
    rng = random.Random(f"hostile-{parser}")
    options = SshOptions()
    memo: dict = {}
    for _ in range(300):
        text = "\n".join(rng.choice(HOSTILE) for _ in range(rng.randint(0, 6)))
        got, memo = _direct(parser, text, options, memo)
        assert got == _full(parser, text, options), text


def test_unchanged_lines_reuse_their_samples() -> None:
    case = json.loads((FIXTURES / "diskstats" / "debian12_kvm.json").read_text())["output"]
    options = SshOptions(disk_devices_exclude="^$")  # every device has samples
    first, _, memo = incremental.diskstats(case, options, {})
    moved = case.replace(" vda 134242 ", " vda 134243 ")
    second, _, memo2 = incremental.diskstats(moved, options, memo)
    assert (second, {}) == _full("diskstats", moved, options) != (first, {})
    vda = [s for s in second if ("device", "vda") in s.labels]
    others = [s for s in second if ("device", "vda") not in s.labels]
    assert vda and others
    assert all(any(s is old for old in first) for s in others)  # reused, not parsed again
    assert not any(s is old for s in vda for old in first)
    assert len(memo2) == len(moved.splitlines())


def test_interpret_parses_again_when_the_options_change() -> None:
    """The memo belongs to the options it was made with: another exclusion list never reuses it."""
    case = json.loads((FIXTURES / "network" / "debian12_kvm.json").read_text())["output"]
    check = Check(name="network", command="true", parser="network")
    batch = f"{MARK} begin network\n{case}\n{MARK} end network 0\n"
    cache = ParseCache()
    for exclude in ("^lo$", "^$", "^lo$", "^(lo|eth.*)$"):
        options = SshOptions(checks=[check], netdev_exclude=exclude)
        batch = batch.replace(" 0 0 0 0 0 0 0 0", " 1 0 0 0 0 0 0 0", 1)  # the output moves too
        got = interpret("h", "ssh", options, batch, "", 0, cache)
        expected = interpret("h", "ssh", options, batch, "", 0, None)
        assert got.samples == expected.samples and got.ok, exclude
        assert any(("device", "lo") in s.labels for s in got.samples) == (exclude == "^$")
