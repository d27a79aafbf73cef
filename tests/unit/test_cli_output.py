"""Output for scripts and pipes: plain unwrapped rows when stdout is not a terminal, `-o tsv`, human
sizes and numbers without exponents, natural order — and rich tables at a real terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pexpect

LONG = "db-" + "x" * 120 + "-primary"


def _home(tmp_path: Path) -> dict[str, str]:
    names = ["web10", "web2", "web1", LONG]
    (tmp_path / "inv.yaml").write_text(
        "assets:\n" + "".join(f"  - {{name: {n}, kind: host, address: 10.0.0.{i + 1}}}\n" for i, n in enumerate(names))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSAGENT_")}
    env |= {"OPSAGENT_HOME": str(tmp_path), "COLUMNS": "80"}
    subprocess.run([sys.executable, "-m", "opsagent", "inventory", "import", str(tmp_path / "inv.yaml")],
                   env=env, check=True, capture_output=True)  # fmt: skip
    return env


def _out(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "opsagent", *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_piped_listing_is_plain_unwrapped_and_naturally_sorted(tmp_path: Path) -> None:
    env = _home(tmp_path)
    lines = _out(env, "inventory", "list").splitlines()
    assert lines[0].split() == ["name", "kind", "address", "groups", "tags", "collectors"]
    names = [line.split()[0] for line in lines[1:]]
    assert names == [LONG, "localhost", "web1", "web2", "web10"]  # the seeded host is there too
    assert any(LONG in line for line in lines)  # `inventory list | grep NAME` finds the whole name
    assert not any(ch in "".join(lines) for ch in "│┃━…")


def test_tsv_for_scripts(tmp_path: Path) -> None:
    env = _home(tmp_path)
    rows = [line.split("\t") for line in _out(env, "inventory", "list", "-o", "tsv").splitlines()]
    assert rows[0] == ["name", "kind", "address", "groups", "tags", "collectors"]
    assert {r[0]: r[2] for r in rows[1:]}["web10"] == "10.0.0.1"
    assert all(len(r) == 6 for r in rows)


def test_poll_shows_human_sizes_piped_and_exact_numbers_in_tsv(tmp_path: Path) -> None:
    env = _home(tmp_path)
    text = _out(env, "poll", "localhost", "--no-record")
    [mem] = [line for line in text.splitlines() if line.startswith("node_memory_MemTotal_bytes")]
    assert mem.split()[-1] in ("kB", "MB", "GB", "TB") and "e+" not in text
    rows = _out(env, "poll", "localhost", "--no-record", "-o", "tsv").splitlines()
    [exact] = [r.split("\t") for r in rows if r.startswith("node_memory_MemTotal_bytes")]
    assert exact[-1].isdigit() and int(exact[-1]) > 10**6


def test_a_terminal_still_gets_a_table(tmp_path: Path) -> None:
    env = _home(tmp_path)
    child = pexpect.spawn(sys.executable, ["-m", "opsagent", "inventory", "list"], env=env, encoding="utf-8",
                          dimensions=(40, 100), timeout=60)  # fmt: skip
    child.expect(pexpect.EOF)
    assert "┏━" in child.before and "┃" in child.before and "web10" in child.before
