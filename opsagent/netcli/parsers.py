"""Pure parsers of device ``show version`` / ``display version`` output → inventory facts.

One per netmiko device type: ``cisco_ios``, ``huawei`` (VRP) and ``hp_comware`` (H3C/HPE Comware
5 and 7). Fixture cases of real outputs: tests/fixtures/netcli/<parser>/<case>.json.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Facts = dict[str, Any]


def _first(rx: str, text: str, flags: int = re.M) -> str:
    m = re.search(rx, text, flags)
    return m.group(1).strip() if m else ""


def parse_cisco_ios_show_version(text: str) -> Facts:
    host_uptime = re.search(r"^(\S+) uptime is (.+)$", text, re.M)
    return {
        "vendor": "Cisco",
        "os": {
            "name": "IOS-XE" if "IOS-XE" in text or "IOS XE" in text else "IOS",
            "version": _first(r"^Cisco IOS.*?Version\s+([^,\s]+)", text),
        },
        "hostname": host_uptime.group(1) if host_uptime else "",
        "uptime": host_uptime.group(2).strip() if host_uptime else "",
        "model": _first(r"^[Cc]isco (\S+) \(.*\) processor", text) or _first(r"^Model [Nn]umber\s*:\s*(\S+)", text),
        "serial": _first(r"^System [Ss]erial [Nn]umber\s*:\s*(\S+)", text)
        or _first(r"^Processor board ID (\S+)", text),
        "image": _first(r'^System image file is "([^"]+)"', text),
    }


def parse_huawei_display_version(text: str) -> Facts:
    m = re.search(r"VRP \(R\) software,\s*Version\s+(\S+)\s*\(([^)]+)\)", text)
    host_uptime = re.search(r"^(?:HUAWEI|Huawei|Quidway)\s+(\S+) uptime is (.+)$", text, re.M)
    return {
        "vendor": "Huawei",
        "os": {"name": "VRP", "version": m.group(1) if m else "", "release": m.group(2).strip() if m else ""},
        "model": host_uptime.group(1) if host_uptime else "",
        "uptime": host_uptime.group(2).strip() if host_uptime else "",
    }


def parse_hp_comware_display_version(text: str) -> Facts:
    m = re.search(
        r"Comware (?:Platform )?Software,?\s*(?:Software )?Version\s+([\d.]+),\s*(?:Release|ESS)\s+(\S+)", text
    )
    host_uptime = re.search(r"^(?:H3C|HPE|HP)\s+(.+?) uptime is (.+)$", text, re.M)
    vendor = "HPE" if re.search(r"^HPE?\b", text, re.M) else "H3C"
    return {
        "vendor": vendor,
        "os": {"name": "Comware", "version": m.group(1) if m else "", "release": m.group(2) if m else ""},
        "model": host_uptime.group(1).strip() if host_uptime else "",
        "uptime": host_uptime.group(2).strip() if host_uptime else "",
    }


PARSERS: dict[str, Callable[[str], Facts]] = {
    "cisco_ios": parse_cisco_ios_show_version,
    "huawei": parse_huawei_display_version,
    "hp_comware": parse_hp_comware_display_version,
}
FACT_COMMANDS = {"cisco_ios": "show version", "huawei": "display version", "hp_comware": "display version"}
