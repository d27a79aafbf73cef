"""Asset inventory (信息资产统计): assets, nested groups, tags, vars and credential references."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opsagent.secrets import (
    PLAIN_REFUSED,
    URL_REFUSED,
    SecretRef,
    check_plain_secrets,
    check_vars,
    has_password,
    is_credential_key,
    is_reference,
    is_sensitive,
)
from opsagent.units import Duration

_NAME = re.compile(r"^[A-Za-z0-9_.\-\[\]:@]+$")


class AssetKind(StrEnum):
    HOST = "host"
    NETWORK = "network"
    DATABASE = "database"
    MIDDLEWARE = "middleware"
    STORAGE = "storage"


class CollectorSpec(BaseModel):
    """Which collector polls an asset, how often, and with what options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="collector type, e.g. 'local', 'ssh', 'snmp'")
    profile: str | None = None
    interval: Duration = 60.0
    timeout: Duration | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _no_plain_secret_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = check_plain_secrets(value, "options")
        return result

    @field_validator("interval")
    @classmethod
    def _positive_interval(cls, value: float) -> float:
        if value < 1:
            raise ValueError("interval must be at least 1 second")
        return value

    @property
    def effective_timeout(self) -> float:
        """A poll never runs into the next one: default timeout is 80 % of the interval."""
        return self.timeout if self.timeout is not None else max(1.0, self.interval * 0.8)


Credentials = dict[str, dict[str, str | int | bool]]


SnmpVersionName = Literal["1", "2c", "3"]
_SNMP_VERSIONS: dict[str, SnmpVersionName] = {"1": "1", "2": "2c", "2c": "2c", "3": "3"}


def snmp_version(value: Any) -> SnmpVersionName:
    """``1``, ``2c`` (or ``2``) or ``3`` as YAML gives them (``3`` is an int, ``2c`` a string;
    ``v3`` also reads); anything else is a ValueError naming what is accepted. Used for
    ``credentials.snmp.version`` here and the snmp collector's ``version`` option."""
    name = None if isinstance(value, bool) else _SNMP_VERSIONS.get(str(value).strip().lower().removeprefix("v"))
    if name is None:
        raise ValueError(f"SNMP version must be 1, 2c or 3, not {value!r}")
    return name


def _check_credentials(creds: Credentials) -> Credentials:
    for section, fields in creds.items():
        for field, value in fields.items():
            if (is_sensitive(field) or is_credential_key(field)) and not is_reference(value):
                raise ValueError(f"{section}.{field}: {PLAIN_REFUSED}")
            if has_password(value):
                raise ValueError(f"{section}.{field}: {URL_REFUSED}")
    snmp = creds.get("snmp", {})
    if "version" in snmp:
        try:
            snmp["version"] = snmp_version(snmp["version"])
        except ValueError as exc:
            raise ValueError(f"snmp.version: {exc}") from None
        _check_snmp_secrets(snmp)
    return creds


def _check_snmp_secrets(snmp: dict[str, str | int | bool]) -> None:
    """An explicit version names what the poll needs: a v3 user, or a v1/v2c community."""
    if snmp["version"] == "3" and not (snmp.get("user") or snmp.get("username")):
        raise ValueError("snmp.version 3 needs snmp.user (with auth_password / priv_password references)")
    if snmp["version"] != "3" and not snmp.get("community"):
        raise ValueError(f"snmp.version {snmp['version']} needs snmp.community (an env: or file: reference)")


def _tags(value: Any) -> Any:
    """Tags are key/value pairs; a list form (``[prod, 'dc=bj']``) is accepted too."""
    if isinstance(value, list):
        out: dict[str, str] = {}
        for item in value:
            key, _, val = str(item).partition("=")
            out[key] = val
        return out
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    return value


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    children: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)
    collectors: list[CollectorSpec] = Field(default_factory=list)
    source: str | None = Field(default=None, description="the import that defined the group (its owner)")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"invalid group name {value!r}")
        return value

    @field_validator("vars")
    @classmethod
    def _no_plain_secret_vars(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_vars(value)


class Asset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: AssetKind = AssetKind.HOST
    address: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    description: str = ""
    groups: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict)
    credentials: Credentials = Field(default_factory=dict)
    collectors: list[CollectorSpec] = Field(default_factory=list)
    source: str | None = Field(default=None, description="where the asset was imported from")

    _normalise_tags = field_validator("tags", mode="before")(classmethod(lambda cls, v: _tags(v)))

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"invalid asset name {value!r} (letters, digits and . _ - : @ only)")
        return value

    @field_validator("credentials")
    @classmethod
    def _no_plain_secrets(cls, value: Credentials) -> Credentials:
        return _check_credentials(value)

    @field_validator("vars")
    @classmethod
    def _no_plain_secret_vars(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_vars(value)

    @model_validator(mode="after")
    def _one_snmp_version(self) -> Asset:
        """``credentials.snmp.version`` and an snmp collector's ``version`` option must agree."""
        given = self.credentials.get("snmp", {}).get("version")
        for index, spec in enumerate(self.collectors):
            option = spec.options.get("version") if spec.name == "snmp" else None
            if option is None:
                continue
            try:
                ok = snmp_version(option) == given or given is None
            except ValueError as exc:
                raise ValueError(f"collectors[{index}].options.version: {exc}") from None
            if not ok:
                raise ValueError(
                    f"collectors[{index}].options.version {option!r} contradicts credentials.snmp.version {given!r}"
                )
        return self

    @property
    def target(self) -> str:
        """Where to connect: the address, else the name."""
        return self.address or self.name

    def credential_ref(self, section: str, field: str) -> SecretRef | None:
        value = self.credentials.get(section, {}).get(field)
        return SecretRef.parse(value) if isinstance(value, str) and is_reference(value) else None


class Inventory(BaseModel):
    """A whole inventory: what a file holds and what the store holds."""

    model_config = ConfigDict(extra="forbid")

    groups: dict[str, Group] = Field(default_factory=dict)
    assets: dict[str, Asset] = Field(default_factory=dict)
    source_vars: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="each import's own ``all`` vars, by import source: they apply to that source's assets only",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Inventory:
        for asset in self.assets.values():
            for group_name in asset.groups:  # as in Ansible, naming a group on a host creates it
                self.groups.setdefault(group_name, Group(name=group_name))
        for name, group in self.groups.items():
            for child in group.children:
                if child not in self.groups:
                    raise ValueError(f"group {name!r} has unknown child group {child!r}")
        _check_no_cycles(self.groups)
        return self


def _check_no_cycles(groups: dict[str, Group]) -> None:
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ValueError("group cycle: " + " -> ".join([*trail, name]))
        state[name] = 1
        for child in groups[name].children:
            visit(child, [*trail, name])
        state[name] = 2

    for name in groups:
        visit(name, [])
