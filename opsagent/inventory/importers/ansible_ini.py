"""Ansible INI inventories, read line by line into a :class:`Draft`.

```ini
jump01 ansible_host=192.0.2.10      # before any section: ungrouped
[web]
web[01:20].example.com ansible_port=2222 role="front end"
[web:vars]
http_port=80
[prod:children]
web
```

Values are read as Ansible reads them (``2222`` is an int, ``"a b"`` a string) with two
deliberate differences: a quoted value always stays a string (Ansible turns ``"22"`` into 22), and
``true/false/yes/no`` in any case are booleans (Ansible keeps lowercase ones as strings and
converts them when a module reads them; we store typed vars, so we convert here).
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Callable
from typing import Any

from opsagent.inventory.importers.ansible_draft import Draft, Where
from opsagent.inventory.importers.hostrange import expand_hosts, split_port

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:[#;].*)?$")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NEEDS_SHLEX = re.compile(r"[\"'\\]")
# One shell-like token at a time: bare characters, backslash escapes, or quoted runs.
_TOKEN = re.compile(r"""\s*((?:[^\s"'\\]|\\.|"(?:[^"\\]|\\.)*"|'[^']*')+)""")
_SIMPLE_QUOTED = re.compile(r"""^(?:"([^"\\]*)"|'([^']*)')$""")
_TRAILING_COMMENT = re.compile(r"\s+#.*$")
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?[0-9]+\.[0-9]+$")
_BOOLS = {"true": True, "yes": True, "false": False, "no": False}


def scalar(text: str) -> Any:
    """An unquoted INI value: a boolean word, an int, a float, a list/dict literal, else the text."""
    as_bool = _BOOLS.get(text.lower())
    if as_bool is not None:
        return as_bool
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if text[:1] in ("[", "{"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return text
        return value if isinstance(value, list | dict) else text
    return text


def tokens(line: str) -> list[str]:
    """Split like Ansible's ``shlex_split(line, comments=True)``, keeping quotes for :func:`value`.

    A ``#`` starts a comment only at the start of a token. Raises ValueError on an open quote.
    """
    if _NEEDS_SHLEX.search(line) is None:  # the common case, and 10x faster than the scanner
        out = line.split()
        cut = next((i for i, tok in enumerate(out) if tok[0] == "#"), len(out))
        return out[:cut]
    found: list[str] = []
    pos = 0
    while (match := _TOKEN.match(line, pos)) is not None:
        if match[1].startswith("#"):
            return found
        found.append(match[1])
        pos = match.end()
    rest = line[pos:].strip()
    if rest and not rest.startswith("#"):
        raise ValueError("unterminated quote or trailing backslash")
    return found


def _unquote(token: str) -> str:
    simple = _SIMPLE_QUOTED.match(token)
    if simple:  # "a b" or 'a b': most quoted values, without shlex's cost
        return simple[1] if simple[1] is not None else simple[2]
    return "".join(shlex.split(token))


def value(raw: str) -> Any:
    """The value of a ``key=value`` token on a host line."""
    if _NEEDS_SHLEX.search(raw) is not None:
        return _unquote(raw)
    return scalar(raw)


def vars_line_value(raw: str) -> Any:
    """The value in a ``[group:vars]`` line: the rest of the line, quoted or not."""
    if raw[:1] in ('"', "'"):
        try:
            parts = tokens(raw)
        except ValueError:
            parts = []
        return _unquote(parts[0]) if len(parts) == 1 else raw
    # Ansible would keep "10.0.0.1  # primary" whole; nobody means that.
    return scalar(_TRAILING_COMMENT.sub("", raw))


class IniReader:
    """One pass over the lines; the first line behaves as if under ``[ungrouped]``, as in Ansible."""

    def __init__(self, path: str, draft: Draft) -> None:
        self.path = path
        self.draft = draft
        self.group = "ungrouped"
        self.where: Where = (path, None)
        self.handlers: dict[str, Callable[[str], None]] = {
            "hosts": self._host_line,
            "children": self._child_line,
            "vars": self._vars_line,
            "skip": lambda line: None,
        }
        self.handle = self.handlers["hosts"]

    def read(self, text: str) -> None:
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            self.where = (self.path, lineno)
            if line[0] == "[" and (_SECTION.match(line) or line.endswith("]")):
                self._section(line)
            else:
                self.handle(line)

    def _issue(self, field: str, message: str) -> None:
        self.draft.issue(self.where, field, message)

    def _section(self, line: str) -> None:
        match = _SECTION.match(line)
        if match is None:
            self._issue("", "invalid section header (no spaces; [group], [group:vars] or [group:children])")
            self.handle = self.handlers["skip"]  # don't pour its lines into the previous section
            return
        name, kind = match[1], match[2] or "hosts"
        if kind not in ("hosts", "children", "vars"):
            self._issue("", f"section [{name}:{kind}] has unknown type {kind!r} (use :vars or :children)")
            self.handle = self.handlers["skip"]
            return
        self.group = name
        self.handle = self.handlers[kind]
        if kind == "vars":
            self.draft.vars_group(name, self.where)
        else:
            self.draft.declare(name, self.where)

    def _host_line(self, line: str) -> None:
        try:
            parts = tokens(line)
        except ValueError as exc:
            self._issue("", f"cannot parse host line: {exc}")
            return
        if not parts:
            return
        host_vars = self._host_vars(parts[1:])
        if host_vars is None:
            return
        pattern, port = split_port(_unquote(parts[0]) if _NEEDS_SHLEX.search(parts[0]) else parts[0])
        try:
            names = expand_hosts(pattern)
        except ValueError as exc:
            self._issue("", f"bad host pattern: {exc}")
            return
        if port is not None:
            host_vars["ansible_port"] = port
        for name in names:
            host = self.draft.host(name, self.group, self.where, self.path)
            for key, val in host_vars.items():
                host.set_var(key, val, self.where)

    def _host_vars(self, parts: list[str]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for position, part in enumerate(parts, 2):
            key, sep, raw = part.partition("=")
            if not sep or not VAR_NAME.match(key):
                # The token is not echoed: it may be the value of a password whose '=' went astray.
                self._issue("", f"item {position} on this host line is not a key=value host variable")
                return None
            out[key] = value(raw)
        return out

    def _child_line(self, line: str) -> None:
        match = _GROUP_NAME.match(line)
        if match is None:
            self._issue("", f"[{self.group}:children] takes one group name per line")
            return
        self.draft.link(self.group, match[1], self.where)

    def _vars_line(self, line: str) -> None:
        key, sep, raw = line.partition("=")
        key = key.strip()
        if not sep or not VAR_NAME.match(key):
            self._issue("", f"[{self.group}:vars] takes key=value lines (a variable name, '=', a value)")
            return
        self.draft.vars_group(self.group, self.where).set_var(key, vars_line_value(raw.strip()), self.where)
