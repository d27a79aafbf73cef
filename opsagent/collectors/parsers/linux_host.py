"""Parsers for the Linux host checks the SSH collector runs (``/proc`` files, ``stat -f``, ``lsblk``,
``ip addr``, DMI, ``systemctl``). Pure functions: text in, plain data out; no I/O.

They raise :class:`ValueError` when the text is not what the command prints, so a wrong or broken
command becomes a ``parse`` failure instead of silently empty metrics.
"""

from __future__ import annotations

import functools
import re
from operator import mul
from typing import Any

# /proc/stat "cpu" line columns, in order (node_exporter keeps guest apart from user; so do we).
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")

# /proc/diskstats columns after the device name → (node_exporter metric, scale). Sectors are 512
# bytes whatever the device (the kernel's unit), times are milliseconds.
DISKSTATS_FIELDS: tuple[tuple[str, float], ...] = (
    ("node_disk_reads_completed_total", 1.0),
    ("node_disk_reads_merged_total", 1.0),
    ("node_disk_read_bytes_total", 512.0),
    ("node_disk_read_time_seconds_total", 0.001),
    ("node_disk_writes_completed_total", 1.0),
    ("node_disk_writes_merged_total", 1.0),
    ("node_disk_written_bytes_total", 512.0),
    ("node_disk_write_time_seconds_total", 0.001),
    ("node_disk_io_now", 1.0),
    ("node_disk_io_time_seconds_total", 0.001),
    ("node_disk_io_time_weighted_seconds_total", 0.001),
    ("node_disk_discards_completed_total", 1.0),
    ("node_disk_discards_merged_total", 1.0),
    ("node_disk_discarded_sectors_total", 1.0),
    ("node_disk_discard_time_seconds_total", 0.001),
    ("node_disk_flush_requests_total", 1.0),
    ("node_disk_flush_requests_time_seconds_total", 0.001),
)

_DISK_NAMES = tuple(name for name, _ in DISKSTATS_FIELDS)
_DISK_SCALES = tuple(scale for _, scale in DISKSTATS_FIELDS)

NETDEV_RECEIVE = ("bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast")
NETDEV_TRANSMIT = ("bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed")

NOT_DISKSTATS = "not /proc/diskstats output"
NOT_NET_DEV = "not /proc/net/dev output (no header)"
SECTION = "@@section@@"  # separates the parts of a check that prints two files


def split_sections(text: str, count: int) -> list[str]:
    """Split a check's output on ``@@section@@`` lines into exactly ``count`` parts."""
    parts = re.split(rf"^{SECTION}[^\n]*\n?", text, flags=re.MULTILINE)
    if len(parts) != count:
        raise ValueError(f"expected {count} sections separated by {SECTION}, found {len(parts)}")
    return parts


def parse_key_values(text: str) -> dict[str, str]:
    """``key=value`` lines (first ``=`` splits; blank and malformed lines skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def parse_cpu_times(text: str, clk_tck: float = 100.0) -> dict[str, dict[str, float]]:
    """Per-CPU seconds per mode from ``/proc/stat`` (``cpuN`` lines; the ``cpu`` total is skipped)."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if not line.startswith("cpu"):  # before splitting: the intr line has thousands of fields
            continue
        parts = line.split()
        if parts[0] == "cpu":
            continue
        cpu = parts[0][3:]
        if not cpu.isdigit():
            continue
        values = [float(v) / clk_tck for v in parts[1:]]
        modes = dict(zip(CPU_MODES, values, strict=False))
        if len(values) > 8:  # guest time is also counted in user; node_exporter reports it apart
            modes["guest"] = values[8]
        if len(values) > 9:
            modes["guest_nice"] = values[9]
        out[cpu] = modes
    if not out:
        raise ValueError("no cpuN lines: not /proc/stat output")
    return out


def parse_loadavg(text: str) -> dict[str, float]:
    """``/proc/loadavg`` → load1/load5/load15 (plus running/total threads from the 4th field)."""
    parts = text.split()
    if len(parts) < 3:
        raise ValueError("not /proc/loadavg output")
    out = {"load1": float(parts[0]), "load5": float(parts[1]), "load15": float(parts[2])}
    if len(parts) >= 4 and "/" in parts[3]:
        running, _, total = parts[3].partition("/")
        out |= {"threads_running": float(running), "threads": float(total)}
    return out


