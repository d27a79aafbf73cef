"""SNMP discovery: probe addresses concurrently with candidate credentials; responders become assets
(``network``/``storage``/``host``) with a vendor profile and their identification facts.

Pure parts (address expansion, kind/profile/name choice) are plain functions; :func:`discover`
does the I/O, every probe bounded by a timeout and a concurrency limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opsagent.collectors.base import CollectResult
from opsagent.collectors.snmp.collector import SnmpCollector
from opsagent.collectors.snmp.ident import SYSTEM, os_of, vendor_of
from opsagent.collectors.snmp.options import SnmpOptions
from opsagent.collectors.snmp.session import DeviceState, connect, get_many, open_session
from opsagent.inventory.model import Asset, AssetKind, CollectorSpec

MAX_ADDRESSES = 65536
_STORAGE = re.compile(r"ONTAP|NetApp|storage|\bNAS\b|\bSAN\b|Isilon|Data Domain|PowerVault|Synology|QNAP|3PAR", re.I)
_HOST_VENDORS = {"Net-SNMP", "Microsoft", "VMware", "UC Davis (Net-SNMP)"}
_PROFILES = {"Cisco": "cisco", "Huawei": "huawei", "H3C": "h3c", "Net-SNMP": "net_snmp"}


def expand(spec: str) -> list[str]:
    """``10.0.0.0/24`` (its hosts), ``10.0.0.5-10.0.0.20``, ``10.0.0.5-20`` or one address."""
    spec = spec.strip()
    if "/" in spec:
        net = ipaddress.ip_network(spec, strict=False)
        if net.num_addresses > MAX_ADDRESSES:
            raise ValueError(f"{spec}: more than {MAX_ADDRESSES} addresses")
        hosts = list(net.hosts()) or [net.network_address]
        return [str(h) for h in hosts]
    if "-" in spec:
        first_text, last_text = spec.split("-", 1)
        first = ipaddress.ip_address(first_text)
        if "." in last_text or ":" in last_text:
            last = ipaddress.ip_address(last_text)
        else:  # 10.0.0.5-20: the last octet
            last = ipaddress.ip_address(first_text.rsplit(".", 1)[0] + "." + last_text)
        count = int(last) - int(first) + 1
        if count < 1 or count > MAX_ADDRESSES:
            raise ValueError(f"{spec}: empty range or more than {MAX_ADDRESSES} addresses")
        return [str(first + i) for i in range(count)]
    return [str(ipaddress.ip_address(spec))]


def kind_of(vendor: str, descr: str) -> AssetKind:
    if _STORAGE.search(descr) or vendor in {"NetApp", "EMC", "Dell EMC"}:
        return AssetKind.STORAGE
    os_name, _ = os_of(descr)
    if vendor in _HOST_VENDORS or os_name in {"Linux", "Windows"}:
        return AssetKind.HOST
    return AssetKind.NETWORK


def profile_of(vendor: str) -> str:
    return _PROFILES.get(vendor, "default")


def name_of(sys_name: str, address: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.\-]", "-", sys_name.strip()).strip("-.")
    return clean or f"snmp-{address}"


@dataclass(frozen=True)
class Candidate:
    """One way to talk to a device: credentials (references only) and the SNMP version."""

    credentials: dict[str, Any]
    version: str = "2c"


@dataclass
class Found:
    address: str
    candidate: Candidate
    asset: Asset
    facts: dict[str, Any] = field(default_factory=dict)
    result: CollectResult | None = None


async def probe(address: str, port: int, candidates: Iterable[Candidate], timeout: float, retries: int) -> Any:
    """The first candidate the agent answers, with its system scalars; None when none does."""
    for cand in candidates:
        asset = Asset(name="probe", address=address, port=port, credentials={"snmp": cand.credentials})
        options = SnmpOptions(version=cand.version, timeout=timeout, retries=retries)  # type: ignore[arg-type]
        state = DeviceState(1)
        try:
            session = open_session(asset, options, 1)
            await connect(session, retries)
            scalars = await get_many(session, list(SYSTEM.values()), retries, state)
        except Exception:  # timeout, refused, auth: try the next candidate
            continue
        if scalars:
            return cand, scalars
    return None


async def discover(
    addresses: list[str],
    candidates: list[Candidate],
    *,
    port: int = 161,
    timeout: float = 1.0,
    retries: int = 1,
    concurrency: int = 256,
    groups: list[str] | None = None,
) -> list[Found]:
    limit = asyncio.Semaphore(concurrency)
    collector = SnmpCollector()

    async def one(address: str) -> Found | None:
        async with limit:
            hit = await probe(address, port, candidates, timeout, retries)
            if hit is None:
                return None
            cand, scalars = hit
            return await _identify(collector, address, port, cand, scalars, timeout, retries, groups or [])

    found = await asyncio.gather(*(one(a) for a in addresses))
    return [f for f in found if f is not None]


async def _identify(
    collector: SnmpCollector, address: str, port: int, cand: Candidate, scalars: dict[str, Any], *args: Any
) -> Found:
    timeout, retries, groups = args
    text = {k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for k, v in scalars.items()}
    descr = text.get(SYSTEM["sysDescr"], "")
    vendor = vendor_of(text.get(SYSTEM["sysObjectID"], ""), descr)
    spec = CollectorSpec(
        name="snmp", profile=profile_of(vendor), options={"version": cand.version} if cand.version != "2c" else {}
    )
    asset = Asset(
        name=name_of(text.get(SYSTEM["sysName"], ""), address),
        kind=kind_of(vendor, descr),
        address=address,
        port=port if port != 161 else None,
        groups=list(groups),
        credentials={"snmp": cand.credentials},
        collectors=[spec],
        source="discover:snmp",
    )
    # Identification walk only (system + entity + interface columns), as a poll would record it.
    # A responder is alive: the walk gets a poll's timeout, not the short probe timeout.
    probe_spec = CollectorSpec(
        name="snmp", interval=60, options={"version": cand.version, "timeout": max(timeout, 5.0), "retries": retries}
    )
    result = await collector.collect(asset, probe_spec, {})
    return Found(address, cand, asset, result.facts if result.ok else {}, result)
