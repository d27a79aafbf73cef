"""Pure identification of a device from SNMP: vendor, model, OS version, serials, interfaces.

Inputs are walked columns (see :mod:`convert`); output is a facts dict stored with history, so a
changed serial or a vanished interface shows in ``opsagent inventory history``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

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

# IANA enterprise numbers (sysObjectID 1.3.6.1.4.1.<n>) of gear ops teams meet.
VENDORS = {
    9: "Cisco",
    2011: "Huawei",
    25506: "H3C",
    11: "HPE",
    47196: "HPE",
    2636: "Juniper",
    3902: "ZTE",
    4881: "Ruijie",
    30065: "Arista",
    8072: "Net-SNMP",
    318: "APC",
    789: "NetApp",
    12356: "Fortinet",
    25461: "Palo Alto Networks",
    1588: "Brocade",
    1991: "Brocade",
    1916: "Extreme",
    674: "Dell",
    6027: "Dell",
    14988: "MikroTik",
    41112: "Ubiquiti",
    14823: "Aruba",
    2620: "Check Point",
    311: "Microsoft",
    6876: "VMware",
    3375: "F5",
    5567: "Riverbed",
    534: "Eaton",
    935: "Vertiv",
    13464: "Emerson",
    3224: "Juniper (NetScreen)",
    35047: "Sangfor",
    8886: "Maipu",
    3320: "BDCOM",
    6339: "Digital China",
    171: "D-Link",
    24968: "Topsec",
    19849: "NSFOCUS",
    1981: "EMC",
    12740: "Dell EMC",
    2: "IBM",
    232: "HPE",
    4526: "Netgear",
    5624: "Enterasys",
    259: "Accton",
    2544: "Adva",
    6486: "Nokia",
    637: "Nokia",
    10002: "Ubiquiti",
    37267: "Ruckus",
    25053: "Ruckus",
    1230: "McAfee",
    12325: "pfSense",
    40310: "DPtech",
    5651: "Maipu",
    17409: "Vyatta",
    30803: "Vyatta",
    3076: "Cisco (Altiga)",
    14179: "Cisco (Airespace)",
    5951: "Citrix",
    2021: "UC Davis (Net-SNMP)",
}
_VERSION_RES = (
    re.compile(r"Version\s+([\w.()\-]+\s*\(\s*[\w\s]+?V\d{3}R\d{3}[\w]*\s*\))", re.I),  # Huawei VRP
    re.compile(r"Version\s+([\d.]+,\s*(?:Release|ESS)\s+[\w]+)", re.I),  # H3C Comware
    re.compile(r"Version\s+([\w.()\-:]+[\w)])", re.I),  # Cisco IOS/NX-OS, generic
    re.compile(r"JUNOS\s+([\w.\-]+)", re.I),
    re.compile(r"\b(V\d{3}R\d{3}\w*)\b"),
)
_OS_NAMES = (
    ("NX-OS", "NX-OS"),
    ("IOS XE", "IOS XE"),
    ("IOS-XE", "IOS XE"),
    ("IOS XR", "IOS XR"),
    ("Cisco IOS", "IOS"),
    ("Adaptive Security", "ASA"),
    ("VRP", "VRP"),
    ("Huawei Versatile", "VRP"),
    ("Comware", "Comware"),
    ("JUNOS", "Junos"),
    ("Arista", "EOS"),
    ("ProCurve", "ProCurve"),
    ("RGOS", "RGOS"),
    ("ZXR10", "ZXROS"),
    ("FortiOS", "FortiOS"),
    ("PAN-OS", "PAN-OS"),
    ("Linux", "Linux"),
    ("Windows", "Windows"),
    ("Data ONTAP", "ONTAP"),
    ("NetApp", "ONTAP"),
)


def vendor_of(sys_object_id: str) -> str:
    parts = sys_object_id.lstrip(".").split(".")
    if len(parts) > 6 and parts[:6] == ["1", "3", "6", "1", "4", "1"] and parts[6].isdigit():
        return VENDORS.get(int(parts[6]), f"enterprise {parts[6]}")
    return ""


def os_of(descr: str) -> tuple[str, str]:
    """(os name, version) from sysDescr."""
    name = next((n for key, n in _OS_NAMES if key.lower() in descr.lower()), "")
    for rx in _VERSION_RES:
        m = rx.search(descr)
        if m:
            return name, re.sub(r"\s+", " ", m.group(1)).strip().rstrip(",")
    return name, ""


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


def entity_facts(data: Mapping[str, Column]) -> dict[str, Any]:
    """Chassis model/serial/firmware plus every serial (modules, PSUs, fans) by entity name."""
    rows = _rows(data, ENTITY)
    by_index = sorted(rows.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 1 << 30)
    chassis = next((r for _, r in by_index if as_number(r.get("class")) == 3), None)
    chassis = chassis or next((r for _, r in by_index if as_text(r.get("model"))), None)
    out: dict[str, Any] = {}
    if chassis:
        for key, field in (("model", "model"), ("serial", "serial"), ("hardware_rev", "hw")):
            if as_text(chassis.get(field)):
                out[key] = as_text(chassis.get(field))
        fw = as_text(chassis.get("sw")) or as_text(chassis.get("fw"))
        if fw:
            out["firmware"] = fw
    serials = {}
    for idx, r in by_index:
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
    os_name, version = os_of(descr)
    entity = entity_facts(data)
    facts: dict[str, Any] = {"system": system, "vendor": vendor_of(system.get("sysObjectID", ""))}
    model = entity.pop("model", "") or _model_from_descr(descr)
    facts |= {"model": model, "os": {"name": os_name, "version": version}}
    facts |= entity
    facts["interfaces"] = interface_facts(data)
    return facts


_MODEL_RES = (
    re.compile(r"\b(S\d{4,5}[\w\-]*)\b"),  # Huawei S5720-28X
    re.compile(r"\b(WS-C\d{4}[\w\-]*|C\d{4}[\w\-]*|N\dK-[\w\-]+)\b"),  # Cisco
    re.compile(r"\b(MX\d+|EX\d+[\w\-]*|SRX\d+)\b"),
    re.compile(r"H3C\s+(S\d+[\w\-]*|\S+)"),
)


def _model_from_descr(descr: str) -> str:
    for rx in _MODEL_RES:
        m = rx.search(descr)
        if m:
            return m.group(1)
    return ""
