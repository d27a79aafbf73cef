"""Ansible inventories (INI or YAML, a file or a directory) → :class:`Inventory`.

Connection vars become asset fields; they are resolved through group inheritance here, because
the asset (not its groups) holds address, port, kind and credentials:

==============================================  =======================================
``ansible_host`` (``ansible_ssh_host``)         ``Asset.address``
``ansible_port`` (``ansible_ssh_port``)         ``Asset.port``
``ansible_user`` (``ansible_ssh_user``)         ``credentials.ssh.user``
``ansible_ssh_private_key_file``                ``credentials.ssh.key_file``
``ansible_password`` / ``ansible_ssh_pass``     ``credentials.ssh.password`` (a reference)
``ansible_become_password`` / ``_become_pass``  ``credentials.become.password`` (a reference)
``opsagent_kind``                               ``Asset.kind``
==============================================  =======================================

A secret must be ``env:X``, ``file:P`` or ``{{ lookup('env', 'X') }}`` (or ``lookup('file', P)``);
plain text is refused, with the line that set it and never the value. Without ``opsagent_kind``, an
``ansible_network_os`` or a network ``ansible_connection`` makes the asset a network device. Every
other var stays where it was set (``Group.vars`` / ``Asset.vars``); ``ansible_network_os`` and
``ansible_connection`` stay too, as collectors need them.

``group_vars/`` and ``host_vars/`` beside the inventory are read as Ansible reads them and win over
vars set in the inventory file itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from opsagent.errors import ConfigError, ConfigIssue
from opsagent.inventory.importers.ansible_draft import IMPLICIT, Draft, GroupDraft, Node
from opsagent.inventory.importers.ansible_ini import IniReader
from opsagent.inventory.importers.ansible_yaml import YamlReader
from opsagent.inventory.model import Asset, AssetKind, Group, Inventory
from opsagent.loader import MAX_DEPTH, Document, parse_yaml_text, read_text
from opsagent.secrets import SecretRef, is_reference

__all__ = ["load_ansible", "looks_like_yaml"]

_YAML_SUFFIXES = (".yml", ".yaml", ".json")
_YAML_START = re.compile(r"^(?:---|%YAML|\{|[^\s#;\[=][^=]*:\s*(?:#.*)?$)")
# Files in an inventory directory that Ansible skips (INVENTORY_IGNORE_EXTS), plus our own.
_IGNORED_SUFFIXES = (
    ".pyc",
    ".pyo",
    ".swp",
    ".bak",
    "~",
    ".rpm",
    ".md",
    ".txt",
    ".rst",
    ".orig",
    ".ini",
    ".cfg",
    ".retry",
)
_SCRIPT_SUFFIXES = (".py", ".sh")
_VARS_SUFFIX_RANK = {"": 0, ".yml": 1, ".yaml": 2, ".json": 3}  # Ansible's load order for NAME.*

# Aliases first: where one host or group sets both, the canonical name wins.
_SLOTS = {
    "ansible_ssh_host": "address",
    "ansible_host": "address",
    "ansible_ssh_port": "port",
    "ansible_port": "port",
    "ansible_ssh_user": "ssh.user",
    "ansible_user": "ssh.user",
    "ansible_private_key_file": "ssh.key_file",
    "ansible_ssh_private_key_file": "ssh.key_file",
    "ansible_ssh_pass": "ssh.password",
    "ansible_ssh_password": "ssh.password",
    "ansible_password": "ssh.password",
    "ansible_become_pass": "become.password",
    "ansible_become_password": "become.password",
    "opsagent_kind": "kind",
}
_HINTS = {"ansible_network_os": "network_os", "ansible_connection": "connection"}  # read, and kept
_WATCHED = frozenset(_SLOTS) | frozenset(_HINTS)
_CREDENTIAL_SLOTS = ("ssh.user", "ssh.key_file", "ssh.password", "become.password")
_NETWORK_CONNECTIONS = frozenset({"network_cli", "netconf", "httpapi"})
_LOOKUP = re.compile(r"""^\{\{\s*lookup\(\s*(['"])(env|file)\1\s*,\s*(['"])([^'"]+)\3\s*\)\s*\}\}$""")
_SECRET_HINT = "use env:NAME, file:PATH or {{ lookup('env', 'NAME') }}"


def load_ansible(path: Path) -> Inventory:
    """Read an Ansible inventory file or directory; every problem of every file is raised at once."""
    draft = Draft()
    for source in _sources(path, draft):
        _read_source(source, draft)
    base_dir = (path if path.is_dir() else path.parent).resolve()
    _read_vars_dirs(base_dir, draft)
    return _Mapper(draft, base_dir, str(path)).inventory()


def looks_like_yaml(text: str) -> bool:
    """Does the first meaningful line look like YAML (``all:``, ``---``) rather than INI?"""
    for raw in text.splitlines():
        line = raw.strip()
        if line and line[0] not in "#;":
            return _YAML_START.match(line) is not None
    return False


# --- sources --------------------------------------------------------------------------------------


def _sources(path: Path, draft: Draft) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        draft.issue((str(path), None), "", "no such inventory file or directory")
        return []
    out = []
    for entry in sorted(path.iterdir()):
        if entry.is_dir() or entry.name.startswith(".") or entry.name.endswith(_IGNORED_SUFFIXES):
            continue
        if entry.suffix in _SCRIPT_SUFFIXES:
            draft.issue(
                (str(entry), None),
                "",
                "dynamic inventory scripts cannot be imported; "
                "run 'ansible-inventory -i SCRIPT --list > inventory.json' and import that",
            )
            continue
        out.append(entry)
    return out


def _read_text(path: Path, draft: Draft) -> str | None:
    try:
        return read_text(path)  # bad UTF-8 is reported with its line and column
    except ConfigError as exc:
        draft.issues.extend(exc.issues)
        return None


def _parse_yaml(text: str, path: Path, draft: Draft) -> Document | None:
    try:
        doc = parse_yaml_text(text, str(path))
    except ConfigError as exc:
        if path.suffix != ".json":
            draft.issues.extend(exc.issues)
            return None
        try:  # JSON that YAML rejects (tabs, for one): no line numbers, but the data
            data = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json can decode
            data = None
        if data is None or _depth(data) > MAX_DEPTH:
            draft.issues.extend(exc.issues)
            return None
        return Document(str(path), data, {}, [])
    draft.issues.extend(doc.issues)
    return doc


def _depth(data: Any) -> int:
    """Nesting depth of JSON data, without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _read_source(path: Path, draft: Draft) -> None:
    text = _read_text(path, draft)
    if text is None:
        return
    if path.suffix in _YAML_SUFFIXES or looks_like_yaml(text):
        doc = _parse_yaml(text, path, draft)
        if doc is not None:
            YamlReader(doc, draft).read()
    else:
        IniReader(str(path), draft).read(text)


