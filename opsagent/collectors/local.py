"""The local host collector (psutil), with node_exporter's metric names, types and labels.

Linux-only files (``/proc/meminfo``, ``/proc/stat``, ``/proc/diskstats``, ``/proc/net/dev`` with the
interfaces' sysfs attributes, ``/etc/os-release``) and ``systemctl`` are read through the same pure
parsers and sample builders (:mod:`opsagent.collectors.nodefamilies`) the SSH collector uses, so a
host gives the same families, labels and figures from either collector; elsewhere psutil alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict

from opsagent.collectors import nodefamilies as nf
from opsagent.collectors.base import CollectResult, Sample
from opsagent.collectors.parsers.linux import (
    OS_INFO_KEYS,
    parse_cpuinfo_model,
    parse_meminfo,
    parse_os_release,
    parse_proc_stat,
)
from opsagent.collectors.parsers.linux_host import parse_cpu_times, parse_diskstats, parse_net_dev, parse_systemd
from opsagent.inventory.model import Asset, CollectorSpec

# node_exporter's default exclusions (collector/filesystem_linux.go, diskstats_linux.go).
FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|"
    r"nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
)
MOUNT_POINTS_EXCLUDE = r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
DISK_DEVICES_EXCLUDE = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"

HELP = {
    "node_cpu_seconds_total": "Seconds the CPUs spent in each mode.",
    "node_load1": "1m load average.",
    "node_load5": "5m load average.",
    "node_load15": "15m load average.",
    "node_boot_time_seconds": "Node boot time, in unixtime.",
    "node_time_seconds": "System time in seconds since epoch (1970).",
    "node_context_switches_total": "Total number of context switches.",
    "node_intr_total": "Total number of interrupts serviced.",
    "node_forks_total": "Total number of forks.",
    "node_procs_running": "Number of processes in runnable state.",
    "node_procs_blocked": "Number of processes blocked waiting for I/O to complete.",
    "node_processes_pids": "Number of PIDs",
    "node_uname_info": "Labeled system information as provided by the uname system call.",
    "node_os_info": "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, "
    "image_version, name, pretty_name, variant, variant_id, version, version_codename, "
    "version_id.",
    "node_filesystem_size_bytes": "Filesystem size in bytes.",
    "node_filesystem_free_bytes": "Filesystem free space in bytes.",
    "node_filesystem_avail_bytes": "Filesystem space available to non-root users in bytes.",
    "node_filesystem_files": "Filesystem total file nodes.",
    "node_filesystem_files_free": "Filesystem total free file nodes.",
    "node_filesystem_readonly": "Filesystem read-only status.",
    "node_filesystem_device_error": "Whether an error occurred while getting statistics for the given device.",
    "node_disk_reads_completed_total": "The total number of reads completed successfully.",
    "node_disk_writes_completed_total": "The total number of writes completed successfully.",
    "node_disk_reads_merged_total": "The total number of reads merged.",
    "node_disk_writes_merged_total": "The number of writes merged.",
    "node_disk_read_bytes_total": "The total number of bytes read successfully.",
    "node_disk_written_bytes_total": "The total number of bytes written successfully.",
    "node_disk_read_time_seconds_total": "The total number of seconds spent by all reads.",
    "node_disk_write_time_seconds_total": "This is the total number of seconds spent by all writes.",
    "node_disk_io_time_seconds_total": "Total seconds spent doing I/Os.",
    "node_network_up": "Value is 1 if operstate is 'up', 0 otherwise.",
    "node_network_mtu_bytes": "Network device property: mtu_bytes",
    "node_network_speed_bytes": "Network device property: speed_bytes",
}
_NETDEV = {
    "bytes_recv": "node_network_receive_bytes_total",
    "bytes_sent": "node_network_transmit_bytes_total",
    "packets_recv": "node_network_receive_packets_total",
    "packets_sent": "node_network_transmit_packets_total",
    "errin": "node_network_receive_errs_total",
    "errout": "node_network_transmit_errs_total",
    "dropin": "node_network_receive_drop_total",
    "dropout": "node_network_transmit_drop_total",
}
_DISK = {  # psutil field → (metric, scale): times are milliseconds in psutil, seconds in node_exporter
    "read_count": ("node_disk_reads_completed_total", 1.0),
    "write_count": ("node_disk_writes_completed_total", 1.0),
    "read_merged_count": ("node_disk_reads_merged_total", 1.0),
    "write_merged_count": ("node_disk_writes_merged_total", 1.0),
    "read_bytes": ("node_disk_read_bytes_total", 1.0),
    "write_bytes": ("node_disk_written_bytes_total", 1.0),
    "read_time": ("node_disk_read_time_seconds_total", 0.001),
    "write_time": ("node_disk_write_time_seconds_total", 0.001),
    "busy_time": ("node_disk_io_time_seconds_total", 0.001),
}
_CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
for _name, _desc in (
    ("MemTotal", "MemTotal"),
    ("MemFree", "MemFree"),
    ("MemAvailable", "MemAvailable"),
    ("Buffers", "Buffers"),
    ("Cached", "Cached"),
    ("SwapTotal", "SwapTotal"),
    ("SwapFree", "SwapFree"),
):
    HELP[f"node_memory_{_name}_bytes"] = f"Memory information field {_desc}_bytes."
HELP.update({k: v for k, v in nf.HELP.items() if k not in HELP})


class LocalOptions(BaseModel):
    """Options of the ``local`` collector (profile ``collectors/local.yaml``, overridable per asset)."""

    model_config = ConfigDict(extra="forbid")

    fs_types_exclude: str = FS_TYPES_EXCLUDE
    mount_points_exclude: str = MOUNT_POINTS_EXCLUDE
    disk_devices_exclude: str = DISK_DEVICES_EXCLUDE
    netdev_exclude: str = "^$"
    proc_path: str = "/proc"
    etc_path: str = "/etc"
    sys_path: str = "/sys"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


class LocalCollector:
    """Polls the machine opsagent runs on."""

    name = "local"
    help = HELP
    options_model = LocalOptions

    async def collect(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> CollectResult:
        options = LocalOptions.model_validate(spec.options)
        return await asyncio.to_thread(self.collect_sync, asset.name, options)

    def collect_sync(self, asset: str, options: LocalOptions) -> CollectResult:
        proc, etc = Path(options.proc_path), Path(options.etc_path)
        meminfo = _read(proc / "meminfo")
        stat = _read(proc / "stat")
        os_release = _read(etc / "os-release") or _read(Path("/usr/lib/os-release"))
        samples: list[Sample] = []
        for part in (
            _cpu(stat),
            _load(),
            _memory(meminfo),
            _system(stat),
            _os(os_release),
            _filesystems(options),
            _disks(options, _read(proc / "diskstats")),
            _network(options, _read(proc / "net" / "dev")),
            _systemd(),
        ):
            samples.extend(part)
        facts = _facts(meminfo, os_release, _read(proc / "cpuinfo"))
        return CollectResult(asset=asset, collector=self.name, facts=facts, samples=samples)


def _cpu(stat: str | None) -> Iterator[Sample]:
    if stat:
        with contextlib.suppress(ValueError):  # not /proc/stat after all: psutil below
            yield from nf.cpu_samples(parse_cpu_times(stat, float(os.sysconf("SC_CLK_TCK"))))
            return
    for cpu, times in enumerate(psutil.cpu_times(percpu=True)):
        for mode in _CPU_MODES:
            if hasattr(times, mode):
                yield Sample.of("node_cpu_seconds_total", getattr(times, mode), "counter", cpu=str(cpu), mode=mode)


def _load() -> Iterator[Sample]:
    for name, value in zip(("node_load1", "node_load5", "node_load15"), os.getloadavg(), strict=True):
        yield Sample.of(name, value)


def _memory(meminfo: str | None) -> Iterator[Sample]:
    if meminfo:
        fields = parse_meminfo(meminfo)
    else:
        vm, swap = psutil.virtual_memory(), psutil.swap_memory()
        fields = {
            "MemTotal_bytes": vm.total,
            "MemFree_bytes": vm.free,
            "MemAvailable_bytes": vm.available,
            "SwapTotal_bytes": swap.total,
            "SwapFree_bytes": swap.free,
        }
        fields |= {
            f"{k}_bytes": getattr(vm, a) for k, a in (("Buffers", "buffers"), ("Cached", "cached")) if hasattr(vm, a)
        }
    for key, value in fields.items():
        yield Sample.of(f"node_memory_{key}", value)


def _system(stat: str | None) -> Iterator[Sample]:
    now = time.time()
    yield Sample.of("node_time_seconds", now)
    yield Sample.of("node_boot_time_seconds", psutil.boot_time())
    yield Sample.of("node_processes_pids", len(psutil.pids()))
    if stat:
        fields = parse_proc_stat(stat)
        names = {
            "ctxt": ("node_context_switches_total", "counter"),
            "intr": ("node_intr_total", "counter"),
            "processes": ("node_forks_total", "counter"),
            "procs_running": ("node_procs_running", "gauge"),
            "procs_blocked": ("node_procs_blocked", "gauge"),
        }
        for key, (name, kind) in names.items():
            if key in fields:
                yield Sample.of(name, fields[key], kind)  # type: ignore[arg-type]
    else:
        cpu = psutil.cpu_stats()
        yield Sample.of("node_context_switches_total", cpu.ctx_switches, "counter")
        yield Sample.of("node_intr_total", cpu.interrupts, "counter")


def _os(os_release: str | None) -> Iterator[Sample]:
    uname = platform.uname()
    yield Sample.of(
        "node_uname_info",
        1,
        "info",
        sysname=uname.system,
        release=uname.release,
        version=uname.version,
        machine=uname.machine,
        nodename=uname.node,
        domainname="(none)",
    )
    if os_release:
        rel = parse_os_release(os_release)
        yield Sample.of("node_os_info", 1, "info", **{k: rel.get(k, "") for k in OS_INFO_KEYS})


def _excluded(pattern: str) -> Callable[[str], bool]:
    regex = re.compile(pattern)
    return lambda value: regex.search(value) is not None


def _filesystems(options: LocalOptions) -> Iterator[Sample]:
    skip_type, skip_mount = _excluded(options.fs_types_exclude), _excluded(options.mount_points_exclude)
    seen: set[tuple[str, str]] = set()
    for part in psutil.disk_partitions(all=True):
        if skip_type(part.fstype) or skip_mount(part.mountpoint) or (part.device, part.mountpoint) in seen:
            continue
        seen.add((part.device, part.mountpoint))
        labels = {"device": part.device, "fstype": part.fstype, "mountpoint": part.mountpoint}
        try:
            st = os.statvfs(part.mountpoint)
        except OSError:
            yield Sample.of("node_filesystem_device_error", 1, **labels)
            continue
        yield Sample.of("node_filesystem_device_error", 0, **labels)
        yield Sample.of("node_filesystem_size_bytes", st.f_blocks * st.f_frsize, **labels)
        yield Sample.of("node_filesystem_free_bytes", st.f_bfree * st.f_frsize, **labels)
        yield Sample.of("node_filesystem_avail_bytes", st.f_bavail * st.f_frsize, **labels)
        yield Sample.of("node_filesystem_files", st.f_files, **labels)
        yield Sample.of("node_filesystem_files_free", st.f_ffree, **labels)
        yield Sample.of("node_filesystem_readonly", 1 if st.f_flag & os.ST_RDONLY else 0, **labels)


def _disks(options: LocalOptions, diskstats: str | None) -> Iterator[Sample]:
    if diskstats is not None:
        with contextlib.suppress(ValueError):
            yield from nf.disk_samples(parse_diskstats(diskstats), options.disk_devices_exclude)
            return
    skip = _excluded(options.disk_devices_exclude)
    for device, counters in (psutil.disk_io_counters(perdisk=True, nowrap=True) or {}).items():
        if skip(device):
            continue
        for field, (name, scale) in _DISK.items():
            if hasattr(counters, field):
                yield Sample.of(name, getattr(counters, field) * scale, "counter", device=device)


def _network(options: LocalOptions, net_dev: str | None) -> Iterator[Sample]:
    if net_dev is not None:
        with contextlib.suppress(ValueError):
            parsed = parse_net_dev(net_dev)
            ifaces = {name: {"counters": c, "attrs": _net_attrs(name, options.sys_path)} for name, c in parsed.items()}
            yield from nf.network_samples(ifaces, options.netdev_exclude)
            return
    skip = _excluded(options.netdev_exclude)
    stats = psutil.net_if_stats()
    for device, counters in psutil.net_io_counters(pernic=True, nowrap=True).items():
        if skip(device):
            continue
        for field, name in _NETDEV.items():
            yield Sample.of(name, getattr(counters, field), "counter", device=device)
        if device in stats:
            st = stats[device]
            yield Sample.of("node_network_up", _network_up(device, st.isup, options.sys_path), device=device)
            yield Sample.of("node_network_mtu_bytes", st.mtu, device=device)
            if st.speed > 0:
                yield Sample.of("node_network_speed_bytes", st.speed * 1_000_000 / 8, device=device)


def _net_attrs(device: str, sys_path: str) -> dict[str, str]:
    """The sysfs attributes the SSH check reads (``grep -H . /sys/class/net/*/…``): unreadable
    ones (``speed`` of a virtual device: EINVAL) are left out, as grep leaves them out."""
    attrs = {}
    for name in ("operstate", "mtu", "speed"):
        value = _read(Path(sys_path) / "class" / "net" / device / name)
        if value is not None and value.strip():
            attrs[name] = value.strip()
    return attrs


SYSTEMCTL_TIMEOUT = 10.0


def _systemd() -> Iterator[Sample]:
    """Failed units, as the SSH profile's ``systemd`` check: only where systemd is PID 1."""
    if not Path("/run/systemd/system").is_dir():
        return
    try:
        state = _systemctl("is-system-running")
        units = _systemctl("list-units", "--state=failed", "--plain", "--no-legend", "--no-pager", "--full")
    except (OSError, subprocess.SubprocessError):
        return
    with contextlib.suppress(ValueError):
        samples, _facts = nf.systemd_samples(parse_systemd(f"{state}\n@@section@@\n{units}"))
        yield from samples


def _systemctl(*args: str) -> str:
    run = subprocess.run(
        ["systemctl", *args], capture_output=True, text=True, timeout=SYSTEMCTL_TIMEOUT, stdin=subprocess.DEVNULL
    )
    return run.stdout


def _network_up(device: str, isup: bool, sys_path: str) -> int:
    """node_exporter's meaning: 1 when the kernel's operstate is "up". psutil's ``isup`` is the
    IFF_UP admin flag, which is also set on an interface without carrier (operstate "down") and is
    "unknown" for some virtual devices; it is only the fallback where there is no sysfs."""
    state = _read(Path(sys_path) / "class" / "net" / device / "operstate")
    if state is None:
        return 1 if isup else 0
    return 1 if state.strip() == "up" else 0


def _addresses() -> list[str]:
    out = []
    for iface, addrs in psutil.net_if_addrs().items():
        for addr in addrs:
            if addr.family in (socket.AF_INET, socket.AF_INET6) and not addr.address.startswith(("127.", "::1")):
                out.append(f"{iface} {addr.address.split('%')[0]}")
    return sorted(out)


def _facts(meminfo: str | None, os_release: str | None, cpuinfo: str | None) -> dict[str, Any]:
    uname = platform.uname()
    rel = parse_os_release(os_release) if os_release else {}
    mem_total = parse_meminfo(meminfo).get("MemTotal_bytes") if meminfo else None
    return {
        "hostname": socket.gethostname(),
        "os": {
            "id": rel.get("id", uname.system.lower()),
            "name": rel.get("name", uname.system),
            "version": rel.get("version_id", ""),
            "pretty_name": rel.get("pretty_name", uname.system),
        },
        "kernel": {"name": uname.system, "release": uname.release, "version": uname.version},
        "arch": uname.machine,
        "cpu": {
            "model": (parse_cpuinfo_model(cpuinfo) if cpuinfo else None) or platform.processor() or "",
            "count": psutil.cpu_count(logical=True) or 0,
            "cores": psutil.cpu_count(logical=False) or 0,
        },
        "memory": {"total_bytes": int(mem_total or psutil.virtual_memory().total)},
        "boot_time": datetime.fromtimestamp(psutil.boot_time(), UTC).isoformat(timespec="seconds"),
        "ip_addresses": _addresses(),
    }
