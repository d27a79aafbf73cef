"""What an Ansible inventory says, before it is mapped onto our model.

The INI and YAML readers and the ``group_vars``/``host_vars`` loader all write into one
:class:`Draft`; every var remembers the file and line it came from, so that a problem found
while mapping (a plain-text password inherited from ``[all:vars]``, a port out of range) points
at the line that set it, not at the host that inherited it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opsagent.errors import ConfigIssue

Where = tuple[str, int | None]

# Ansible's implicit groups: every host is in ``all``; hosts in no other group are ``ungrouped``.
IMPLICIT = ("all", "ungrouped")


@dataclass(slots=True)
class Node:
    """A host or a group: its vars and where each var was set."""

    name: str
    where: Where
    vars: dict[str, Any] = field(default_factory=dict)
    var_where: dict[str, Where] = field(default_factory=dict)

    def set_var(self, key: str, value: Any, where: Where) -> None:
        self.vars[key] = value
        self.var_where[key] = where


@dataclass(slots=True)
class GroupDraft(Node):
    children: dict[str, Where] = field(default_factory=dict)  # child → where the link was made
    # A group named only by ``[x:vars]`` is, as in Ansible, an error (almost always a typo).
    declared: bool = False


@dataclass(slots=True)
class HostDraft(Node):
    groups: dict[str, None] = field(default_factory=dict)  # an ordered set
    source: str = ""


class Draft:
    """Hosts and groups from every source file, merged the way Ansible merges them."""

    def __init__(self) -> None:
        self.groups: dict[str, GroupDraft] = {name: GroupDraft(name, ("", None), declared=True) for name in IMPLICIT}
        self.hosts: dict[str, HostDraft] = {}
        self.issues: list[ConfigIssue] = []

    def issue(self, where: Where, field: str, message: str) -> None:
        self.issues.append(ConfigIssue(where[0], where[1], field, message))

    def declare(self, name: str, where: Where) -> GroupDraft:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = GroupDraft(name, where)
        group.declared = True
        return group

    def vars_group(self, name: str, where: Where) -> GroupDraft:
        """The group a ``[name:vars]`` section talks about (not declaring it)."""
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = GroupDraft(name, where)
        return group

    def link(self, parent: str, child: str, where: Where) -> None:
        """``child`` is in ``parent``. Naming a child creates it, as Ansible's YAML inventories do."""
        self.declare(child, where)
        if parent not in IMPLICIT:  # every group is in ``all`` anyway; no need to say so
            self.groups[parent].children.setdefault(child, where)

    def host(self, name: str, group: str, where: Where, source: str) -> HostDraft:
        """A host seen (again): Ansible merges every mention, groups and vars alike."""
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = HostDraft(name, where, source=source)
        if group not in IMPLICIT:
            host.groups[group] = None
        return host