# --- group_vars/ and host_vars/ -------------------------------------------------------------------


def _read_vars_dirs(base_dir: Path, draft: Draft) -> None:
    targets: dict[str, Mapping[str, Node]] = {"group_vars": draft.groups, "host_vars": draft.hosts}
    for dirname, nodes in targets.items():
        directory = base_dir / dirname
        if not directory.is_dir():
            continue
        for name, files in _vars_files(directory).items():
            node = nodes.get(name)
            if node is None:
                continue  # vars for a group or host the inventory does not have: Ansible ignores them
            for file in files:
                _read_vars_file(file, node, draft)


def _skipped(name: str) -> bool:
    return name.startswith(".") or name.endswith(("~", ".bak", ".orig", ".swp", ".retry"))


def _vars_files(directory: Path) -> dict[str, list[Path]]:
    """Name → its files in Ansible's order: ``NAME`` (file or directory), ``.yml``, ``.yaml``, ``.json``."""
    found: dict[str, list[tuple[int, list[Path]]]] = {}
    for entry in directory.iterdir():
        if _skipped(entry.name):
            continue
        if entry.is_dir():
            found.setdefault(entry.name, []).append((0, list(_dir_files(entry))))
            continue
        suffix = entry.suffix if entry.suffix in _VARS_SUFFIX_RANK else ""
        name = entry.name[: len(entry.name) - len(suffix)]  # web01.example.com has no YAML suffix
        found.setdefault(name, []).append((_VARS_SUFFIX_RANK[suffix], [entry]))
    return {name: [f for _, files in sorted(items, key=lambda i: i[0]) for f in files] for name, items in found.items()}


def _dir_files(directory: Path) -> Iterator[Path]:
    """A ``group_vars/NAME/`` directory: files sorted by name, sub-directories recursed into."""
    for entry in sorted(directory.iterdir()):
        if _skipped(entry.name):
            continue
        if entry.is_dir() and not entry.suffix:
            yield from _dir_files(entry)
        elif entry.is_file() and entry.suffix in _VARS_SUFFIX_RANK:
            yield entry


