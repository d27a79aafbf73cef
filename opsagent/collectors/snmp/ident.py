"""Pure identification of a device from SNMP: vendor, model, OS version, serials, interfaces.

Inputs are walked columns (see :mod:`convert`); output is a facts dict stored with history, so a
changed serial or a vanished interface shows in ``opsagent inventory history``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsagent.collectors.snmp import osparse, vendors
from opsagent.collectors.snmp.convert import Column, Value, as_mac, as_number, as_text

SYSTEM = {
    "sysDescr": "1.3.6.1.2.1.1.1.0",
    "sysObjectID": "1.3.6.1.2.1.1.2.0",
    "sysUpTime": "1.3.6.1.2.1.1.3.0",
    "sysContact": "1.3.6.1.2.1.1.4.0",
    "sysName": "1.3.6.1.2.1.1.5.0",
    "sysLocation": "1.3.6.1.2.1.1.6.0",
}
ENT = "1.3.6.1.2.1.47.1.1.1.1"
ENTITY = {f"{ENT}.{n}": name for n, name in ((2, "descr"), (5, "class"), (8, "hw"), (9, "fw"), (10, "sw"))}
ENTITY |= {f"{ENT}.{n}": name for n, name in ((11, "serial"), (12, "mfg"), (13, "model"), (7, "name"))}
IF = {
    "1.3.6.1.2.1.2.2.1.2": "descr",
    "1.3.6.1.2.1.2.2.1.3": "type",
    "1.3.6.1.2.1.2.2.1.5": "speed",
    "1.3.6.1.2.1.2.2.1.6": "mac",
    "1.3.6.1.2.1.2.2.1.7": "admin",
    "1.3.6.1.2.1.2.2.1.8": "oper",
    "1.3.6.1.2.1.31.1.1.1.1": "name",
    "1.3.6.1.2.1.31.1.1.1.15": "highspeed",
    "1.3.6.1.2.1.31.1.1.1.18": "alias",
}
IDENTITY_COLUMNS = [*ENTITY, *IF]

# Vendor scalars asked with the identification walk (absent ones are simply missing).
VENDOR_SCALARS = {
    "netapp_model": "1.3.6.1.4.1.789.1.1.5.0",  # NETAPP-MIB productModel
    "netapp_serial": "1.3.6.1.4.1.789.1.1.9.0",  # productSerialNum
    "juniper_box": "1.3.6.1.4.1.2636.3.1.2.0",  # JUNIPER-MIB jnxBoxDescr
    "juniper_serial": "1.3.6.1.4.1.2636.3.1.3.0",  # jnxBoxSerialNo
}


def vendor_of(sys_object_id: str, descr: str = "") -> str:
    return vendors.vendor_of(sys_object_id, descr)


def os_of(descr: str, vendor: str = "", sw: str = "") -> tuple[str, str]:
    """(os name, version) from sysDescr; the chassis entPhysicalSoftwareRev (``sw``) when sysDescr
    states no version (Palo Alto, Huawei S12700, Ruijie, Fortinet)."""
    return osparse.os_name(descr, vendor, sw), osparse.os_version(descr, vendor, sw)


def system_facts(scalars: Mapping[str, Value]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, oid in SYSTEM.items():
        if name != "sysUpTime" and oid in scalars:
            out[name] = as_text(scalars[oid])
    return out


def _rows(data: Mapping[str, Column], names: Mapping[str, str]) -> dict[str, dict[str, Value]]:
    table: dict[str, dict[str, Value]] = {}
    for oid, field in names.items():
        for idx, value in data.get(oid, {}).items():
            table.setdefault(idx, {})[field] = value
    return table


def _entities(data: Mapping[str, Column]) -> list[tuple[str, dict[str, Value]]]:
    rows = _rows(data, ENTITY)
    return sorted(rows.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 1 << 30)


def chassis_of(data: Mapping[str, Column]) -> dict[str, str]:
    """The chassis row of ENTITY-MIB as text (class chassis, else the first row naming a model)."""
    by_index = _entities(data)
    chassis = next((r for _, r in by_index if as_number(r.get("class")) == 3), None)
    chassis = chassis or next((r for _, r in by_index if as_text(r.get("model"))), None)
    return {k: as_text(v) for k, v in (chassis or {}).items() if k != "class"}


def entity_facts(data: Mapping[str, Column]) -> dict[str, Any]:
    """Chassis serial/firmware plus every serial (modules, PSUs, fans) by entity name."""
    chassis = chassis_of(data)
    out: dict[str, Any] = {}
    for key, field in (("serial", "serial"), ("hardware_rev", "hw")):
        if chassis.get(field):
            out[key] = chassis[field]
    if chassis.get("sw") or chassis.get("fw"):
        out["firmware"] = chassis.get("sw") or chassis.get("fw")
    serials = {}
    for idx, r in _entities(data):
        serial = as_text(r.get("serial"))
        if serial:
            serials[as_text(r.get("name")) or as_text(r.get("descr")) or f"entity{idx}"] = serial
    if serials:
        out["serials"] = serials
    return out


_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}


def interface_facts(data: Mapping[str, Column]) -> dict[str, dict[str, Any]]:
    """Interfaces by name (ifName, else ifDescr): alias, speed (bit/s), MAC, admin/oper status."""
    out: dict[str, dict[str, Any]] = {}
    for idx, r in _rows(data, IF).items():
        name = as_text(r.get("name")) or as_text(r.get("descr")) or f"ifIndex{idx}"
        high = as_number(r.get("highspeed"))
        speed = high * 1_000_000 if high else as_number(r.get("speed"))
        admin, oper = as_number(r.get("admin")), as_number(r.get("oper"))
        out[name] = {
            "index": int(idx) if idx.isdigit() else idx,
            "descr": as_text(r.get("descr")),
            "alias": as_text(r.get("alias")),
            "speed": int(speed) if speed is not None else None,
            "mac": as_mac(r.get("mac")) if r.get("mac") else "",
            "admin_status": _STATUS.get(int(admin), str(admin)) if admin is not None else None,
            "oper_status": _STATUS.get(int(oper), str(oper)) if oper is not None else None,
        }
    return out


def identify(scalars: Mapping[str, Value], data: Mapping[str, Column]) -> dict[str, Any]:
    """The whole identification: the ``device`` facts of an SNMP asset."""
    system = system_facts(scalars)
    descr = system.get("sysDescr", "")
    vendor = vendor_of(system.get("sysObjectID", ""), descr)
    entity = entity_facts(data)
    chassis = chassis_of(data)
    extra = {k: as_text(scalars.get(oid)) for k, oid in VENDOR_SCALARS.items() if as_text(scalars.get(oid))}
    os_name, version = os_of(descr, vendor, chassis.get("sw", ""))
    facts: dict[str, Any] = {"system": system, "vendor": vendor}
    facts |= {"model": osparse.model(descr, vendor, chassis, extra), "os": {"name": os_name, "version": version}}
    facts |= entity
    serial = entity.get("serial") or extra.get("netapp_serial") or extra.get("juniper_serial")
    if serial:
        facts["serial"] = serial
    facts["interfaces"] = interface_facts(data)
    return facts