def parse_diskstats(text: str) -> dict[str, dict[str, float]]:
    """``/proc/diskstats`` → {device: {metric name: value in base units}} (kernels 2.6 … 6.x)."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        device = diskstats_line(line)
        if device is not None:
            out[device[0]] = device[1]
    if text.strip() and not out:
        raise ValueError(NOT_DISKSTATS)
    return out


def diskstats_line(line: str) -> tuple[str, dict[str, float]] | None:
    """One ``/proc/diskstats`` line → (device, {metric name: value}); None for a line of another shape."""
    parts = line.split()
    if len(parts) < 7:
        return None
    if len(parts) == 7:  # old kernels: partition lines carry 4 counters only
        reads, rsect, writes, wsect = (float(v) for v in parts[3:7])
        return parts[2], {
            "node_disk_reads_completed_total": reads,
            "node_disk_read_bytes_total": rsect * 512,
            "node_disk_writes_completed_total": writes,
            "node_disk_written_bytes_total": wsect * 512,
        }
    # zip stops at the shorter: kernels print 11, 15 or 17 counters
    return parts[2], dict(zip(_DISK_NAMES, map(mul, map(float, parts[3:]), _DISK_SCALES), strict=False))


_NETDEV_KEYS = tuple(f"receive_{k}" for k in NETDEV_RECEIVE) + tuple(f"transmit_{k}" for k in NETDEV_TRANSMIT)


def parse_net_dev(text: str) -> dict[str, dict[str, float]]:
    """``/proc/net/dev`` → {interface: {"receive_bytes": …, "transmit_packets": …}}."""
    out: dict[str, dict[str, float]] = {}
    header_seen = False
    for line in text.splitlines():
        if "|" in line:
            header_seen = True
            continue
        iface = net_dev_line(line)
        if iface is not None:
            out[iface[0]] = iface[1]
    if not header_seen:
        raise ValueError(NOT_NET_DEV)
    return out


def net_dev_line(line: str) -> tuple[str, dict[str, float]] | None:
    """One interface line of ``/proc/net/dev`` → (interface, counters); None for another line."""
    name, sep, rest = line.partition(":")
    values = rest.split()
    if not sep or len(values) < 16:
        return None
    return name.strip(), dict(zip(_NETDEV_KEYS, map(float, values[:16]), strict=True))


def _unescape_mount(field: str) -> str:
    """``/proc/mounts`` escapes space, tab, newline and backslash as octal (``\\040``)."""
    if "\\" not in field:  # the common case, on every poll
        return field
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def parse_mounts(text: str) -> list[dict[str, str]]:
    """``/proc/mounts`` → [{device, mountpoint, fstype, options}] in mount order."""
    out: list[dict[str, str]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        out.append(
            {
                "device": _unescape_mount(parts[0]),
                "mountpoint": _unescape_mount(parts[1]),
                "fstype": parts[2],
                "options": parts[3],
            }
        )
    if text.strip() and not out:
        raise ValueError("not /proc/mounts output")
    return out


_STATFS = re.compile(r"^(\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (.*)$")


def parse_statfs(text: str) -> dict[str, dict[str, float]]:
    """``stat -f -c '%b %f %a %S %c %d %n' MOUNT…`` (GNU and BusyBox) → {mountpoint: sizes in bytes}.

    ``%S`` is the fundamental block size (statvfs ``f_frsize``), the unit of ``%b %f %a``. Lines
    that are stat's own error messages are skipped (their mount gets ``device_error``).
    """
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        mount = statfs_line(line)
        if mount is not None:
            out[mount[0]] = mount[1]
    return out


def statfs_line(line: str) -> tuple[str, dict[str, float]] | None:
    """One ``stat -f`` line (see :func:`parse_statfs`) → (mountpoint, sizes); None for another line."""
    match = _STATFS.match(line)
    if not match:
        return None
    blocks, bfree, bavail, frsize, files, ffree = (float(match[i]) for i in range(1, 7))
    return match[7], {
        "size_bytes": blocks * frsize,
        "free_bytes": bfree * frsize,
        "avail_bytes": bavail * frsize,
        "files": files,
        "files_free": ffree,
    }


def parse_filesystems(text: str) -> list[dict[str, Any]]:
    """The ``filesystems`` check: ``/proc/mounts``, a ``@@section@@`` line, then ``stat -f`` lines.

    Each mount gets its sizes, or ``error: True`` when stat gave nothing for it (hung or
    inaccessible mount: node_exporter's ``device_error``). Read-only comes from the mount options.
    """
    mounts_text, statfs_text = split_sections(text, 2)
    statfs = parse_statfs(statfs_text)
    return [mount_entry(mount, statfs.get(mount["mountpoint"])) for mount in mounts_of(mounts_text)]


def mount_entry(mount: dict[str, str], sizes: dict[str, float] | None) -> dict[str, Any]:
    """One mount of :func:`parse_filesystems`: its /proc/mounts fields, sizes (if stat gave them) and flags."""
    readonly = "ro" in mount["options"].split(",")
    return {**mount, "readonly": readonly, "error": sizes is None, **(sizes or {})}


def parse_net_sysfs(text: str) -> dict[str, dict[str, str]]:
    """``grep -H . /sys/class/net/*/{operstate,mtu,speed,address}`` → {iface: {attribute: value}}."""
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        path, sep, value = line.partition(":")
        parts = path.split("/")
        if not sep or len(parts) < 2 or not path.startswith("/sys/class/net/"):
            continue
        out.setdefault(parts[-2], {})[parts[-1]] = value.strip()
    return out


def parse_network(text: str) -> dict[str, dict[str, Any]]:
    """The ``network`` check: ``/proc/net/dev``, a ``@@section@@`` line, then the sysfs attributes."""
    dev_text, sysfs_text = split_sections(text, 2)
    counters = parse_net_dev(dev_text)
    attrs = net_sysfs_of(sysfs_text)
    return {name: {"counters": values, "attrs": dict(attrs.get(name, {}))} for name, values in counters.items()}


# The mount table and the interfaces' sysfs attributes are the same text poll after poll (the
# sizes and counters beside them are not): parsed once per distinct text, for up to a fleet of
# hosts. The cached values are only read (the callers above copy what they hand out).
mounts_of = functools.lru_cache(maxsize=4096)(parse_mounts)
net_sysfs_of = functools.lru_cache(maxsize=4096)(parse_net_sysfs)


_PAIR = re.compile(r'([A-Z0-9:_%\-]+)="((?:[^"\\]|\\.)*)"')


def _lsblk_value(raw: str) -> str:
    # lsblk -P escapes unsafe bytes as \xHH (e.g. spaces in MODEL: "QEMU\x20HARDDISK").
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), raw).strip()


def parse_lsblk(text: str) -> list[dict[str, Any]]:
    """``lsblk -P -b -o NAME,TYPE,SIZE,ROTA,MODEL,SERIAL,…`` → block devices; falls back to
    ``/proc/partitions`` (BusyBox systems without util-linux), whose sizes are 1 KiB blocks."""
    if "major minor" in text:
        return _parse_partitions(text)
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        pairs = {k.lower().replace("-", "_").replace(":", "_"): _lsblk_value(v) for k, v in _PAIR.findall(line)}
        if "name" not in pairs:
            continue
        device: dict[str, Any] = {k: v for k, v in pairs.items() if v != ""}
        if "size" in device and device["size"].isdigit():
            device["size"] = int(device["size"])
        if "rota" in device:
            device["rota"] = device["rota"] == "1"
        out.append(device)
    if text.strip() and not out:
        raise ValueError("not lsblk -P output")
    return out


def _parse_partitions(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2].isdigit():
            out.append({"name": parts[3], "size": int(parts[2]) * 1024})
    return out


def parse_ip_addr(text: str) -> list[dict[str, str]]:
    """``ip -o addr show`` (iproute2 and BusyBox) → [{interface, family, address, prefixlen, scope}]."""
    out: list[dict[str, str]] = []
    for line in text.splitlines():
        parts = line.replace("\\", " ").split()
        if len(parts) < 4 or not parts[0].rstrip(":").isdigit() or parts[2] not in ("inet", "inet6"):
            continue
        address, _, prefix = parts[3].partition("/")
        scope = parts[parts.index("scope") + 1] if "scope" in parts[4:-1] else ""
        iface = parts[1].split("@")[0]
        out.append({"interface": iface, "family": parts[2], "address": address, "prefixlen": prefix, "scope": scope})
    # `ip -o addr` on a host with only down interfaces prints no inet line: not an error.
    if text.strip() and not out and not re.search(r"^\d+:", text, re.MULTILINE):
        raise ValueError("not ip -o addr output")
    return out


_DMI_NOT_SET = {"", "to be filled by o.e.m.", "not specified", "default string", "none", "system serial number"}


def parse_dmi(text: str) -> dict[str, str]:
    """``key=value`` lines from ``/sys/class/dmi/id`` files; placeholder values are dropped."""
    return {k: v for k, v in parse_key_values(text).items() if v.lower() not in _DMI_NOT_SET}


def parse_systemctl_units(text: str) -> list[dict[str, str]]:
    """``systemctl list-units --plain --no-legend --no-pager --full`` → [{name, load, active, sub}].

    Old systemd (CentOS 7) marks failed units with a leading ``●`` or ``*`` even with ``--plain``;
    a "0 loaded units listed." line is a legend, not a unit.
    """
    out: list[dict[str, str]] = []
    for line in text.splitlines():
        parts = line.lstrip("●* \t").split(None, 4)
        if len(parts) < 4 or "." not in parts[0]:
            continue
        out.append({"name": parts[0], "load": parts[1], "active": parts[2], "sub": parts[3]})
    return out


def parse_systemd(text: str) -> dict[str, Any]:
    """The ``systemd`` check: ``systemctl is-system-running`` output, a ``@@section@@`` line, then
    the unit list; an output of ``no-systemd`` means the host does not run systemd."""
    if text.strip() == "no-systemd":
        return {"present": False, "system_state": "", "units": []}
    state_text, units_text = split_sections(text, 2)
    return {"present": True, "system_state": state_text.strip(), "units": parse_systemctl_units(units_text)}