def _read_vars_file(path: Path, node: Node, draft: Draft) -> None:
    text = _read_text(path, draft)
    if text is None:
        return
    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        draft.issue(
            (str(path), 1),
            "",
            "ansible-vault encrypted files cannot be read; keep secrets "
            "outside the inventory and refer to them with env:NAME or file:PATH",
        )
        return
    doc = _parse_yaml(text, path, draft)
    if doc is None or doc.data is None:
        return
    if not isinstance(doc.data, dict):
        draft.issue((str(path), doc.line_of(())), "", "a vars file must be a mapping of names to values")
        return
    for key, value in doc.data.items():
        node.set_var(str(key), value, (doc.path, doc.line_of((str(key),))))


# --- mapping onto the model -----------------------------------------------------------------------


def _to_address(value: Any, base_dir: Path) -> str:
    if value is None or isinstance(value, bool | list | dict) or not str(value).strip():
        raise ValueError("must be a host name or an IP address")
    return str(value).strip()


def _to_port(value: Any, base_dir: Path) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit():
        raise ValueError("must be a port number")
    if not 1 <= int(text) <= 65535:
        raise ValueError(f"port {int(text)} is out of range 1-65535")
    return int(text)


def _to_text(value: Any, base_dir: Path) -> str:
    if value is None or isinstance(value, bool | list | dict):
        raise ValueError("must be a string")
    return str(value)


def _to_secret(value: Any, base_dir: Path) -> str:
    if isinstance(value, str):
        text = value.strip()
        lookup = _LOOKUP.match(text)
        if lookup:
            text = f"{lookup[2]}:{lookup[4]}"
        if is_reference(text):
            return str(SecretRef.parse(text, base_dir))  # file: refs made absolute, as our YAML does
        if "{{" in text:
            raise ValueError(f"is a template opsagent cannot evaluate; {_SECRET_HINT}")
    raise ValueError(f"plain-text secrets are refused; {_SECRET_HINT}")


def _to_kind(value: Any, base_dir: Path) -> AssetKind:
    try:
        return AssetKind(str(value).strip().lower())
    except ValueError:
        raise ValueError(f"must be one of {', '.join(k.value for k in AssetKind)}") from None


_CONVERT: dict[str, Callable[[Any, Path], Any]] = {
    "address": _to_address,
    "port": _to_port,
    "ssh.user": _to_text,
    "ssh.key_file": _to_text,
    "ssh.password": _to_secret,
    "become.password": _to_secret,
    "kind": _to_kind,
}


def _kind(slots: dict[str, Any]) -> AssetKind:
    if "kind" in slots:
        return AssetKind(slots["kind"])
    if slots.get("network_os") or slots.get("connection") in _NETWORK_CONNECTIONS:
        return AssetKind.NETWORK
    return AssetKind.HOST


def _break_cycles(draft: Draft) -> None:
    """Report (and cut) ``a -> b -> a`` so that precedence below can walk parents safely."""
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        group = draft.groups[name]
        for child in list(group.children):
            if state.get(child) == 1:
                where = group.children.pop(child)
                draft.issue(where, "children", "group cycle: " + " -> ".join([*trail, name, child]))
            elif child not in state:
                visit(child, [*trail, name])
        state[name] = 2

    for name in draft.groups:
        if name not in state:
            visit(name, [])


class _Precedence:
    """Ansible's order, as ``resolve.GroupIndex`` applies it: parents before children, then by name."""

    def __init__(self, groups: dict[str, GroupDraft]) -> None:
        self.parents: dict[str, list[str]] = {name: [] for name in groups}
        for name, group in groups.items():
            for child in group.children:
                self.parents[child].append(name)
        self._depth: dict[str, int] = {}
        self._ancestors: dict[str, frozenset[str]] = {}
        self._order: dict[tuple[str, ...], list[str]] = {}

    def depth(self, name: str) -> int:
        if name not in self._depth:
            self._depth[name] = 1 + max((self.depth(p) for p in self.parents[name]), default=0)
        return self._depth[name]

    def ancestors(self, name: str) -> frozenset[str]:
        if name not in self._ancestors:
            out: set[str] = set()
            for parent in self.parents[name]:
                out.add(parent)
                out |= self.ancestors(parent)
            self._ancestors[name] = frozenset(out)
        return self._ancestors[name]

    def ordered(self, groups: tuple[str, ...]) -> list[str]:
        """A host's groups and all their ancestors, lowest precedence first (cached: hosts share sets)."""
        if groups not in self._order:
            names = set(groups)
            for group in groups:
                names |= self.ancestors(group)
            self._order[groups] = sorted(names, key=lambda n: (self.depth(n), n))
        return self._order[groups]


