"""Who made a device: IANA private enterprise numbers (sysObjectID ``1.3.6.1.4.1.<n>``).

Numbers checked against IANA's registry (enterprise-numbers) where the registry names the company,
and against the sysObjectID of real devices (snmpsim-data recordings) where a product line runs
under its maker's or a predecessor's number (Trapeze → Juniper WLC, Foundry → Brocade ICX, Frogfoot
→ Ubiquiti AirOS, Legend Holdings → Legendsec SecGate, today Qi An Xin). ``tests/fixtures/snmp_ident``
holds the real devices this table is tested with.
"""

from __future__ import annotations

import re

ENTERPRISES: dict[int, str] = {
    # international network, security and server vendors
    2: "IBM",
    9: "Cisco",
    3076: "Cisco",  # Altiga (ASA VPN)
    14179: "Cisco",  # Airespace (WLC)
    11: "HPE",  # Hewlett-Packard (ProCurve, iLO, Onboard Administrator)
    232: "HPE",  # Compaq (ProLiant)
    47196: "HPE",  # Hewlett Packard Enterprise
    14823: "HPE Aruba",  # Aruba Networks
    2636: "Juniper",
    3224: "Juniper",  # NetScreen
    14525: "Juniper",  # Trapeze Networks (Juniper WLC)
    30065: "Arista",
    25461: "Palo Alto Networks",
    12356: "Fortinet",
    2620: "Check Point",
    3375: "F5",
    789: "NetApp",
    674: "Dell",
    6027: "Dell",  # Force10
    12740: "Dell",  # EqualLogic
    1139: "Dell EMC",  # EMC Corporation
    1981: "Dell EMC",  # EMC CLARiiON
    12124: "Dell EMC",  # Isilon
    19046: "Lenovo",
    318: "APC (Schneider Electric)",
    534: "Eaton",
    705: "Eaton",  # MGE UPS Systems
    476: "Vertiv",
    13400: "Vertiv",  # Emerson Network Power (China)
    850: "Tripp Lite",
    935: "Phoenixtec",
    21239: "Geist",
    1588: "Brocade",
    1991: "Brocade",  # Foundry Networks (ICX, FastIron)
    1916: "Extreme Networks",
    14988: "MikroTik",
    41112: "Ubiquiti",
    10002: "Ubiquiti",  # Frogfoot Networks (AirOS)
    25053: "Ruckus",
    15983: "Meru Networks",
    311: "Microsoft",
    6876: "VMware",
    5951: "Citrix",
    5567: "Riverbed",
    171: "D-Link",
    4526: "Netgear",
    637: "Nokia",  # Alcatel-Lucent
    6486: "Nokia",  # Alcatel-Lucent Enterprise
    5089: "Clavister",
    21671: "VSS Monitoring",
    30803: "Vyatta",
    233: "NetManage",
    8072: "Net-SNMP",
    2021: "Net-SNMP",  # UC Davis (ucd-snmp, net-snmp's predecessor)
    # Chinese vendors
    2011: "Huawei",
    25506: "H3C",  # H3C / HPE Comware
    4881: "Ruijie",
    3902: "ZTE",
    5651: "Maipu",
    14331: "Topsec",
    28557: "Hillstone",
    35047: "Sangfor",
    31648: "DPtech",
    19849: "NSFOCUS",
    15227: "Venustech",
    9833: "Qi An Xin (Legendsec)",  # Legend Holdings: Legendsec SecGate firewalls
    37945: "Inspur",
    27500: "Sugon",
    3320: "BDCOM",
    6339: "Digital China",
    27971: "Infosec",
    50001: "Hikvision",
    36849: "Hanwha Techwin",  # Samsung Techwin (iPolis cameras)
}

# Agents built on a generic platform (net-snmp on Linux, Vyatta) whose sysDescr names the real maker,
# and agents with a malformed sysObjectID: the maker named at the start of sysDescr.
_PLATFORMS = {"", "Net-SNMP", "Vyatta"}
_DESCR_MAKERS = (
    (re.compile(r"^Netentsec\b", re.I), "Netentsec"),
    (re.compile(r"^NSFOCUS\b", re.I), "NSFOCUS"),
    (re.compile(r"^Topsec\b", re.I), "Topsec"),
    (re.compile(r"^Hillstone\b", re.I), "Hillstone"),
    (re.compile(r"^VENUS(TECH)?\b", re.I), "Venustech"),
)


def enterprise_of(sys_object_id: str) -> int | None:
    parts = sys_object_id.strip().lstrip(".").split(".")
    if len(parts) > 6 and parts[:6] == ["1", "3", "6", "1", "4", "1"] and parts[6].isdigit():
        return int(parts[6])
    return None


def vendor_of(sys_object_id: str, descr: str = "") -> str:
    """The maker's name; ``enterprise N`` for a number not in the table; "" without sysObjectID."""
    number = enterprise_of(sys_object_id)
    vendor = "" if number in (None, 0) else ENTERPRISES.get(number, f"enterprise {number}")
    if vendor in _PLATFORMS:
        found = next((name for rx, name in _DESCR_MAKERS if rx.search(descr.strip())), None)
        return found or vendor
    return vendor
