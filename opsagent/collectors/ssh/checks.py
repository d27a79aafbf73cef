"""Named parsers of SSH checks: how one command's output becomes samples and facts.

A profile check names one of these. ``parse`` is a pure function over the command's output
(fixture-tested); ``emit`` turns the parsed data into node_exporter-named samples and facts,
exactly as the local collector does for the same files.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opsagent.collectors import nodefamilies as nf
from opsagent.collectors.base import Sample
from opsagent.collectors.parsers import linux_host as lh
from opsagent.collectors.parsers.linux import (
    OS_INFO_KEYS,
    parse_cpuinfo_model,
    parse_meminfo,
    parse_os_release,
    parse_proc_stat,
)
from opsagent.collectors.ssh.options import SshOptions

Facts = dict[str, Any]
Emitted = tuple[list[Sample], Facts]

SYSTEMD_STATES = nf.SYSTEMD_STATES


@dataclass(frozen=True)
class Parser:
    parse: Callable[[str], Any]
    emit: Callable[[Any, SshOptions], Emitted]


_excluded = nf.excluded


# -- proc_stat: "getconf CLK_TCK; cat /proc/stat" ---------------------------------------------
def parse_proc_stat_full(text: str) -> dict[str, Any]:
    """The clock tick rate on the first line (when numeric), then ``/proc/stat``."""
    first, _, rest = text.partition("\n")
    clk_tck = float(first) if first.strip().isdigit() else 100.0
    body = rest if first.strip().isdigit() else text
    scalars = parse_proc_stat(body)
    if "btime" not in scalars:
        raise ValueError("no btime line: not /proc/stat output")
    return {"clk_tck": clk_tck, "cpus": lh.parse_cpu_times(body, clk_tck), "scalars": scalars}


_STAT_NAMES: dict[str, tuple[str, Any]] = {
    "ctxt": ("node_context_switches_total", "counter"),
    "intr": ("node_intr_total", "counter"),
    "processes": ("node_forks_total", "counter"),
    "procs_running": ("node_procs_running", "gauge"),
    "procs_blocked": ("node_procs_blocked", "gauge"),
    "btime": ("node_boot_time_seconds", "gauge"),
}


def emit_proc_stat(data: dict[str, Any], options: SshOptions) -> Emitted:
    samples = nf.cpu_samples(data["cpus"])
    for key, value in data["scalars"].items():
        name, kind = _STAT_NAMES[key]
        samples.append(Sample(name, (), float(value), kind))
    boot = datetime.fromtimestamp(data["scalars"]["btime"], UTC).isoformat(timespec="seconds")
    return samples, {"boot_time": boot, "cpu": {"count": len(data["cpus"])}}


# -- loadavg -----------------------------------------------------------------------------------
def emit_loadavg(data: dict[str, float], options: SshOptions) -> Emitted:
    return [Sample.of(f"node_{k}", data[k]) for k in ("load1", "load5", "load15")], {}


# -- meminfo -----------------------------------------------------------------------------------
NOT_MEMINFO = "no MemTotal line: not /proc/meminfo output"


def parse_meminfo_checked(text: str) -> dict[str, float]:
    fields = parse_meminfo(text)
    if "MemTotal_bytes" not in fields:
        raise ValueError(NOT_MEMINFO)
    return fields


@functools.lru_cache(maxsize=256)
def memory_name(key: str) -> str:
    return f"node_memory_{key}"


def emit_meminfo(data: dict[str, float], options: SshOptions) -> Emitted:
    samples = [Sample(memory_name(key), (), value) for key, value in data.items()]
    return samples, meminfo_facts(data["MemTotal_bytes"])


def meminfo_facts(total_bytes: float) -> Facts:
    return {"memory": {"total_bytes": int(total_bytes)}}


# -- system: uname fields, clock, pid count (key=value lines) ---------------------------------
def parse_system(text: str) -> dict[str, str]:
    fields = lh.parse_key_values(text)
    missing = {"ostype", "osrelease", "hostname"} - set(fields)
    if missing:
        raise ValueError(f"missing {', '.join(sorted(missing))}")
    return fields


def emit_system(data: dict[str, str], options: SshOptions) -> Emitted:
    samples = [
        Sample.of(
            "node_uname_info",
            1,
            "info",
            sysname=data.get("ostype", ""),
            release=data.get("osrelease", ""),
            version=data.get("version", ""),
            machine=data.get("machine", ""),
            nodename=data.get("hostname", ""),
            domainname=data.get("domainname", "(none)"),
        )
    ]
    if _is_number(data.get("time")):
        samples.append(Sample.of("node_time_seconds", float(data["time"])))
    if data.get("pids", "").isdigit():
        samples.append(Sample.of("node_processes_pids", float(data["pids"])))
    facts: Facts = {
        "hostname": data["hostname"],
        "kernel": {"name": data["ostype"], "release": data["osrelease"], "version": data.get("version", "")},
    }
    if data.get("machine"):
        facts["arch"] = data["machine"]
    return samples, facts


def _is_number(value: str | None) -> bool:
    try:
        float(value or "x")
    except ValueError:
        return False
    return True


# -- os_release --------------------------------------------------------------------------------
def parse_os_release_checked(text: str) -> dict[str, str]:
    fields = parse_os_release(text)
    if "id" not in fields and "name" not in fields:
        raise ValueError("no ID or NAME: not os-release output")
    return fields


def emit_os_release(rel: dict[str, str], options: SshOptions) -> Emitted:
    sample = Sample.of("node_os_info", 1, "info", **{k: rel.get(k, "") for k in OS_INFO_KEYS})
    facts = {
        "os": {
            "id": rel.get("id", "linux"),
            "name": rel.get("name", "Linux"),
            "version": rel.get("version_id", ""),
            "pretty_name": rel.get("pretty_name", rel.get("name", "Linux")),
        }
    }
    return [sample], facts


# -- cpuinfo -----------------------------------------------------------------------------------
def parse_cpuinfo(text: str) -> dict[str, Any]:
    """Model, logical CPU count (``processor`` entries) and physical cores (unique
    physical id/core id pairs, when the architecture reports them)."""
    count, cores, physical = 0, set(), ""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if not sep:
            continue
        if key == "processor" and value.strip().isdigit():
            count += 1
        elif key == "physical id":
            physical = value.strip()
        elif key == "core id":
            cores.add((physical, value.strip()))
    if count == 0:
        raise ValueError("no processor entries: not /proc/cpuinfo output")
    return {"model": parse_cpuinfo_model(text) or "", "count": count, "cores": len(cores) or count}


def emit_cpuinfo(data: dict[str, Any], options: SshOptions) -> Emitted:
    return [], {"cpu": dict(data)}


# -- filesystems: /proc/mounts + stat -f -------------------------------------------------------
_FS_NAMES = tuple(
    (f, f"node_filesystem_{f}") for f in ("size_bytes", "free_bytes", "avail_bytes", "files", "files_free")
)


def emit_filesystems(mounts: list[dict[str, Any]], options: SshOptions) -> Emitted:
    skip_type, skip_mount = _excluded(options.fs_types_exclude), _excluded(options.mount_points_exclude)
    seen: set[tuple[str, str]] = set()
    samples: list[Sample] = []
    for m in mounts:
        key = (m["device"], m["mountpoint"])
        if skip_type(m["fstype"]) or skip_mount(m["mountpoint"]) or key in seen:
            continue
        seen.add(key)
        samples += mount_samples(m)
    return samples, {}


def mount_samples(m: dict[str, Any]) -> list[Sample]:
    """``node_filesystem_*`` of one mount of :func:`lh.parse_filesystems`."""
    labels = (("device", m["device"]), ("fstype", m["fstype"]), ("mountpoint", m["mountpoint"]))
    samples = [Sample("node_filesystem_device_error", labels, 1.0 if m["error"] else 0.0)]
    if m["error"]:
        return samples
    for field, name in _FS_NAMES:
        samples.append(Sample(name, labels, float(m[field])))
    samples.append(Sample("node_filesystem_readonly", labels, 1.0 if m["readonly"] else 0.0))
    return samples


# -- diskstats ---------------------------------------------------------------------------------
def emit_diskstats(devices: dict[str, dict[str, float]], options: SshOptions) -> Emitted:
    return nf.disk_samples(devices, options.disk_devices_exclude), {}


# -- network: /proc/net/dev + sysfs attributes ------------------------------------------------
def emit_network(ifaces: dict[str, dict[str, Any]], options: SshOptions) -> Emitted:
    return nf.network_samples(ifaces, options.netdev_exclude), {}


# -- facts only: lsblk, ip addr, dmi -----------------------------------------------------------
def emit_lsblk(devices: list[dict[str, Any]], options: SshOptions) -> Emitted:
    keep = ("name", "type", "size", "model", "serial", "rota", "vendor", "wwn", "tran", "mountpoint", "fstype")
    disks = {d["name"]: {k: v for k, v in d.items() if k in keep and k != "name"} for d in devices}
    return [], {"disks": disks}


def emit_ip_addr(addresses: list[dict[str, str]], options: SshOptions) -> Emitted:
    # The local collector's format: "iface address", loopback left out, sorted.
    shown = sorted(
        f"{a['interface']} {a['address']}" for a in addresses if not a["address"].startswith(("127.", "::1"))
    )
    return [], {"ip_addresses": shown}


def emit_dmi(dmi: dict[str, str], options: SshOptions) -> Emitted:
    names = {
        "sys_vendor": "vendor",
        "product_name": "model",
        "product_serial": "serial",
        "product_uuid": "uuid",
        "board_vendor": "board_vendor",
        "board_name": "board_name",
        "bios_vendor": "bios_vendor",
        "bios_version": "bios_version",
        "chassis_type": "chassis_type",
    }
    return [], {"dmi": {names[k]: v for k, v in dmi.items() if k in names}} if dmi else {}


# -- account: `id` ---------------------------------------------------------------------------
_ID_PART = re.compile(r"(\w+)=(\d+)(?:\(([^)]*)\))?")


def parse_id(text: str) -> dict[str, Any]:
    """``id`` (coreutils, BusyBox; SELinux adds ``context=``) → uid/user, gid/group, groups."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    fields: dict[str, Any] = {}
    for part in line.split():
        key, sep, value = part.partition("=")
        if not sep:
            continue
        if key in ("uid", "gid", "euid", "egid"):
            match = _ID_PART.fullmatch(part)
            if match is None:
                raise ValueError(f"unexpected {key} field {part!r}")
            name = {"uid": "user", "gid": "group", "euid": "euser", "egid": "egroup"}[key]
            fields[key] = int(match[2])
            if match[3] is not None:
                fields[name] = match[3]
        elif key == "groups":
            fields["groups"] = [m[3] or m[2] for m in _ID_PART.finditer("groups=" + value.replace(",", " groups="))]
        elif key == "context":
            fields["context"] = value
    if "uid" not in fields:
        raise ValueError("no uid= field: not id output")
    return fields


