"""Model, OS name and OS version of a device from what it states: sysDescr, the ENTITY-MIB chassis row
(entPhysicalModelName / Descr / Name / SoftwareRev) and a few vendor scalars (NetApp productModel,
Juniper jnxBoxDescr). Pure functions over text, tested with the real devices of snmpsim-data
(``tests/fixtures/snmp_ident``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_I = re.I
_OS_NAMES = (
    ("NX-OS", "NX-OS"),
    ("IOS XE", "IOS XE"),
    ("IOS-XE", "IOS XE"),
    ("IOS XR", "IOS XR"),
    ("Cisco IOS", "IOS"),
    ("Cisco Internetwork Operating System", "IOS"),
    ("Cisco Controller", "AireOS"),
    ("Adaptive Security", "ASA"),
    ("VRP", "VRP"),
    ("Huawei Versatile", "VRP"),
    ("Comware", "Comware"),
    ("JUNOS", "Junos"),
    ("Arista", "EOS"),
    ("ArubaOS", "ArubaOS"),
    ("ProCurve", "ProCurve"),
    ("IronWare", "IronWare"),
    ("RGOS", "RGOS"),
    ("ZXR10", "ZXROS"),
    ("FortiOS", "FortiOS"),
    ("PAN-OS", "PAN-OS"),
    ("VSOS", "VSOS"),
    ("Conplat", "Conplat"),
    ("OneFS", "OneFS"),
    ("Data ONTAP", "ONTAP"),
    ("NetApp", "ONTAP"),
    ("Linux", "Linux"),
    ("Windows", "Windows"),
)
# The OS a vendor's network gear runs when sysDescr does not name it.
_VENDOR_OS = {
    "Ruijie": "RGOS",
    "Palo Alto Networks": "PAN-OS",
    "Fortinet": "FortiOS",
    "Topsec": "TOS",
    "Hillstone": "StoneOS",
    "H3C": "Comware",
    "Arista": "EOS",
    "HPE Aruba": "ArubaOS",
}
_VERSION_RES = (
    re.compile(r"NetApp Release\s+(\S+(?:\s+7-Mode)?)", _I),
    re.compile(r"Version\s+([\w.()\-]+\s*\(\s*[\w\s]+?V\d{3}R\d{3}[\w]*\s*\))", _I),  # Huawei VRP
    re.compile(r"Version\s+([\d.]+,\s*(?:Release|ESS)\s+[\w]+)", _I),  # H3C Comware
    re.compile(r"Version\s+(\d+\.\d+\s+V\d{3}R\d{3}\w*)", _I),  # Huawei entPhysicalSoftwareRev
    re.compile(r"Product Version\s+(Release\s+\w+)", _I),  # H3C Comware wireless
    re.compile(r"JUNOS\s+([\w.\-]+)", _I),
    re.compile(r"VSOS-(V\d{4}R\d{4}\w*)", _I),  # Venustech
    re.compile(r"\bVersion:\s*(\S+?)(?:,|\s|$)", _I),  # ZTE ZXR10
    re.compile(r"Version\s+([\w.()\-:]+[\w)])", _I),  # Cisco IOS/NX-OS, Arista, generic
    re.compile(r"OneFS\s.*?\bv(\d[\w.]*)", _I),
    re.compile(r"\brevision\s+([\w.]+),", _I),  # HP ProCurve
    re.compile(r"\bPF:v([\d.]+)"),  # APC network management card (AOS)
    re.compile(r"^Linux\s+\S+\s+(\d[\w.\-]*)", _I),  # kernel release
    re.compile(r"\bLinux\s+(\d+\.\d+\.\d+[\w.\-]*)"),
    re.compile(r"Juniper Networks, Inc\.?\s+\w+\s+(\d[\d.]+)"),  # Juniper WLC
    re.compile(r"\b(V\d{3}R\d{3}\w*)\b"),
)
_SW_CLEANUP = (
    re.compile(r"^(?:Version|RGOS)\s+", _I),
    re.compile(r"^Forti\w*-\w+\s+v(?=\d)", _I),  # FortiCarrier-3000D v5.4.5,build1138… → 5.4.5,build1138…
)


def os_name(descr: str, vendor: str, sw: str = "") -> str:
    text = f"{descr}\n{sw}".lower()
    found = next((name for key, name in _OS_NAMES if key.lower() in text), "")
    if found:
        return found
    if vendor == "Huawei" and re.search(r"V\d{3}R\d{3}", f"{descr} {sw}"):
        return "VRP"
    return _VENDOR_OS.get(vendor, "")


def os_version(descr: str, vendor: str, sw: str = "") -> str:
    """The version sysDescr states, else the chassis software revision (cleaned of its prefix)."""
    for text in (descr, sw):
        found = _first_version(text)
        if found:
            return _strip_model(found, descr)
    if vendor == "Fortinet" and (m := re.search(r"v(\d+\.\d+\.\d+),(build\d+)", sw)):
        return f"{m.group(1)} {m.group(2)}"
    for rx in _SW_CLEANUP:
        sw = rx.sub("", sw.strip())
    return sw


def _first_version(text: str) -> str:
    for rx in _VERSION_RES:
        m = rx.search(text)
        if m:
            return re.sub(r"\s+", " ", m.group(1)).strip().rstrip(",")
    return ""


def _strip_model(version: str, descr: str) -> str:
    """``SM4200-16GEF8GE-AC_6.0.222.39`` (Maipu, Digital China) → ``6.0.222.39``."""
    head, sep, rest = version.partition("_")
    return rest if sep and rest[:1].isdigit() and head in descr.split() else version


# (vendor or "" for any, pattern on sysDescr, prefer it to the ENTITY-MIB model)
_DESCR_MODELS: tuple[tuple[str, re.Pattern[str], bool], ...] = (
    ("DPtech", re.compile(r"\b(DPX[\w\-]+)\s+Product Version"), True),
    ("ZTE", re.compile(r"\b(ZXR10\s+[\w\-]+)"), True),
    ("Topsec", re.compile(r"^Topsec\s+(\w[\w\-]*)", _I), True),
    ("Ruijie", re.compile(r"\(([\w/\-]+)\)\s+By Ruijie", _I), False),
    ("Huawei", re.compile(r"^\s*(S\d{4,5}[\w\-]*)"), False),
    ("Huawei", re.compile(r"^\s*Huawei\s+(\w+)\s+Huawei Versatile", _I), False),
    ("H3C", re.compile(r"Platform Software\s+(?:H3C\s+)?([\w\-]+)\.\s+Product Version"), False),
    ("HPE Aruba", re.compile(r"\(MODEL:\s*([\w\-]+)\)"), True),
    ("APC (Schneider Electric)", re.compile(r"\bMN:(\S+)"), False),
    ("Brocade", re.compile(r"\b(ICX[\w\-]+)"), False),
    ("Juniper", re.compile(r"\bInc\.?\s+(WLC\d+\w*)"), False),
    ("Juniper", re.compile(r"\b(mx\d+|ex\d+[\w\-]*|srx\d+[\w\-]*|qfx\d+[\w\-]*)\b", _I), False),
    ("BDCOM", re.compile(r"^BDCOM\(tm\)\s+(\S+)"), False),
    ("D-Link", re.compile(r"\b(D[EGX]S-[\w\-]+)"), False),
    ("Digital China", re.compile(r"^Digital China\s+(\S+)", _I), True),
    ("", re.compile(r"^\s*([\w\-]+)\s+Device, Compiled"), False),  # Maipu, Digital China
    ("", re.compile(r"\b(WS-C\d{4}[\w\-]*|N\dK-[\w\-]+)\b"), False),  # Cisco
    ("", re.compile(r"H3C\s+(S\d+[\w\-]*)"), False),
    ("", re.compile(r"running on an? .*?\b([A-Z]{2,4}-\d[\w\-]*)\s*$"), False),  # Arista
)
_PART_NUMBER = re.compile(r"^\d{2,3}-\d{5,7}(-\d{1,3})?$")  # Juniper 710-030012, Brocade 40-1000165-14
_CHASSIS_DESCR = re.compile(r"^(?:HUAWEI\s+)?([A-Za-z][\w\-]*\d[\w\-]*)(?:\s+(?:chassis|frame))?$", _I)


def model(descr: str, vendor: str, chassis: Mapping[str, str], extra: Mapping[str, str]) -> str:
    """The product model: a vendor scalar, else sysDescr where it is more precise than the entity
    model, else entPhysicalModelName (never a part number), else sysDescr, else the chassis name."""
    if extra.get("netapp_model"):
        return extra["netapp_model"]
    matches = [(m.group(1), first) for v, rx, first in _DESCR_MODELS if v in ("", vendor) if (m := rx.search(descr))]
    preferred = next((found for found, first in matches if first), "")
    entity = chassis.get("model", "").strip()
    if preferred or (entity and not _PART_NUMBER.match(entity)):
        return preferred or entity
    if matches:
        return _upper_juniper(matches[0][0], vendor)
    box = extra.get("juniper_box", "")
    if m := re.search(r"\b(MX\d+|EX\d+\S*|SRX\d+\S*|QFX\d+\S*)\b", box):
        return m.group(1)
    for text in (chassis.get("descr", ""), chassis.get("name", "")):
        if m := _CHASSIS_DESCR.match(text.strip()):
            return m.group(1)
    return ""


def _upper_juniper(found: str, vendor: str) -> str:
    return found.upper() if vendor == "Juniper" and not found.startswith("WLC") else found
