"""Identification of every real device recorded in snmpsim-data (116 recordings): vendor from the IANA
enterprise number of sysObjectID, model, OS name and version, chassis serial. The inputs of each case
are the recording's own sysDescr, sysObjectID, vendor scalars and ENTITY-MIB chassis rows
(``python -m tests.peers.snmprec`` extracts them; ``expected`` is reviewed by hand)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opsagent.collectors.snmp import ident
from opsagent.collectors.snmp.vendors import ENTERPRISES, vendor_of

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "snmp_ident" / "cases.json"
CASES = json.loads(FIXTURE.read_text())
ENT = "1.3.6.1.2.1.47.1.1.1.1."


def value(v: Any) -> Any:
    if isinstance(v, dict):
        return bytes.fromhex(v["hex"])
    return v.encode() if isinstance(v, str) else v


def identified(case: dict[str, Any]) -> dict[str, str]:
    scalars = {oid: value(v) for oid, v in case["scalars"].items()}
    data: dict[str, dict[str, Any]] = {}
    for index, row in case["entity"].items():
        for column, v in row.items():
            data.setdefault(ENT + column, {})[index] = value(v)
    facts = ident.identify(scalars, data)
    return {
        "vendor": facts["vendor"],
        "model": facts["model"],
        "os_name": facts["os"]["name"],
        "os_version": facts["os"]["version"],
        "serial": facts.get("serial", ""),
    }


def test_every_recording_of_snmpsim_data_has_a_case() -> None:
    assert len(CASES) == 116 and len({c["recording"] for c in CASES}) == 116


@pytest.mark.parametrize("case", CASES, ids=[c["recording"] for c in CASES])
def test_identification_of_real_devices(case: dict[str, Any]) -> None:
    assert identified(case) == case["expected"]


@pytest.mark.parametrize(
    ("recording", "vendor", "model", "os_name", "os_version"),
    [  # what the issue names, stated plainly by the devices
        ("network/switch/zte-zxr10-5250", "ZTE", "ZXR10 5250-52TM-H", "ZXROS", "V2.05.11B19"),
        ("storage/netapp-ontap-8-2-3", "NetApp", "FAS3270", "ONTAP", "8.2.3 7-Mode"),
        ("network/switch/ruijie-s5750-24gt12sfp", "Ruijie", "RG-S5750-24GT/12SFP", "RGOS", "10.4(3)p4 Release(161753)"),
        ("network/firewall/paloalto-pa-5000", "Palo Alto Networks", "PA-5050", "PAN-OS", "8.0.1"),
        ("network/switch/huawei-s12704", "Huawei", "S12704", "VRP", "5.170 V200R012C00SPC500"),
        ("network/router/juniper-mx960-16-1r6-7-a", "Juniper", "MX960", "Junos", "16.1R6.7"),  # not 710-030012
        ("network/firewall/topsec-ngfw4000-uf", "Topsec", "NGFW4000-UF", "TOS", "V3.2073N.2060N_NGFW.1"),
        ("network/switch/dptech-dpx800-a5", "DPtech", "DPX8000-A5", "Conplat", "V100R004B01D007P02PATCH03"),
    ],
)
def test_named_devices(recording: str, vendor: str, model: str, os_name: str, os_version: str) -> None:
    case = next(c for c in CASES if c["recording"] == recording)
    assert identified(case) | {"serial": ""} == {
        "vendor": vendor,
        "model": model,
        "os_name": os_name,
        "os_version": os_version,
        "serial": "",
    }


def test_enterprise_numbers_of_the_vendors_ops_teams_run() -> None:
    """IANA private enterprise numbers (checked against the registry and real sysObjectIDs)."""
    expected = {
        "Huawei": 2011, "H3C": 25506, "Ruijie": 4881, "ZTE": 3902, "Maipu": 5651, "Topsec": 14331,
        "Hillstone": 28557, "Sangfor": 35047, "DPtech": 31648, "NSFOCUS": 19849, "Venustech": 15227,
        "Qi An Xin (Legendsec)": 9833, "Inspur": 37945, "Sugon": 27500, "Lenovo": 19046, "Cisco": 9,
        "Juniper": 2636, "Arista": 30065, "Palo Alto Networks": 25461, "Fortinet": 12356, "Check Point": 2620,
        "F5": 3375, "NetApp": 789, "Dell EMC": 1139, "Dell": 674, "HPE": 47196, "IBM": 2,
        "APC (Schneider Electric)": 318, "Net-SNMP": 8072,
    }  # fmt: skip
    for vendor, number in expected.items():
        assert ENTERPRISES[number] == vendor, (vendor, number)
        assert vendor_of(f".1.3.6.1.4.1.{number}.1.2.3") == vendor
    assert 24968 not in ENTERPRISES  # was listed as Topsec: Topsec is 14331
    assert vendor_of("1.3.6.1.4.1.999999.1") == "enterprise 999999" and vendor_of("") == ""
    assert vendor_of("1.3.6.1.4.19849", "NSFOCUS-OSMS") == "NSFOCUS"  # malformed sysObjectID: sysDescr names it
    assert vendor_of("1.3.6.1.4.1.30803", "Netentsec NGFW") == "Netentsec"  # built on Vyatta
