"""Ansible YAML inventories (and ``ansible-inventory --list`` JSON), read into a :class:`Draft`.

```yaml
all:
  vars: {ntp_server: ntp.example.com}
  hosts: {jump01: {ansible_host: 192.0.2.10}}
  children:
    web:
      hosts: {"web[01:20].example.com": {ansible_port: 2222}}
      vars: {http_port: 80}
```

The ``--list`` form (``hosts`` and ``children`` as lists, host vars under ``_meta.hostvars``) is
read too: it is how a dynamic inventory, which we cannot run, is brought in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opsagent.inventory.importers.ansible_draft import Draft, Where
from opsagent.inventory.importers.hostrange import expand_hosts, split_port
from opsagent.loader import Document, Loc


def _field(loc: Loc) -> str:
    return ".".join(str(part) for part in loc)


class YamlReader:
    def __init__(self, doc: Document, draft: Draft) -> None:
        self.doc = doc
        self.draft = draft
        self.parts: dict[str, Callable[[str, Any, Loc], None]] = {
            "hosts": self._hosts,
            "vars": self._vars,
            "children": self._children,
        }

    def read(self) -> None:
        data = self.doc.data
        if data is None:
            return
        if not isinstance(data, dict):
            self.draft.issue(self._where(()), "", "an Ansible inventory is a mapping of groups, e.g. 'all:'")
            return
        for name, body in data.items():
            if name == "_meta":
                self._meta(body, ("_meta",))
            else:
                self._group(str(name), body, (str(name),), None)

    def _where(self, loc: Loc) -> Where:
        return (self.doc.path, self.doc.line_of(loc))

    def _group(self, name: str, body: Any, loc: Loc, parent: str | None) -> None:
        where = self._where(loc)
        if parent is None:
            self.draft.declare(name, where)
        else:
            self.draft.link(parent, name, where)
        if body is None:
            return
        if not isinstance(body, dict):
            self.draft.issue(where, name, "a group is a mapping with 'hosts', 'vars' and/or 'children'")
            return
        for key, value in body.items():
            part = self.parts.get(str(key))
            sub = (*loc, str(key))
            if part is None:
                self.draft.issue(
                    self._where(sub), _field(sub), f"unexpected key in group {name!r} (expected hosts, vars, children)"
                )
            else:
                part(name, value, sub)

    def _hosts(self, group: str, hosts: Any, loc: Loc) -> None:
        if isinstance(hosts, list):  # --list form
            hosts = {str(h): None for h in hosts}
        if hosts is None:
            return
        if not isinstance(hosts, dict):
            self.draft.issue(self._where(loc), _field(loc), "'hosts' must be a mapping of host names")
            return
        for pattern, host_vars in hosts.items():
            self._host(group, str(pattern), host_vars, (*loc, str(pattern)))

    def _host(self, group: str, pattern: str, host_vars: Any, loc: Loc) -> None:
        where = self._where(loc)
        if host_vars is not None and not isinstance(host_vars, dict):
            self.draft.issue(where, _field(loc), "host vars must be a mapping (or nothing)")
            return
        name_pattern, port = split_port(pattern)
        try:
            names = expand_hosts(name_pattern)
        except ValueError as exc:
            self.draft.issue(where, _field(loc), f"bad host pattern: {exc}")
            return
        for name in names:
            host = self.draft.host(name, group, where, self.doc.path)
            if port is not None:
                host.set_var("ansible_port", port, where)
            for key, value in (host_vars or {}).items():
                host.set_var(str(key), value, self._where((*loc, str(key))))

    def _vars(self, group: str, values: Any, loc: Loc) -> None:
        if values is None:
            return
        if not isinstance(values, dict):
            self.draft.issue(self._where(loc), _field(loc), "'vars' must be a mapping")
            return
        node = self.draft.groups[group]
        for key, value in values.items():
            node.set_var(str(key), value, self._where((*loc, str(key))))

    def _children(self, group: str, children: Any, loc: Loc) -> None:
        if isinstance(children, list):  # --list form
            for index, child in enumerate(children):
                self.draft.link(group, str(child), self._where((*loc, index)))
            return
        if children is None:
            return
        if not isinstance(children, dict):
            self.draft.issue(self._where(loc), _field(loc), "'children' must be a mapping of groups")
            return
        for name, body in children.items():
            self._group(str(name), body, (*loc, str(name)), group)

    def _meta(self, meta: Any, loc: Loc) -> None:
        hostvars = meta.get("hostvars") if isinstance(meta, dict) else None
        if not isinstance(hostvars, dict):
            return
        for name, host_vars in hostvars.items():
            self._host("all", str(name), host_vars, (*loc, "hostvars", str(name)))
