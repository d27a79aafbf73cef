"""Step transports that are natively asynchronous: local shell, HTTP, SNMP get, notify."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
from typing import Any

import aiohttp

from opsagent.collectors.snmp.options import SnmpOptions
from opsagent.collectors.snmp.session import DeviceState, Value, classify, connect, get_many, open_session
from opsagent.errors import CollectError, SecretError
from opsagent.inventory.model import Asset
from opsagent.runbooks.results import FAILED, OK, TIMEOUT, UNREACHABLE
from opsagent.runbooks.steptypes import SnmpArgs
from opsagent.runbooks.transports import Output, collector_options
from opsagent.secrets import Secret, SecretRef, is_reference


async def run_shell(command: str, timeout: float, env: dict[str, str], chdir: str | None, max_bytes: int) -> Output:
    """``/bin/sh -c`` on the agent, in its own process group so a timeout kills the whole tree.

    ``env`` is the whole environment of the command (the caller allow-lists the agent's own)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
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


async def run_snmp(asset: Asset, args: SnmpArgs, timeout: float) -> Output:
    """SNMP GET of numeric OIDs through the snmp collector's transport (gufo-snmp): the same
    credentials (``credentials.snmp``: community, or v3 user / auth / priv with any protocol the
    collector takes) and the asset's snmp collector options; the step's args override them."""
    oids = [o.strip().lstrip(".") for o in args.oids]
    if bad := [o for o in oids if not _NUMERIC_OID.match(o)]:
        return Output(FAILED, message=f"snmp: not a numeric OID: {', '.join(bad)} (MIB names are not resolved)")
    raw = collector_options(asset, "snmp")
    overrides = {"version": args.version, "port": args.port, "retries": args.retries, "timeout": args.timeout}
    try:
        options = SnmpOptions.model_validate(
            {k: raw[k] for k in _SNMP_TRANSPORT if k in raw} | {k: v for k, v in overrides.items() if v is not None}
        )
    except ValueError as exc:
        return Output(FAILED, message=f"snmp options: {exc}")
    # every try must fit in the step's timeout: a silent agent gives a timeout result, not a hung step
    options.timeout = max(min(options.timeout, timeout / (options.retries + 1)), 0.2)
    secrets = _snmp_secrets(asset)
    if args.port:
        asset = asset.model_copy(update={"port": args.port})
    try:
        session = open_session(asset, options, options.max_repetitions)
        await connect(session, options.retries)
        state, found = DeviceState(options.max_repetitions), dict[str, Value]()
        for i in range(0, len(oids), _GET_CHUNK):  # small GETs: any agent's PDU size takes them
            found |= await get_many(session, oids[i : i + _GET_CHUNK], options.retries, state)
    except CollectError as exc:
        return Output(FAILED, message=f"{exc.reason}: {exc}", secrets=secrets)
    except Exception as exc:
        reason, message = classify(exc)
        where = f"{asset.target}:{asset.port or options.port}"
        status = {"timeout": TIMEOUT, "refused": UNREACHABLE, "unreachable": UNREACHABLE}.get(reason, FAILED)
        return Output(status, message=f"snmp {where}: {message}", secrets=secrets)
    values = {oid: _snmp_value(found.get(oid)) for oid in oids}  # noSuchObject/Instance: None
    text = "\n".join(f"{k} = {v}" for k, v in values.items())
    return Output(OK, text, "", 0, data=values, secrets=secrets)


_NUMERIC_OID = re.compile(r"^[0-9]+(\.[0-9]+)+$")
_SNMP_TRANSPORT = ("version", "port", "timeout", "retries", "key_expansion")
_GET_CHUNK = 20


def _snmp_secrets(asset: Asset) -> list[Secret]:
    """The resolved values to redact from the step's output (resolution errors surface in open_session)."""
    out = []
    for name in ("community", "auth_password", "priv_password"):
        with contextlib.suppress(Exception):
            if (secret := _secret(asset, "snmp", name)) is not None:
                out.append(secret)
    return out


def _snmp_value(value: Value) -> Any:
    if isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace").rstrip("\x00")
        return text if text.isprintable() else "0x" + value.hex().upper()
    return value


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
