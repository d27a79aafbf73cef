"""node_exporter series built from parsed Linux host data, shared by the ``local`` and ``ssh``
collectors, so one host gives one set of families, labels and values whichever collector reads it
(parsers in :mod:`opsagent.collectors.parsers.linux_host`). Pure functions.

The builders create Samples directly with labels already in sorted order (Sample.of sorts them
each time): they run on every poll for a few hundred series per host.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from opsagent.collectors.base import Sample
from opsagent.collectors.parsers import linux_host as lh

SYSTEMD_STATES = ("activating", "active", "deactivating", "failed", "inactive")
HELP = {  # the families built here beyond those psutil also gives (local.HELP has those)
    "node_cpu_guest_seconds_total": "Seconds the CPUs spent in guests (VMs) for each mode.",
    "node_disk_io_now": "The number of I/Os currently in progress.",
    "node_disk_io_time_weighted_seconds_total": "The weighted # of seconds spent doing I/Os.",
    "node_disk_discards_completed_total": "The total number of discards completed successfully.",
    "node_disk_discards_merged_total": "The total number of discards merged.",
    "node_disk_discarded_sectors_total": "The total number of sectors discarded successfully.",
    "node_disk_discard_time_seconds_total": "This is the total number of seconds spent by all discards.",
    "node_disk_flush_requests_total": "The total number of flush requests completed successfully",
    "node_disk_flush_requests_time_seconds_total": "This is the total number of seconds spent by all flush requests.",
    "node_systemd_unit_state": "Systemd unit",
    "node_systemd_units": "Summary of systemd unit states",
    "node_systemd_system_running": "Whether the system is operational (see 'systemctl is-system-running')",
}
for _dir, _fields in (("receive", lh.NETDEV_RECEIVE), ("transmit", lh.NETDEV_TRANSMIT)):
    for _field in _fields:
        HELP.setdefault(f"node_network_{_dir}_{_field}_total", f"Network device statistic {_dir}_{_field}.")
_CPU_MODE_SET = frozenset(lh.CPU_MODES)


@functools.lru_cache(maxsize=256)
def excluded(pattern: str) -> Callable[[str], bool]:
    regex = re.compile(pattern)
    return lambda value: regex.search(value) is not None


def cpu_samples(cpus: dict[str, dict[str, float]]) -> list[Sample]:
    """``node_cpu_seconds_total`` and ``node_cpu_guest_seconds_total`` from per-CPU mode seconds."""
    samples = [
        Sample("node_cpu_seconds_total", (("cpu", cpu), ("mode", mode)), seconds, "counter")
        for cpu, modes in cpus.items()
        for mode, seconds in modes.items()
        if mode in _CPU_MODE_SET
    ]
    samples += [
        Sample(
            "node_cpu_guest_seconds_total",
            (("cpu", cpu), ("mode", "user" if mode == "guest" else "nice")),
            modes[mode],
            "counter",
        )
        for cpu, modes in cpus.items()
        for mode in ("guest", "guest_nice")
        if mode in modes
    ]
    return samples


def disk_samples(devices: dict[str, dict[str, float]], exclude: str) -> list[Sample]:
    """``node_disk_*`` from parsed ``/proc/diskstats``."""
    skip = excluded(exclude)
    return [
        Sample(name, (("device", device),), value, "gauge" if name == "node_disk_io_now" else "counter")
        for device, fields in devices.items()
        if not skip(device)
        for name, value in fields.items()
    ]


@functools.lru_cache(maxsize=64)
def _netdev_name(field: str) -> str:
    return f"node_network_{field}_total"


def network_samples(ifaces: dict[str, dict[str, Any]], exclude: str) -> list[Sample]:
    """``node_network_*`` from parsed ``/proc/net/dev`` counters and sysfs attributes."""
    skip = excluded(exclude)
    samples: list[Sample] = []
    for device, info in ifaces.items():
        if not skip(device):
            samples += interface_samples(device, info["counters"], info["attrs"])
    return samples


def interface_samples(device: str, counters: dict[str, float], attrs: dict[str, str]) -> list[Sample]:
    """One interface's ``node_network_*``: its counters, then up, MTU and speed from sysfs."""
    labels = (("device", device),)
    new = tuple.__new__  # a Sample without the named tuple's Python-level __new__ (~170 per host per poll)
    samples = [new(Sample, (_netdev_name(f), labels, v, "counter")) for f, v in counters.items()]
    if "operstate" in attrs:
        samples.append(Sample("node_network_up", labels, 1.0 if attrs["operstate"] == "up" else 0.0))
    if attrs.get("mtu", "").isdigit():
        samples.append(Sample("node_network_mtu_bytes", labels, float(attrs["mtu"])))
    if attrs.get("speed", "").isdigit() and int(attrs["speed"]) > 0:
        samples.append(Sample("node_network_speed_bytes", labels, int(attrs["speed"]) * 1_000_000 / 8))
    return samples


def systemd_samples(data: dict[str, Any]) -> tuple[list[Sample], dict[str, Any]]:
    """``node_systemd_*`` and facts from parsed ``systemctl`` output (failed units)."""
    if not data["present"]:
        return [], {"systemd": False}
    samples = [Sample.of("node_systemd_system_running", 1 if data["system_state"] == "running" else 0)]
    failed = []
    for unit in data["units"]:
        unit_type = unit["name"].rpartition(".")[2]
        for state in SYSTEMD_STATES:
            value = 1 if unit["active"] == state else 0
            samples.append(Sample.of("node_systemd_unit_state", value, name=unit["name"], state=state, type=unit_type))
        if unit["active"] == "failed":
            failed.append(unit["name"])
    samples.append(Sample.of("node_systemd_units", len(failed), state="failed"))
    return samples, {"systemd": True, "systemd_failed_units": sorted(failed)}
