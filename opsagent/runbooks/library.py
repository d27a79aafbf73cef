"""The runbook library: ``runbooks/**/*.yaml`` under every content root (a later root's runbook
of the same name replaces the shipped one). A runbook is found by its name or by its path under
``runbooks/`` (``emergency/disk-full``), which is what alert rules link to.

A broken file never blocks the others: it is reported (file:line) and left out — or, on a reload,
its last good version is kept — and asking for it by name or path says what is wrong with it. Two
files of one root naming the same runbook are both refused, each error naming the other file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from opsagent.errors import ConfigError, ConfigIssue
from opsagent.loader import file_stamp, parse_yaml_file
from opsagent.runbooks.context import RunbookError
from opsagent.runbooks.model import Runbook, validate_runbook
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


@dataclass
class Library:
    entries: dict[str, Entry] = field(default_factory=dict)  # name → the runbook in effect
    issues: list[ConfigIssue] = field(default_factory=list)  # every problem of every file
    broken: dict[str, list[ConfigIssue]] = field(default_factory=dict)  # ref or name → its problems


@dataclass
class _Read:
    base: Path
    path: Path
    ref: str
    runbook: Runbook | None
    name: str | None  # as written (also for an invalid file, when it has one)
    line: int | None
    issues: list[ConfigIssue]


def _read(base: Path, path: Path, receivers: frozenset[str] | None) -> _Read:
    ref = str(path.relative_to(base).with_suffix(""))
    doc: Any = None
    try:
        doc = parse_yaml_file(path)
        runbook = validate_runbook(doc)
        found = check_receivers(doc, receivers) if receivers is not None else []
        if found:
            raise ConfigError(found)
    except ConfigError as exc:
        raw = doc.data.get("name") if doc is not None and isinstance(doc.data, dict) else None
        name = raw if isinstance(raw, str) else None
        return _Read(base, path, ref, None, name, None, exc.issues)
    return _Read(base, path, ref, runbook, runbook.name, doc.line_of(("name",)), [])


# path -> (file stamp, receivers, the file as read): `serve` re-reads the library every 30 s, and
# parsing, validating and compiling the templates of every runbook again was a third of an idle
# agent's CPU. A file whose stamp (mtime, ctime, size) and known receivers are unchanged is reused.
_READS: dict[str, tuple[tuple[int, int, int], frozenset[str] | None, _Read]] = {}


def _read_cached(base: Path, path: Path, receivers: frozenset[str] | None) -> _Read:
    stamp = file_stamp(path)
    if stamp is None:
        return _read(base, path, receivers)
    hit = _READS.get(str(path))
    if hit is not None and hit[0] == stamp and hit[1] == receivers and hit[2].base == base:
        item = hit[2]
    else:
        item = _read(base, path, receivers)
        _READS[str(path)] = (stamp, receivers, item)
    return replace(item, issues=list(item.issues))  # _duplicates() edits the copy, never the cached one


def _duplicates(items: list[_Read]) -> None:
    """Two files of one root with the same name: both refused, each naming the other."""
    by_key: dict[tuple[Path, str], list[_Read]] = {}
    for item in items:
        if item.name is not None:
            by_key.setdefault((item.base, item.name), []).append(item)
    for (_base, name), same in by_key.items():
        if len(same) < 2:
            continue
        for item in same:
            others = ", ".join(f"{o.path}:{o.line or 1}" for o in same if o is not item)
            issue = ConfigIssue(str(item.path), item.line or 1, "name", f"runbook {name!r} is also defined in {others}")
            item.issues.append(issue)
            item.runbook = None


def duplicate_names(files: Iterable[Path]) -> list[ConfigIssue]:
    """For ``opsagent check``: runbook files under one ``runbooks/`` folder that share a name."""
    items = []
    for path in files:
        base = next((p for p in path.parents if p.name == "runbooks"), None)
        if base is not None and path.suffix in SUFFIXES and path.is_file():
            item = _read(base, path, None)
            item.issues = []
            items.append(item)
    _duplicates(items)
    return [issue for item in items for issue in item.issues]


def read_library(roots: Iterable[Path], previous: Library | None = None) -> Library:
    """Every runbook of the content roots; ``previous``: the set in effect, whose version of a file
    now broken is kept (a reload keeps the last good set)."""
    roots = list(roots)
    receivers = known_receivers(roots)
    items = [_read_cached(base, path, receivers) for base, path in _files(roots)]
    _duplicates(items)
    kept = {str(e.path): e for e in previous.entries.values()} if previous else {}
    library = Library()
    for item in items:
        library.issues += item.issues
        if item.runbook is not None:
            library.entries[item.runbook.name] = Entry(item.runbook, item.path, item.ref)
            continue
        for key in (item.ref, item.name):
            if key:
                library.broken.setdefault(key, []).extend(item.issues)
        if item.name:  # a broken override does not silently fall back to the runbook it replaced
            library.entries.pop(item.name, None)
        last_good = kept.get(str(item.path))
        if last_good is not None:
            library.entries[last_good.runbook.name] = last_good
    return library


def load_library(roots: Iterable[Path], *, strict: bool = True) -> dict[str, Entry]:
    """name → entry. ``strict``: any invalid file raises ConfigError with every issue."""
    library = read_library(roots)
    if library.issues and strict:
        raise ConfigError(library.issues)
    return library.entries


def find(entries: dict[str, Entry], name: str, broken: dict[str, list[ConfigIssue]] | None = None) -> Entry:
    """By name, by ref (``emergency/disk-full``), or by a ``runbooks/…yaml`` link; a broken runbook
    asked for raises its file's issues (ConfigError)."""
    if name in entries:
        return entries[name]
    ref = name.removeprefix("runbooks/")
    for suffix in SUFFIXES:
        ref = ref.removesuffix(suffix)
    for entry in entries.values():
        if entry.ref == ref:
            return entry
    for key in (name, ref):
        if broken and key in broken:
            raise ConfigError(broken[key])
    raise RunbookError(f"no runbook named {name!r} (see `opsagent runbook list`)")
