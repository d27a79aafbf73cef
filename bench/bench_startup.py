"""Start-up cost of the CLI, end to end, beside Ansible's CLI in the same run.

Run: ``.venv/bin/python bench/bench_startup.py [--runs 15]``. Each command runs as users run it (a new
process from the shell, the real entry point, a small store in a temporary OPSAGENT_HOME); the figures
are medians of wall time and of the child's CPU time (user + system, from wait4), with the ratio to
``ansible-inventory --help`` measured in the same run. ``python -c pass`` is the floor every Python CLI
pays. Needs ansible-core beside opsagent (``pip install ansible-core``); asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ASSETS = 20
GOAL_SECONDS = 0.3


def _measure(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        cpus.append(usage.ru_utime + usage.ru_stime)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
    return statistics.median(walls), statistics.median(cpus)


def _prepare(home: Path, env: dict[str, str]) -> Path:
    hosts = [f"web{i:02d}" for i in range(1, ASSETS + 1)]
    (home / "inv.yaml").write_text(
        "assets:\n" + "".join(f"  - {{name: {h}, kind: host, address: 10.0.0.{i}}}\n" for i, h in enumerate(hosts, 1))
    )
    subprocess.run([sys.executable, "-m", "opsagent", "inventory", "import", str(home / "inv.yaml")],
                   env=env, check=True, capture_output=True)  # fmt: skip
    ini = home / "hosts.ini"
    ini.write_text("[web]\n" + "".join(f"{h} ansible_host=10.0.0.{i}\n" for i, h in enumerate(hosts, 1)))
    return ini


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    opsagent = str(bindir / "opsagent") if (bindir / "opsagent").exists() else shutil.which("opsagent")
    ansible = str(bindir / "ansible-inventory") if (bindir / "ansible-inventory").exists() else None
    ansible = ansible or shutil.which("ansible-inventory")
    if opsagent is None or ansible is None:
        raise SystemExit("needs opsagent and ansible-inventory (pip install ansible-core) beside this python")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPSAGENT_")}
        env |= {"OPSAGENT_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "ansible-tmp")}
        ini = _prepare(home, env)
        cases = [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
            ("ansible-inventory --help", [ansible, "--help"]),
            (f"ansible-inventory -i hosts.ini --list ({ASSETS} hosts)", [ansible, "-i", str(ini), "--list"]),
            ("opsagent --help", [opsagent, "--help"]),
            ("opsagent --version", [opsagent, "--version"]),
            (f"opsagent inventory list ({ASSETS + 1} assets)", [opsagent, "inventory", "list"]),
            ("opsagent inventory list -o json", [opsagent, "inventory", "list", "-o", "json"]),
        ]
        results = {name: _measure(argv, env, args.runs) for name, argv in cases}
    base_wall, base_cpu = results["ansible-inventory --help"]
    print(f"{'command':48} {'wall ms':>9} {'CPU ms':>8} {'wall/ansible':>13} {'CPU/ansible':>12}")
    for name, (wall, cpu) in results.items():
        print(f"{name:48} {wall * 1000:9.0f} {cpu * 1000:8.0f} {wall / base_wall:13.2f} {cpu / base_cpu:12.2f}")
    for name in ("opsagent --help", f"opsagent inventory list ({ASSETS + 1} assets)"):
        wall = results[name][0]
        print(f"goal: {name} under {GOAL_SECONDS} s wall: {'met' if wall < GOAL_SECONDS else 'NOT met'} ({wall:.3f} s)")
    print(f"load average during the run: {os.getloadavg()[0]:.2f} (2 cores); runs per command: {args.runs}")


if __name__ == "__main__":
    main()