class _Mapper:
    """Turns the draft into model objects, collecting every issue before raising."""

    def __init__(self, draft: Draft, base_dir: Path, path: str) -> None:
        self.draft = draft
        self.base_dir = base_dir
        self.path = path
        _break_cycles(draft)
        self.precedence = _Precedence(draft.groups)
        self.slots: dict[str, dict[str, Any]] = {}  # group → its own converted connection values
        self.rest: dict[str, dict[str, Any]] = {}  # group → its other vars
        self._inherited: dict[tuple[str, ...], dict[str, Any]] = {}

    def inventory(self) -> Inventory:
        groups = self._groups()
        assets = self._assets()
        if self.draft.issues:  # by file and line: as they read the file, not as we found them
            raise ConfigError(sorted(self.draft.issues, key=lambda i: (i.path, i.line or 0)))
        try:
            return Inventory(groups=groups, assets=assets)
        except ValidationError as exc:  # not expected: links create groups and cycles were cut
            raise ConfigError(
                [ConfigIssue(self.path, None, "", e["msg"]) for e in exc.errors(include_url=False)]
            ) from None

    def _map_node(self, node: Node, label: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(converted connection values, the other vars) of one host or group."""
        if node.vars.keys().isdisjoint(_WATCHED):
            return {}, node.vars
        rest = dict(node.vars)
        slots: dict[str, Any] = {}
        for key, slot in _SLOTS.items():
            if key in rest:
                raw = rest.pop(key)
                try:
                    slots[slot] = _CONVERT[slot](raw, self.base_dir)
                except ValueError as exc:
                    self.draft.issue(node.var_where[key], key, f"{label}: {exc}")
        for key, slot in _HINTS.items():
            if isinstance(rest.get(key), str):
                slots[slot] = rest[key]
            elif rest.get(key) is not None:  # {} or a list: Ansible itself fails on it later
                self.draft.issue(node.var_where[key], key, f"{label}: must be a string")
        return slots, rest

    def _groups(self) -> dict[str, Group]:
        out: dict[str, Group] = {}
        for name, group in self.draft.groups.items():
            self.slots[name], self.rest[name] = self._map_node(group, f"group {name!r}")
            if name == "ungrouped" or (name == "all" and not self.rest[name]):
                continue  # implicit; ``all`` is kept only to carry vars
            if not group.declared:
                self.draft.issue(
                    group.where, "", f"[{name}:vars] is for a group that is defined nowhere in the inventory (a typo?)"
                )
                continue
            try:
                out[name] = Group(name=name, children=list(group.children), vars=self.rest[name])
            except ValidationError as exc:
                self._model_issues(exc, group, f"group {name!r}")
        return out

    def _inherited_slots(self, groups: tuple[str, ...]) -> dict[str, Any]:
        """Connection values a host gets from ``all`` and its groups (hosts share group sets: cached)."""
        if groups not in self._inherited:
            merged = dict(self.slots["all"])
            for name in self.precedence.ordered(groups) if groups else IMPLICIT[1:]:
                merged.update(self.slots[name])
            self._inherited[groups] = merged
        return self._inherited[groups]

    def _assets(self) -> dict[str, Asset]:
        out: dict[str, Asset] = {}
        for host in self.draft.hosts.values():
            own, rest = self._map_node(host, f"host {host.name!r}")
            groups = tuple(host.groups)
            inherited = self._inherited_slots(groups)
            slots = {**inherited, **own} if own else inherited
            if not groups and self.rest["ungrouped"]:
                rest = {**self.rest["ungrouped"], **rest}  # resolve.py never applies 'ungrouped' vars
            creds: dict[str, dict[str, Any]] = {}
            for slot in _CREDENTIAL_SLOTS:
                if slot in slots:
                    section, field = slot.split(".")
                    creds.setdefault(section, {})[field] = slots[slot]
            try:
                out[host.name] = Asset(
                    name=host.name,
                    kind=_kind(slots),
                    address=slots.get("address"),
                    port=slots.get("port"),
                    groups=list(groups),
                    vars=rest,
                    credentials=creds,
                    source=host.source,
                )
            except ValidationError as exc:
                self._model_issues(exc, host, f"host {host.name!r}")
        return out

    def _model_issues(self, exc: ValidationError, node: Node, label: str) -> None:
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"])
            self.draft.issue(node.where, field, f"{label}: {err['msg']}")
