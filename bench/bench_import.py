"""Import a generated 10,000-host Ansible INI inventory (with group_vars/host_vars) and time it.

Run: ``.venv/bin/python bench/bench_import.py``. Prints figures next to the goal; asserts nothing.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from opsagent.inventory.export import to_ansible_yaml
from opsagent.inventory.importers.ansible import load_ansible
from opsagent.inventory.model import Inventory
from opsagent.store import Store, sqlite_url
from opsagent.store.inventory_repo import save_inventory

HOSTS = 10_000
LEAF_GROUPS = 200  # 50 hosts each
SERVICES = 20  # 10 leaf groups each
DATACENTERS = 4  # 5 services each
GOAL_SECONDS = 2.0


def _leaf_section(index: int) -> list[str]:
    """Even groups list hosts one per line with vars; odd ones use a range, as real files mix both."""
    name = f"app{index:03d}"
    per_group = HOSTS // LEAF_GROUPS
    lines = [f"[{name}]"]
    if index % 2:
        lines.append(f"{name}-[001:{per_group:03d}].example.com")
    else:
        for n in range(1, per_group + 1):
            lines.append(
                f"{name}-{n:03d}.example.com ansible_host=10.{index // 250}.{index % 250}.{n} "
                f'rack=R{n % 40:02d} weight={n % 5} note="batch {index}"  # comment'
            )
    lines += [f"[{name}:vars]", f"app_name={name}", f"log_level={'debug' if index % 7 == 0 else 'info'}", ""]
    return lines


def write_inventory(root: Path) -> Path:
    lines = [
        "# generated",
        "[all:vars]",
        "ansible_user=ops",
        "ansible_ssh_private_key_file=/etc/keys/ops",
        "ansible_password=\"{{ lookup('env', 'OPS_PASSWORD') }}\"",
        "ntp_server=ntp.example.com",
        "",
    ]
    for index in range(LEAF_GROUPS):
        lines += _leaf_section(index)
    leaves_per_service = LEAF_GROUPS // SERVICES
    for svc in range(SERVICES):
        lines.append(f"[svc{svc:02d}:children]")
        lines += [f"app{svc * leaves_per_service + i:03d}" for i in range(leaves_per_service)]
        lines.append("")
    services_per_dc = SERVICES // DATACENTERS
    for dc in range(DATACENTERS):
        lines.append(f"[dc{dc}:children]")
        lines += [f"svc{dc * services_per_dc + i:02d}" for i in range(services_per_dc)]
        lines += [f"[dc{dc}:vars]", f"ansible_port={2200 + dc}", f"dc_name=dc{dc}", ""]
    lines += ["[prod:children]", *[f"dc{dc}" for dc in range(DATACENTERS)], ""]
    inventory = root / "hosts"
    inventory.write_text("\n".join(lines), encoding="utf-8")
    (root / "group_vars" / "prod").mkdir(parents=True)
    (root / "group_vars" / "all.yml").write_text("timezone: Asia/Shanghai\nsyslog: 10.0.0.5\n")
    (root / "group_vars" / "prod" / "10-base.yml").write_text("env: prod\nbackup: true\n")
    (root / "group_vars" / "prod" / "20-alerts.yml").write_text("pager: ops-oncall\n")
    for index in range(0, LEAF_GROUPS, 2):
        owner = f"owner: team{index % 12}\nport: {8000 + index}\n"
        (root / "group_vars" / f"app{index:03d}.yml").write_text(owner)
    (root / "host_vars").mkdir()
    for index in range(1, LEAF_GROUPS, 10):
        (root / "host_vars" / f"app{index:03d}-001.example.com.yml").write_text("ansible_host: 10.9.9.9\n")
    return inventory


def best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        inventory = write_inventory(Path(tmp))
        inv: Inventory = load_ansible(inventory)
        assert len(inv.assets) == HOSTS, len(inv.assets)
        size_kib = inventory.stat().st_size / 1024
        print(
            f"inventory: {len(inv.assets)} hosts, {len(inv.groups)} groups, {size_kib:.0f} KiB INI "
            f"+ group_vars/host_vars"
        )
        seconds = best_of(3, lambda: load_ansible(inventory))
        rate = HOSTS / seconds
        print(f"load_ansible (INI):  {seconds:6.3f} s  {rate:10,.0f} hosts/s   goal < {GOAL_SECONDS:.0f} s")
        yaml_file = Path(tmp) / "hosts.yml"
        yaml_file.write_text(to_ansible_yaml(inv), encoding="utf-8")
        seconds = best_of(3, lambda: load_ansible(yaml_file))
        print(f"load_ansible (YAML): {seconds:6.3f} s  {HOSTS / seconds:10,.0f} hosts/s   (for comparison)")
        print(
            f"full import (parse + one SQLite transaction, as `opsagent inventory import`): "
            f"{_full_import(inventory, Path(tmp)):6.3f} s   goal < {GOAL_SECONDS:.0f} s"
        )


def _full_import(inventory: Path, tmp: Path) -> float:
    """Parse and store into a fresh SQLite store, best of 3 (a new store each time)."""
    best = float("inf")
    for run in range(3):
        store = Store(sqlite_url(tmp / f"bench{run}.db"))
        started = time.perf_counter()
        save_inventory(store, load_ansible(inventory))
        best = min(best, time.perf_counter() - started)
        store.close()
    return best


if __name__ == "__main__":
    main()
