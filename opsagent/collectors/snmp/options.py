"""Options of the ``snmp`` collector: what to walk (profiles as content) and how to talk to the device.

A profile (``collectors/snmp/<profile>.yaml``) is in the spirit of an snmp_exporter generator
module: ``metrics`` name an OID (a scalar or a table column), its type, the index labels that the
row's OID suffix gives, and label ``lookups`` (ifIndex → ifName). ``include`` pulls in other
profiles (``default`` = system + IF-MIB + ENTITY-MIB + …) so an asset names one profile.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsagent.inventory.model import SnmpVersionName, snmp_version
from opsagent.units import Duration

_OID = re.compile(r"^\.?[0-9]+(\.[0-9]+)+$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

MetricType = Literal["gauge", "counter", "DisplayString", "OctetString", "PhysAddress48", "EnumAsInfo", "DateAndTime"]
IndexType = Literal["gauge", "PhysAddress48", "IpAddr", "OctetString", "DisplayString", "oid"]


def _oid(value: str) -> str:
    if not _OID.match(value):
        raise ValueError(f"not a numeric OID: {value!r}")
    return value.lstrip(".")


class Index(BaseModel):
    """How one label is read from a row's OID suffix (as snmp_exporter's ``indexes``)."""

    model_config = ConfigDict(extra="forbid")

    labelname: str
    type: IndexType = "gauge"
    fixed_size: int | None = Field(default=None, ge=1, description="OctetString/DisplayString without length prefix")

    _name = field_validator("labelname")(classmethod(lambda cls, v: _label(v)))


class Lookup(BaseModel):
    """Adds label ``labelname`` from column ``oid`` indexed by the values of ``labels``."""

    model_config = ConfigDict(extra="forbid")

    labels: list[str] = Field(min_length=1)
    labelname: str
    oid: str
    type: MetricType = "DisplayString"

    _o = field_validator("oid")(classmethod(lambda cls, v: _oid(v)))


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    oid: str = Field(description="scalar OID (without .0) or table column OID")
    type: MetricType = "gauge"
    help: str = ""
    indexes: list[Index] = Field(default_factory=list, description="empty: a scalar (OID.0 is fetched)")
    lookups: list[Lookup] = Field(default_factory=list)
    enum_values: dict[int, str] = Field(default_factory=dict)
    scale: float = 1.0
    slow: bool = Field(
        default=False,
        description="a column that rarely changes (ifType, ifSpeed, ifMtu…): re-walked every slow_max_age, "
        "its last values exposed in between",
    )

    _o = field_validator("oid")(classmethod(lambda cls, v: _oid(v)))
    _n = field_validator("name")(classmethod(lambda cls, v: _label(v)))


def _label(value: str) -> str:
    if not _LABEL.match(value):
        raise ValueError(f"invalid metric or label name {value!r}")
    return value


class SnmpOptions(BaseModel):
    """Profile and per-asset options; credentials live in ``asset.credentials.snmp``."""

    model_config = ConfigDict(extra="forbid")

    include: list[str] = Field(default_factory=list, description="other snmp profiles whose metrics to add")
    metrics: list[Metric] = Field(default_factory=list)
    identify: bool = Field(default=True, description="vendor/model/serial/interfaces facts (inventory)")
    identify_interval: Duration = Field(default=3600.0, description="how often entity/interface facts are re-walked")
    version: SnmpVersionName = Field(default="2c", description="default: credentials.snmp.version, else 2c")
    port: int = Field(default=161, ge=1, le=65535)
    timeout: Duration = Field(default=3.0, description="per request")
    retries: int = Field(default=2, ge=0, le=10)
    max_repetitions: int = Field(
        default=64,
        ge=1,
        le=200,
        description="ceiling per GETBULK: a column asks its last row count + 1; halves on tooBig",
    )
    deadline: Duration | None = Field(default=None, description="whole poll; default: the collector timeout")
    lookup_cache: Duration = Field(default=300.0, description="label/index tables are re-walked after this")
    slow_max_age: Duration = Field(
        default=300.0,
        description="the oldest a `slow` column's exposed values may be: it is re-walked at the last poll that "
        "keeps them younger than this (0: every poll)",
    )
    key_expansion: Literal["blumenthal", "cisco"] = "blumenthal"

    _v = field_validator("version", mode="before")(classmethod(lambda cls, v: snmp_version(v)))


class SnmpSettings(BaseModel):
    """Agent-wide settings of the snmp collector (``collector_settings: {snmp: {...}}``)."""

    model_config = ConfigDict(extra="forbid")

    workers: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="poll worker processes of `serve` (0: poll in the serve process; default: one per CPU "
        "when there are several)",
    )
