"""Facts: nested dicts flattened to dotted keys, and the changes between two snapshots.

Only changes are stored, so ``history`` answers "what changed and when" (a new serial number, a
vanished interface, a reboot) without storing every poll.

A flat key is the path of segments joined by ``.``; a ``.`` or ``\\`` inside a segment is escaped
with a backslash, so any name round-trips: interface ``ge-0/0/0.0`` is
``interfaces.ge-0/0/0\\.0.oper_status``, never three levels. Keys without dots in their names are
unchanged by the escaping (``os.name``), so ``history --key 'os.*'`` reads as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class FactChange:
    asset: str
    key: str
    old: Any
    new: Any
    collector: str
    at: datetime

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"


def escape_segment(segment: str) -> str:
    """One path segment as it appears in a flat key: ``\\`` → ``\\\\``, ``.`` → ``\\.``."""
    return segment.replace("\\", "\\\\").replace(".", "\\.")


def join_key(*segments: str) -> str:
    """The flat key of a path: ``join_key("interfaces", "Gi0/1.100", "index")``."""
    return ".".join(escape_segment(s) for s in segments)


def split_key(key: str) -> list[str]:
    """The path segments of a flat key (the inverse of :func:`join_key`)."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(key)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, "\\"))
        elif ch == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def flatten(facts: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"os": {"name": "Debian"}}`` → ``{"os.name": "Debian"}``; lists stay whole values.
    Dots in names are escaped (:func:`join_key`), so :func:`unflatten` gives the same dict back."""
    out: dict[str, Any] = {}
    for key, value in facts.items():
        name = prefix + escape_segment(str(key))
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in sorted(flat.items()):
        node = out
        *parents, leaf = split_key(key)
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # a scalar and a subtree under one name: keep both
                child = node[part] = {"": child}
            node = child
        node[leaf] = value
    return out


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, old, new) for every key added, removed or changed."""
    changes = [(k, old.get(k), v) for k, v in new.items() if old.get(k) != v or k not in old]
    changes += [(k, v, None) for k, v in old.items() if k not in new]
    return sorted(changes, key=lambda c: c[0])
