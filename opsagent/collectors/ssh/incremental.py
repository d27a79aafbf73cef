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

from collections.abc import Callable, Iterable
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


def _by_line(
    lines: Iterable[str], parse: Callable[[str], tuple[str, Any] | None], old: Memo, new: Memo
) -> dict[str, Any]:
    """``parse(line)`` of each line, the last poll's (in ``old``) for a line seen then; every line's
    result (or False) goes into ``new``. Returns key → value of the lines that parsed, a key's later
    line winning in its first line's place (as the whole-text parsers' dicts do)."""
    parsed: dict[str, Any] = {}
    for line in lines:
        hit: Any = old.get(line)
        if hit is None:
            hit = parse(line) or False
        new[line] = hit
        if hit:
            parsed[hit[0]] = hit[1]
    return parsed


def diskstats(text: str, options: SshOptions, old: Memo) -> tuple[list[Sample], Facts, Memo]:
    """``emit_diskstats(parse_diskstats(text))``; a memo entry per line: (device, its samples) or False."""
    exclude = options.disk_devices_exclude

    def device(line: str) -> tuple[str, list[Sample]] | None:
        parsed = lh.diskstats_line(line)
        return None if parsed is None else (parsed[0], nf.disk_samples({parsed[0]: parsed[1]}, exclude))

    new: Memo = {}
    devices = _by_line(text.splitlines(), device, old, new)
    if text.strip() and not devices:
        raise ValueError(lh.NOT_DISKSTATS)
    return [s for samples in devices.values() for s in samples], {}, new


def network(text: str, options: SshOptions, old: Memo) -> tuple[list[Sample], Facts, Memo]:
    """``emit_network(parse_network(text))``. Memo entries: per /proc/net/dev line, (interface, counters)
    or False; per interface in use, ``("samples", name, id(counters))`` → (its sysfs attributes, its samples,
    the counters' dict)."""
    dev_text, sysfs_text = lh.split_sections(text, 2)
    attrs = lh.net_sysfs_of(sysfs_text)  # the same dicts while the sysfs text is the same
    skip = nf.excluded(options.netdev_exclude)
    lines = dev_text.splitlines()
    if not any("|" in line for line in lines):  # no header line
        raise ValueError(lh.NOT_NET_DEV)
    new: Memo = {}
    counters = _by_line((line for line in lines if "|" not in line), lh.net_dev_line, old, new)
    samples: list[Sample] = []
    for name, values in counters.items():
        if skip(name):
            continue
        its_attrs = attrs.get(name, _NO_ATTRS)
        key = ("samples", name, id(values))  # the memo holds the counters' dict: its id is not reused meanwhile
        entry = old.get(key)
        if entry is None or entry[0] is not its_attrs:  # the memo holds the attributes' dict too
            entry = (its_attrs, nf.interface_samples(name, values, its_attrs), values)
        new[key] = entry
        samples += entry[1]
    return samples, {}, new


def filesystems(text: str, options: SshOptions, old: Memo) -> tuple[list[Sample], Facts, Memo]:
    """``emit_filesystems(parse_filesystems(text))``. Memo entries: per ``stat -f`` line, (mount point,
    sizes) or False; per mount in use, ``("mount", id(mount), id(sizes))`` → (the mount, its samples, sizes)."""
    mounts_text, statfs_text = lh.split_sections(text, 2)
    new: Memo = {}
    sizes = _by_line(statfs_text.splitlines(), lh.statfs_line, old, new)
    skip_type, skip_mount = nf.excluded(options.fs_types_exclude), nf.excluded(options.mount_points_exclude)
    seen: set[tuple[str, str]] = set()
    samples: list[Sample] = []
    for mount in lh.mounts_of(mounts_text):  # the same dicts while the mount table is the same
        point = mount["mountpoint"]
        if skip_type(mount["fstype"]) or skip_mount(point) or (mount["device"], point) in seen:
            continue
        seen.add((mount["device"], point))
        its_sizes = sizes.get(point)
        key = ("mount", id(mount), id(its_sizes))  # the memo holds both dicts: their ids are not reused meanwhile
        entry = old.get(key)
        if entry is None:
            entry = (mount, mount_samples(lh.mount_entry(mount, its_sizes)), its_sizes)
        new[key] = entry
        samples += entry[1]
    return samples, {}, new


def meminfo(text: str, options: SshOptions, old: Memo) -> tuple[list[Sample], Facts, Memo]:
    """``emit_meminfo(parse_meminfo_checked(text))``; a memo entry per line: (key, its sample) or False.
    About 20 of /proc/meminfo's 54 lines change between two polls a minute apart."""

    def field(line: str) -> tuple[str, Sample] | None:
        parsed = meminfo_line(line)
        return None if parsed is None else (parsed[0], Sample(memory_name(parsed[0]), (), parsed[1]))

    new: Memo = {}
    # the whole-text regex's lines: str.splitlines would also split on \x1c, \x85, \u2028…
    fields = _by_line(text.split("\n"), field, old, new)
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
