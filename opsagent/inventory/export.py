"""Inventory → text: our own YAML (lossless) or an Ansible YAML inventory.

The Ansible form carries what Ansible has a place for: groups (nested as ``children``), group and
host vars, address, port, kind (``opsagent_kind`` where Ansible's own vars do not imply it), the
SSH user and key file, and the SSH and become passwords as ``{{ lookup('env'|'file', ...) }}``.
Tags, descriptions, collectors and other credential sections (SNMP, databases) are not carried:
Ansible has no use for them, and ``to_native_yaml`` keeps them.
"""

from __future__ import annotations

from typing import Any

import yaml

from opsagent.inventory.model import Asset, AssetKind, Group, Inventory
from opsagent.inventory.resolve import GroupIndex
from opsagent.secrets import SecretRef, is_reference

_IMPLICIT = ("all", "ungrouped")
_NETWORK_CONNECTIONS = frozenset({"network_cli", "netconf", "httpapi"})
# Credential field → Ansible var, in the order they are written.
_ANSIBLE_CREDENTIALS = (
    ("ssh", "user", "ansible_user"),
    ("ssh", "key_file", "ansible_ssh_private_key_file"),
    ("ssh", "password", "ansible_password"),
    ("become", "password", "ansible_become_password"),
)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


# --- ours -----------------------------------------------------------------------------------------


def to_native_yaml(inv: Inventory) -> str:
    """Our inventory YAML; ``load_native`` reads it back into an equal inventory (but ``source``)."""
    doc: dict[str, Any] = {}
    if inv.groups:
        doc["groups"] = {name: _native_group(group) for name, group in inv.groups.items()}
    if inv.assets:
        index = GroupIndex(inv)
        doc["assets"] = [
            _with_vars(asset, index).model_dump(mode="json", exclude={"source"}, exclude_defaults=True)
            for asset in inv.assets.values()
        ]
    return _dump(doc)


def _with_vars(asset: Asset, index: GroupIndex) -> Asset:
    extra = surviving_source_vars(asset, index)
    return asset.model_copy(update={"vars": {**extra, **asset.vars}}) if extra else asset


def surviving_source_vars(asset: Asset, index: GroupIndex) -> dict[str, Any]:
    """The ``all`` vars of the asset's import that no group of it or the asset overrides: written on the
    asset itself, they keep its effective vars when the export is read back (sources are not exported)."""
    own = index.source_vars(asset)
    if not own:
        return {}
    overridden = {k for g in index.ordered_groups(asset) if g.name != "all" for k in g.vars} | set(asset.vars)
    return {k: v for k, v in own.items() if k not in overridden}


def _native_group(group: Group) -> dict[str, Any]:
    return group.model_dump(mode="json", exclude={"name", "source"}, exclude_defaults=True)


# --- Ansible --------------------------------------------------------------------------------------


def to_ansible_yaml(inv: Inventory) -> str:
    """An Ansible YAML inventory (``all: {vars, hosts, children}``), groups nested as children."""
    return _dump({"all": _AnsibleWriter(inv).all_group()})


def _ansible_secret(value: Any) -> Any:
    if isinstance(value, str) and is_reference(value):
        ref = SecretRef.parse(value)
        return f"{{{{ lookup('{ref.scheme}', '{ref.target}') }}}}"
    return value


class _AnsibleWriter:
    """Each group's body and each host's vars are written once; later mentions are just the name."""

    def __init__(self, inv: Inventory) -> None:
        self.inv = inv
        self.index = GroupIndex(inv)
        self.members: dict[str, list[Asset]] = {name: [] for name in inv.groups}
        for asset in inv.assets.values():
            for group in asset.groups:
                self.members[group].append(asset)
        self.written_groups: set[str] = set()
        self.written_hosts: set[str] = set()
        self.shared = self._shared_credentials()

    def _shared_credentials(self) -> dict[str, Any]:
        """Credential vars every asset has alike go to ``all.vars`` once, not on 10,000 hosts."""
        assets = list(self.inv.assets.values())
        shared: dict[str, Any] = {}
        for section, field, var in _ANSIBLE_CREDENTIALS:
            values = {repr(a.credentials.get(section, {}).get(field)) for a in assets}
            if assets and len(values) == 1 and field in assets[0].credentials.get(section, {}):
                shared[var] = _ansible_secret(assets[0].credentials[section][field])
        return shared

    def all_group(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        all_vars = {**self.shared, **(self.inv.groups["all"].vars if "all" in self.inv.groups else {})}
        if all_vars:
            body["vars"] = all_vars
        ungrouped = [a for a in self.inv.assets.values() if set(a.groups) <= set(_IMPLICIT)]
        if ungrouped:
            body["hosts"] = {a.name: self._host(a) for a in ungrouped}
        top = [name for name in self.inv.groups if name not in _IMPLICIT and self.index.parents[name] <= {"all"}]
        if top:
            body["children"] = {name: self._group(name) for name in top}
        return body

    def _group(self, name: str) -> dict[str, Any]:
        if name in self.written_groups:
            return {}
        self.written_groups.add(name)
        group = self.inv.groups[name]
        body: dict[str, Any] = {}
        if group.vars:
            body["vars"] = dict(group.vars)
        if self.members[name]:
            body["hosts"] = {a.name: self._host(a) for a in self.members[name]}
        if group.children:
            body["children"] = {child: self._group(child) for child in group.children}
        return body

    def _host(self, asset: Asset) -> dict[str, Any]:
        if asset.name in self.written_hosts:
            return {}
        self.written_hosts.add(asset.name)
        out: dict[str, Any] = {}
        if asset.address:
            out["ansible_host"] = asset.address
        if asset.port:
            out["ansible_port"] = asset.port
        for section, field, var in _ANSIBLE_CREDENTIALS:
            value = asset.credentials.get(section, {}).get(field)
            if value is not None and var not in self.shared:
                out[var] = _ansible_secret(value)
        if asset.kind != self._implied_kind(asset):
            out["opsagent_kind"] = asset.kind.value
        for key, value in {**surviving_source_vars(asset, self.index), **asset.vars}.items():
            out.setdefault(key, value)
        return out

    def _implied_kind(self, asset: Asset) -> AssetKind:
        """The kind our Ansible importer would infer from the vars alone."""
        effective = self.index.effective_vars(asset)
        if effective.get("ansible_network_os") or effective.get("ansible_connection") in _NETWORK_CONNECTIONS:
            return AssetKind.NETWORK
        return AssetKind.HOST
