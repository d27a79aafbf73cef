"""Line by line reuse for the checks whose output changes in a line or two from poll to poll.

Between two polls a minute apart, most of a host's disks, interfaces and mounts idle. Most of its
``/proc/diskstats``, ``/proc/net/dev``, ``stat -f`` and ``/proc/meminfo`` lines are then the same text
as last time. Measured at 100 hosts, 1 line of 10, 1 of 16, 1 of 41 and 21 of 54 changed per poll. The
check's output as a whole still differs, so the check-level cache (``plans.ParseCache``) does not apply,
and these checks were the costliest parses of a poll.

Each function here gives what ``emit(parse(text), options)`` gives, and also a memo for the next poll.
The samples of a line that is the same as in ``old`` (the last poll's memo, for the same options) are
reused; only changed lines are parsed. Only this poll's lines are kept in the new memo, so it stays
the size of one output. tests/unit/test_ssh_incremental.py compares the results with parse + emit
over mutated, duplicated and hostile outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opsagent.collectors import nodefamilies as nf
from opsagent.collectors.base import Sample
from opsagent.collectors.parsers import linux_host as lh
from opsagent.collectors.parsers.linux import meminfo_line
from opsagent.collectors.ssh.checks import NOT_MEMINFO, Facts, meminfo_facts, memory_name, mount_samples
from opsagent.collectors.ssh.options import SshOptions

Memo = dict[Any, Any]
Direct = Callable[[str, SshOptions, Memo], tuple[list[Sample], Facts, Memo]]
_NO_ATTRS: dict[str, str] = {}  # one shared object: an interface without sysfs attributes


def diskstats(text: str, options: SshOptions, old: Memo) -> tuple[list[Sample], Facts, Memo]:
    """``emit_diskstats(parse_diskstats(text))``; a memo entry per line: (device, its samples) or False."""
    new: Memo = {}
    devices: dict[str, list[Sample]] = {}  # a device's later line wins, in its first line's place
    exclude = options.disk_devices_exclude
    for line in text.splitlines():
        hit: Any = old.get(line)
        if hit is None:
            parsed = lh.diskstats_line(line)
            hit = False if parsed is None else (parsed[0], nf.disk_samples({parsed[0]: parsed[1]}, exclude))
        new[line] = hit
        if hit:
            devices[hit[0]] = hit[1]
    if text.strip() and not devices:
        raise ValueError(lh.NOT_DISKSTATS)
    return [s for samples in devices.values() for s in samples], {}, new


def network(text: str, options: SshOptions, old: Memo) -> tuple[list[Sample], Facts, Memo]:
    """``emit_network(parse_network(text))``. Memo entries: per /proc/net/dev line, (interface, counters)
    or False; per interface line in use, ``("samples", line)`` → (its sysfs attributes, its samples)."""
    dev_text, sysfs_text = lh.split_sections(text, 2)
    attrs = lh.net_sysfs_of(sysfs_text)  # the same dicts while the sysfs text is the same
    skip = nf.excluded(options.netdev_exclude)
    new: Memo = {}
    ifaces: dict[str, str] = {}  # interface → its line (a later line wins, in the first one's place)
    header_seen = False
    for line in dev_text.splitlines():
        if "|" in line:
            header_seen = True
            continue
        hit: Any = old.get(line)
        if hit is None:
            hit = lh.net_dev_line(line) or False
        new[line] = hit
        if hit:
            ifaces[hit[0]] = line
    if not header_seen:
        raise ValueError(lh.NOT_NET_DEV)
    samples: list[Sample] = []
    for name, line in ifaces.items():
        if skip(name):
            continue
        its_attrs = attrs.get(name, _NO_ATTRS)
        key = ("samples", line)
        entry = old.get(key)
        if entry is None or entry[0] is not its_attrs:  # the memo holds the dict: `is` is safe
            entry = (its_attrs, nf.interface_samples(name, new[line][1], its_attrs))
        new[key] = entry
        samples += entry[1]
    return samples, {}, new


def filesystems(text: str, options: SshOptions, old: Memo) -> tuple[list[Sample], Facts, Memo]:
    """``emit_filesystems(parse_filesystems(text))``. Memo entries: per ``stat -f`` line, (mount point,
    sizes) or False; per mount in use, ``("mount", id(mount), its stat line)`` → (the mount, its samples)."""
    mounts_text, statfs_text = lh.split_sections(text, 2)
    new: Memo = {}
    sizes: dict[str, str] = {}  # mount point → its stat line (a later line wins)
    for line in statfs_text.splitlines():
        hit: Any = old.get(line)
        if hit is None:
            hit = lh.statfs_line(line) or False
        new[line] = hit
        if hit:
            sizes[hit[0]] = line
    skip_type, skip_mount = nf.excluded(options.fs_types_exclude), nf.excluded(options.mount_points_exclude)
    seen: set[tuple[str, str]] = set()
    samples: list[Sample] = []
    for mount in lh.mounts_of(mounts_text):  # the same dicts while the mount table is the same
        point = mount["mountpoint"]
        if skip_type(mount["fstype"]) or skip_mount(point) or (mount["device"], point) in seen:
            continue
        seen.add((mount["device"], point))
        stat = sizes.get(point)
        key = ("mount", id(mount), stat)  # the memo holds the mount's dict: its id is not reused meanwhile
        entry = old.get(key)
        if entry is None:
            entry = (mount, mount_samples(lh.mount_entry(mount, None if stat is None else new[stat][1])))
        new[key] = entry
        samples += entry[1]
    return samples, {}, new


def meminfo(text: str, options: SshOptions, old: Memo) -> tuple[list[Sample], Facts, Memo]:
    """``emit_meminfo(parse_meminfo_checked(text))``; a memo entry per line: (key, its sample) or False.
    About 20 of /proc/meminfo's 54 lines change between two polls a minute apart."""
    new: Memo = {}
    fields: dict[str, Sample] = {}  # a key's later line wins, in its first line's place
    for line in text.split("\n"):  # the whole-text regex's lines (str.splitlines also splits on \x1c…)
        hit: Any = old.get(line)
        if hit is None:
            parsed = meminfo_line(line)
            hit = False if parsed is None else (parsed[0], Sample(memory_name(parsed[0]), (), parsed[1]))
        new[line] = hit
        if hit:
            fields[hit[0]] = hit[1]
    total = fields.get("MemTotal_bytes")
    if total is None:
        raise ValueError(NOT_MEMINFO)
    return list(fields.values()), meminfo_facts(total.value), new


DIRECT: dict[str, Direct] = {
    "diskstats": diskstats,
    "network": network,
    "filesystems": filesystems,
    "meminfo": meminfo,
}
