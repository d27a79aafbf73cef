"""Fetch running configurations over netmiko and keep each changed version (as Oxidized does).

netmiko is blocking: each fetch runs in a thread, all of them behind a bounded pool, every step
with a timeout. Host keys: the SSH collector's policy (opsagent.collectors.ssh.hostkeys): known_hosts
as OpenSSH reads it, and ``vars.accept_unknown_host_key: true`` records a new device's key on first
contact and refuses a later change. Credentials: ``credentials.cli.{user, password, secret}``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select

from opsagent.collectors.ssh.errors import SshFailure
from opsagent.collectors.ssh.hostkeys import HostKeyPolicy
from opsagent.inventory.facts import flatten
from opsagent.inventory.model import Asset
from opsagent.netcli.configtext import digest, mask, normalise
from opsagent.netcli.parsers import FACT_COMMANDS, PARSERS
from opsagent.netcli.session import connect
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc
from opsagent.store.inventory_repo import record_facts

COMMANDS = {
    "cisco_ios": "show running-config",
    "cisco_xe": "show running-config",
    "cisco_nxos": "show running-config",
    "huawei": "display current-configuration",
    "huawei_vrp": "display current-configuration",
    "hp_comware": "display current-configuration",
}


@dataclass
class BackupResult:
    asset: str
    ok: bool
    reason: str = ""
    message: str = ""
    rev: int | None = None
    changed: bool = False


def _secret(asset: Asset, field: str) -> str | None:
    ref = asset.credential_ref("cli", field)
    return ref.resolve().reveal() if ref else None


def fetch(asset: Asset, timeout: float = 30.0) -> tuple[str, str]:
    """(running configuration, ``show version`` output) as the device prints them (blocking)."""
    device_type = str(asset.vars.get("device_type", "cisco_ios"))
    command = COMMANDS.get(device_type)
    if command is None:
        raise ValueError(f"no configuration command known for device_type {device_type!r}")
    port = asset.port or 22
    policy = HostKeyPolicy(asset.target, port, accept_new=bool(asset.vars.get("accept_unknown_host_key", False)))
    params: dict[str, Any] = {
        "device_type": device_type,
        "host": asset.target,
        "port": port,
        "username": str(asset.credentials.get("cli", {}).get("user", "")),
        "password": _secret(asset, "password"),
        "secret": _secret(asset, "secret") or "",
        "conn_timeout": timeout,
        "auth_timeout": timeout,
        "banner_timeout": timeout,
        "timeout": timeout,
        "read_timeout_override": timeout,
        "use_keys": False,
        "allow_agent": False,
    }
    conn = connect(params, policy)
    try:
        if params["secret"] and device_type.startswith("cisco"):
            conn.enable()
        version = str(conn.send_command(FACT_COMMANDS.get(device_type, "show version"), read_timeout=timeout))
        return str(conn.send_command(command, read_timeout=timeout)), version
    finally:
        conn.disconnect()


def _classify(exc: BaseException) -> str:
    if isinstance(exc, SshFailure):  # host key refused: hostkey_unknown, hostkey_mismatch, hostkey_revoked
        return exc.reason
    name = type(exc).__name__
    if "Authentication" in name:
        return "auth"
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError) or "refused" in str(exc).lower():
        return "refused"
    if "HostKey" in name or "not found in known_hosts" in str(exc):
        return "hostkey_unknown"
    return "cli"


def save_version(store: Store, asset: str, raw: str) -> tuple[int, bool]:
    """(rev, changed): a new row only when the configuration changed."""
    sha = digest(raw)
    c = schema.config_versions
    with store.transaction() as conn:
        last = conn.execute(
            select(c.c.rev, c.c.sha256).where(c.c.asset == asset).order_by(c.c.rev.desc()).limit(1)
        ).first()
        if last is not None and last.sha256 == sha:
            return int(last.rev), False
        rev = (int(last.rev) if last else 0) + 1
        text = mask(normalise(raw))
        conn.execute(insert(c).values(asset=asset, rev=rev, fetched_at=datetime.now(UTC), sha256=sha, text=text))
        return rev, True


def versions(store: Store, asset: str) -> list[dict[str, Any]]:
    c = schema.config_versions
    query = select(c.c.rev, c.c.fetched_at, c.c.sha256, func.length(c.c.text).label("size"))
    with store.engine.connect() as conn:
        rows = conn.execute(query.where(c.c.asset == asset).order_by(c.c.rev.desc()))
        return [dict(r._mapping) | {"fetched_at": as_utc(r.fetched_at)} for r in rows]


def version_text(store: Store, asset: str, rev: int) -> str | None:
    c = schema.config_versions
    with store.engine.connect() as conn:
        return conn.execute(select(c.c.text).where(c.c.asset == asset, c.c.rev == rev)).scalar()


async def backup(store: Store, assets: list[Asset], timeout: float = 30.0, limit: int = 8) -> list[BackupResult]:
    """Fetch and store every asset's configuration; one failure never stops the others."""
    gate = asyncio.Semaphore(limit)

    async def one(asset: Asset) -> BackupResult:
        async with gate:
            try:
                raw, version = await asyncio.wait_for(asyncio.to_thread(fetch, asset, timeout), timeout * 3)
            except Exception as exc:  # every failure is a result; messages never carry credentials
                return BackupResult(asset.name, False, _classify(exc), f"{type(exc).__name__}: {str(exc)[:200]}")
            rev, changed = await asyncio.to_thread(save_version, store, asset.name, raw)
            parser = PARSERS.get(str(asset.vars.get("device_type", "cisco_ios")))
            if parser is not None:  # show version facts, kept with history like every collector's
                facts = flatten(parser(version))
                await asyncio.to_thread(record_facts, store, asset.name, "netcli", facts)
            return BackupResult(asset.name, True, rev=rev, changed=changed)

    return list(await asyncio.gather(*(one(a) for a in assets)))
