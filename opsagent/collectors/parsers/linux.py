"""Parsers for Linux ``/proc`` and ``/etc`` files, shared by the local and SSH collectors."""

from __future__ import annotations

import functools
import re
import shlex

# The labels of node_os_info, as node_exporter's os collector names them (local and SSH alike).
OS_INFO_KEYS = (
    "build_id",
    "id",
    "id_like",
    "image_id",
    "image_version",
    "name",
    "pretty_name",
    "variant",
    "variant_id",
    "version",
    "version_codename",
    "version_id",
)


_MEMINFO_LINE = re.compile(r"^([^\s:]+):[ \t]+(\d+)(?:[ \t]+(kB))?[ \t]*$", re.MULTILINE)


@functools.lru_cache(maxsize=512)
def _meminfo_key(field: str, unit: str) -> str:
    key = field.replace("(", "_").replace(")", "")
    return key + "_bytes" if unit else key


def parse_meminfo(text: str) -> dict[str, float]:
    """``/proc/meminfo`` → node_exporter metric suffixes: ``MemTotal_bytes`` (kB fields, in bytes),
    ``HugePages_Total`` (counts keep no unit), ``Active(anon)`` → ``Active_anon_bytes``. Lines
    with another unit or shape are skipped."""
    # One regex over the whole text: this runs on every poll of every SSH host.
    return {
        _meminfo_key(field, unit): float(value) * 1024 if unit else float(value)
        for field, value, unit in _MEMINFO_LINE.findall(text)
    }


def meminfo_line(line: str) -> tuple[str, float] | None:
    """One line (no newline) of :func:`parse_meminfo`: (key, value), or None for a skipped line."""
    match = _MEMINFO_LINE.match(line)
    if match is None:
        return None
    field, value, unit = match.groups()
    return _meminfo_key(field, unit or ""), float(value) * 1024 if unit else float(value)


def parse_os_release(text: str) -> dict[str, str]:
    """``/etc/os-release`` → its keys lower-cased (shell-quoted values unquoted)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw, posix=True)
        except ValueError:
            parts = [raw.strip("'\"")]
        out[key.strip().lower()] = parts[0] if parts else ""
    return out


def parse_proc_stat(text: str) -> dict[str, float]:
    """The scalar lines of ``/proc/stat``: ctxt, intr (total), processes, procs_running, procs_blocked, btime."""
    wanted = {"ctxt", "intr", "processes", "procs_running", "procs_blocked", "btime"}
    out: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split(None, 2)  # the first value only: intr and softirq lines are long
        if len(parts) >= 2 and parts[0] in wanted:
            out[parts[0]] = float(parts[1])
    return out


def parse_cpuinfo_model(text: str) -> str | None:
    """The CPU model from ``/proc/cpuinfo`` (x86 ``model name``, ARM ``Model``/``Hardware``, s390 etc.)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            found.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "cpu model", "model", "hardware", "processor", "cpu"):
        model = found.get(key)
        if model and not model.isdigit():
            return model
    return None
