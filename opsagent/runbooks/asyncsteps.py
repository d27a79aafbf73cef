"""Step transports that are natively asynchronous: local shell, HTTP, SNMP get, notify."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from typing import Any

import aiohttp

from opsagent.errors import SecretError
from opsagent.inventory.model import Asset
from opsagent.runbooks.results import FAILED, OK, TIMEOUT, UNREACHABLE
from opsagent.runbooks.transports import Output, collector_options
from opsagent.secrets import Secret, SecretRef, is_reference


async def run_shell(command: str, timeout: float, env: dict[str, str], chdir: str | None, max_bytes: int) -> Output:
    """``/bin/sh -c`` on the agent, in its own process group so a timeout kills the whole tree."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env},
            cwd=chdir,
            start_new_session=True,
        )
    except OSError as exc:
        return Output(FAILED, message=f"cannot start /bin/sh: {exc.strerror}")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)
        raise
    rc = proc.returncode
    return Output(
        OK if rc == 0 else FAILED,
        out[:max_bytes].decode("utf-8", "replace"),
        err[:max_bytes].decode("utf-8", "replace"),
        rc,
        message="" if rc == 0 else f"exit status {rc}",
    )


async def run_http(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str],
    body: str | None,
    json_body: Any,
    expect: list[int],
    verify_tls: bool,
    timeout: float,
    max_bytes: int,
) -> Output:
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            data=body,
            json=json_body,
            ssl=verify_tls,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=True,
        ) as resp:
            raw = await resp.content.read(max_bytes)
            text = raw.decode(resp.charset or "utf-8", "replace")
            data: Any = None
            if "json" in (resp.content_type or ""):
                with contextlib.suppress(ValueError):
                    data = json.loads(text)
            ok = resp.status in expect
            message = "" if ok else f"HTTP {resp.status} (expected {', '.join(map(str, expect))})"
            return Output(OK if ok else FAILED, text, "", resp.status, data=data, message=message)
    except TimeoutError:
        return Output(TIMEOUT, message=f"no answer from {url} within {timeout:g}s")
    except aiohttp.ClientConnectorError as exc:
        return Output(UNREACHABLE, message=f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc}")
    except aiohttp.ClientError as exc:
        return Output(FAILED, message=f"http: {type(exc).__name__}: {str(exc)[:200]}")


def _secret(asset: Asset, section: str, name: str) -> Secret | None:
    ref = asset.credential_ref(section, name)
    return ref.resolve() if ref is not None else None


async def run_snmp(
    asset: Asset, oids: list[str], version: str, port: int | None, retries: int, timeout: float
) -> Output:
    """SNMP GET of the given numeric OIDs; credentials from the asset's ``snmp`` section."""
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        UsmUserData,
        get_cmd,
        usmAesCfb128Protocol,
        usmHMACSHAAuthProtocol,
    )

    try:
        secrets: list[Secret] = []
        if version == "3":
            auth, priv = _secret(asset, "snmp", "auth_key"), _secret(asset, "snmp", "priv_key")
            secrets = [s for s in (auth, priv) if s]
            auth_data: Any = UsmUserData(
                str(asset.credentials.get("snmp", {}).get("user", "")),
                authKey=auth.reveal() if auth else None,
                privKey=priv.reveal() if priv else None,
                authProtocol=usmHMACSHAAuthProtocol if auth else None,
                privProtocol=usmAesCfb128Protocol if priv else None,
            )
        else:
            community = _secret(asset, "snmp", "community")
            if community is None:
                return Output(FAILED, message="credentials: the asset has no credentials.snmp.community reference")
            secrets = [community]
            auth_data = CommunityData(community.reveal(), mpModel=0 if version == "1" else 1)
    except SecretError as exc:
        return Output(FAILED, message=f"credentials: {exc}")
    snmp_port = port or int(collector_options(asset, "snmp").get("port", 0) or 0) or asset.port or 161
    engine = SnmpEngine()
    try:
        per_try = max(timeout / (retries + 1), 0.5)
        target = await UdpTransportTarget.create((asset.target, snmp_port), timeout=per_try, retries=retries)
        error, status, index, binds = await asyncio.wait_for(
            get_cmd(
                engine,
                auth_data,
                target,
                ContextData(),
                *[ObjectType(ObjectIdentity(o)) for o in oids],
                lookupMib=False,
            ),
            timeout + 1,
        )
    except TimeoutError:
        return Output(TIMEOUT, message=f"no SNMP answer from {asset.target}:{snmp_port}", secrets=secrets)
    except Exception as exc:
        return Output(FAILED, message=f"snmp: {type(exc).__name__}: {str(exc)[:200]}", secrets=secrets)
    finally:
        with contextlib.suppress(Exception):
            engine.close_dispatcher()
    if error:
        text = str(error)
        kind = TIMEOUT if "timeout" in text.lower() or "no snmp response" in text.lower() else FAILED
        return Output(kind, message=f"snmp: {text}", secrets=secrets)
    if status:
        return Output(FAILED, message=f"snmp: {status.prettyPrint()} at {index}", secrets=secrets)
    values = {str(name): _snmp_value(value) for name, value in binds}
    text = "\n".join(f"{k} = {v}" for k, v in values.items())
    return Output(OK, text, "", 0, data=values, secrets=secrets)


def _snmp_value(value: Any) -> Any:
    name = type(value).__name__
    if name in ("NoSuchObject", "NoSuchInstance", "EndOfMibView"):
        return None
    if name in ("Integer", "Integer32", "Counter32", "Counter64", "Gauge32", "Unsigned32", "TimeTicks"):
        return int(value)
    return value.prettyPrint()


_ROBOT_BODY = {
    "dingtalk": lambda text: {"msgtype": "text", "text": {"content": text}},
    "wecom": lambda text: {"msgtype": "text", "text": {"content": text}},
    "feishu": lambda text: {"msg_type": "text", "content": {"text": text}},
}


async def run_notify(
    session: aiohttp.ClientSession, url: str | None, fmt: str, message: str, context: dict[str, Any], timeout: float
) -> Output:
    """Post the message (a webhook gets JSON with the run context; robots their text format)."""
    if url is None:
        return Output(OK, message, "", 0, message="recorded (no url)")
    secrets: list[Secret] = []
    if is_reference(url):
        try:
            secret = SecretRef.parse(url).resolve()
        except SecretError as exc:
            return Output(FAILED, message=f"credentials: {exc}")
        secrets.append(secret)
        url = secret.reveal()
    body = _ROBOT_BODY[fmt](message) if fmt in _ROBOT_BODY else {"message": message, **context}
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            await resp.read()
            ok = 200 <= resp.status < 300
            return Output(
                OK if ok else FAILED,
                message,
                "",
                resp.status,
                message="" if ok else f"HTTP {resp.status}",
                secrets=secrets,
            )
    except TimeoutError:
        return Output(TIMEOUT, message="notification endpoint did not answer in time", secrets=secrets)
    except aiohttp.ClientError as exc:
        return Output(UNREACHABLE, message=f"notify: {type(exc).__name__}", secrets=secrets)