def emit_id(data: dict[str, Any], options: SshOptions) -> Emitted:
    return [], {"account": dict(data)}


# -- systemd -----------------------------------------------------------------------------------
def emit_systemd(data: dict[str, Any], options: SshOptions) -> Emitted:
    return nf.systemd_samples(data)


PARSERS: dict[str, Parser] = {
    "id": Parser(parse_id, emit_id),
    "proc_stat": Parser(parse_proc_stat_full, emit_proc_stat),
    "loadavg": Parser(lh.parse_loadavg, emit_loadavg),
    "meminfo": Parser(parse_meminfo_checked, emit_meminfo),
    "system": Parser(parse_system, emit_system),
    "os_release": Parser(parse_os_release_checked, emit_os_release),
    "cpuinfo": Parser(parse_cpuinfo, emit_cpuinfo),
    "filesystems": Parser(lh.parse_filesystems, emit_filesystems),
    "diskstats": Parser(lh.parse_diskstats, emit_diskstats),
    "network": Parser(lh.parse_network, emit_network),
    "lsblk": Parser(lh.parse_lsblk, emit_lsblk),
    "ip_addr": Parser(lh.parse_ip_addr, emit_ip_addr),
    "dmi": Parser(lh.parse_dmi, emit_dmi),
    "systemd": Parser(lh.parse_systemd, emit_systemd),
}

HELP = {
    **nf.HELP,
    "opsagent_ssh_check_success": "1 if this check of the SSH batch ran and parsed, else 0.",
    "opsagent_ssh_connection_reused": "1 if this poll reused the persistent SSH connection, 0 if it opened one.",
}


def merge_facts(into: Facts, new: Facts) -> None:
    """Deep-merge ``new`` into ``into`` (dicts merge key by key, other values replace). Dicts are
    copied on the way in: ``new`` may be a cached parse result that must never be changed."""
    for key, value in new.items():
        if isinstance(value, dict):
            target = into.get(key)
            if not isinstance(target, dict):
                target = into[key] = {}
            merge_facts(target, value)
        else:
            into[key] = list(value) if isinstance(value, list) else value
