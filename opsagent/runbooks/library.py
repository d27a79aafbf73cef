"""The runbook library: ``runbooks/**/*.yaml`` under every content root (a later root's runbook
of the same name replaces the shipped one). A runbook is found by its name or by its path under
``runbooks/`` (``emergency/disk-full``), which is what alert rules link to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from opsagent.errors import ConfigError, ConfigIssue
from opsagent.loader import parse_yaml_file, validate
from opsagent.runbooks.context import RunbookError
from opsagent.runbooks.model import Runbook
from opsagent.runbooks.notify import check_receivers, known_receivers

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Entry:
    runbook: Runbook
    path: Path
    ref: str  # path under runbooks/ without suffix, e.g. "emergency/disk-full"


def _files(roots: Iterable[Path]) -> list[tuple[Path, Path]]:
    out = []
    for root in roots:
        base = root / "runbooks"
        if base.is_dir():
            out += [(base, p) for p in sorted(base.rglob("*")) if p.suffix in SUFFIXES and p.is_file()]
    return out


def load_library(roots: Iterable[Path], *, strict: bool = True) -> dict[str, Entry]:
    """name → entry. ``strict``: any invalid file raises ConfigError with every issue."""
    roots = list(roots)
    entries: dict[str, Entry] = {}
    issues: list[ConfigIssue] = []
    receivers = known_receivers(roots)
    for base, path in _files(roots):
        try:
            doc = parse_yaml_file(path)
            runbook = validate(doc, Runbook)
            found = check_receivers(doc, receivers) if receivers is not None else []
            if found:
                raise ConfigError(found)
        except ConfigError as exc:
            issues += exc.issues
            continue
        ref = str(path.relative_to(base).with_suffix(""))
        entries[runbook.name] = Entry(runbook, path, ref)
    if issues and strict:
        raise ConfigError(issues)
    return entries


def find(entries: dict[str, Entry], name: str) -> Entry:
    """By name, by ref (``emergency/disk-full``), or by a ``runbooks/…yaml`` link."""
    if name in entries:
        return entries[name]
    ref = name.removeprefix("runbooks/")
    for suffix in SUFFIXES:
        ref = ref.removesuffix(suffix)
    for entry in entries.values():
        if entry.ref == ref:
            return entry
    raise RunbookError(f"no runbook named {name!r} (see `opsagent runbook list`)")
