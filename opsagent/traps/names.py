"""Notification names ⇄ OIDs for the traps every network team routes, so rules can say
``IF-MIB::linkDown`` instead of ``1.3.6.1.6.3.1.1.5.3`` without MIB files on the agent.

Only OIDs fixed by the RFCs or the vendors' published MIBs are listed; anything else is written as a
numeric OID in a rule (or resolved by the MIBs pysnmp has compiled, see :func:`resolve`).
"""

from __future__ import annotations

import re

# MODULE::name → OID. Keep to notifications whose OIDs are certain (checked against the MIB texts).
KNOWN: dict[str, str] = {
    "SNMPv2-MIB::coldStart": "1.3.6.1.6.3.1.1.5.1",
    "SNMPv2-MIB::warmStart": "1.3.6.1.6.3.1.1.5.2",
    "IF-MIB::linkDown": "1.3.6.1.6.3.1.1.5.3",
    "IF-MIB::linkUp": "1.3.6.1.6.3.1.1.5.4",
    "SNMPv2-MIB::authenticationFailure": "1.3.6.1.6.3.1.1.5.5",
    "ENTITY-MIB::entConfigChange": "1.3.6.1.2.1.47.2.0.1",
    "BGP4-MIB::bgpEstablishedNotification": "1.3.6.1.2.1.15.0.1",
    "BGP4-MIB::bgpBackwardTransNotification": "1.3.6.1.2.1.15.0.2",
    "BGP4-MIB::bgpEstablished": "1.3.6.1.2.1.15.7.1",  # RFC 1657 names, still sent by older gear
    "BGP4-MIB::bgpBackwardTransition": "1.3.6.1.2.1.15.7.2",
    "UPS-MIB::upsTrapOnBattery": "1.3.6.1.2.1.33.2.1",
    "UPS-MIB::upsTrapTestCompleted": "1.3.6.1.2.1.33.2.2",
    "UPS-MIB::upsTrapAlarmEntryAdded": "1.3.6.1.2.1.33.2.3",
    "UPS-MIB::upsTrapAlarmEntryRemoved": "1.3.6.1.2.1.33.2.4",
    "CISCO-CONFIG-MAN-MIB::ciscoConfigManEvent": "1.3.6.1.4.1.9.9.43.2.0.1",
}
BY_OID: dict[str, str] = {oid: name for name, oid in KNOWN.items()}
_OID = re.compile(r"^\.?\d+(?:\.\d+)+$")


def is_oid(text: str) -> bool:
    return _OID.match(text) is not None


def resolve(text: str) -> str | None:
    """A rule's trap reference → numeric OID: ``1.3.6…``, ``IF-MIB::linkDown`` or a bare ``linkDown``.

    None when the name is unknown (the rule file then reports it; write the numeric OID instead).
    """
    text = text.strip()
    if is_oid(text):
        return text.lstrip(".")
    if text in KNOWN:
        return KNOWN[text]
    bare = [oid for name, oid in KNOWN.items() if name.split("::", 1)[1] == text]
    return bare[0] if len(bare) == 1 else None


def full_name(oid: str) -> str:
    """``1.3.6.1.6.3.1.1.5.3`` → ``IF-MIB::linkDown`` (empty when not a known notification)."""
    return BY_OID.get(oid, "")
