"""The SNMP transport on gufo-snmp: sessions from credential references, GET and adaptive GETBULK walks.

gufo-snmp decodes in Rust (≈25× pysnmp), which is what makes 1,000 devices per minute possible
on two cores. It has no retries and no max-repetitions back-off, so both live here: a timed-out
request is re-sent ``retries`` times; a tooBig/error or a repeated timeout halves the device's
max-repetitions (remembered for the next polls) and restarts that column.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from gufo.snmp import (
    Aes128Key,
    Aes192Key,
    Aes256Key,
    DesKey,
    KeyExpansion,
    Md5Key,
    NoSuchInstance,
    Sha1Key,
    Sha224Key,
    Sha256Key,
    Sha384Key,
    Sha512Key,
    SnmpAuthError,
    SnmpError,
    SnmpVersion,
    User,
)
from gufo.snmp._fast import GetIter
from gufo.snmp.aio.client import SnmpSession

from opsagent.collectors.snmp.options import SnmpOptions
from opsagent.errors import CollectError
from opsagent.inventory.model import Asset, SnmpVersionName, snmp_version

Value = None | str | bytes | int | float
Rows = list[tuple[str, Value]]
Column = dict[str, Value]  # OID suffix (after the column OID) → value
T = TypeVar("T")

_AUTH = {"MD5": Md5Key, "SHA": Sha1Key, "SHA1": Sha1Key, "SHA224": Sha224Key, "SHA256": Sha256Key}
_AUTH |= {"SHA384": Sha384Key, "SHA512": Sha512Key}
_PRIV = {"DES": DesKey, "AES": Aes128Key, "AES128": Aes128Key, "AES192": Aes192Key, "AES256": Aes256Key}
_VERSIONS = {"1": SnmpVersion.v1, "2c": SnmpVersion.v2c, "3": SnmpVersion.v3}


@dataclass
class DeviceState:
    """What one device teaches us between polls."""

    max_repetitions: int
    lookups: dict[str, tuple[float, dict[str, Value]]] = field(default_factory=dict)  # column → (when, rows)
    identity: tuple[float, dict[str, Any]] | None = None
    rows: dict[str, int] = field(default_factory=dict)  # column → rows it had last time (sizes its GETBULKs)
    # slow-cadence column → (when walked, rows, row suffixes of a fast column of its table then)
    slow: dict[str, tuple[float, Column, frozenset[str] | None]] = field(default_factory=dict)
    labels: Any = None  # the collector's row-label cache, valid while the lookup tables are the same objects


def _secret(asset: Asset, field_name: str) -> str | None:
    ref = asset.credential_ref("snmp", field_name)
    if ref is None:
        return None
    try:
        return ref.resolve().reveal()
    except Exception as exc:  # the reference names what is missing, never the value
        raise CollectError("credentials", f"snmp.{field_name}: cannot resolve {ref}: {type(exc).__name__}") from None


def user_of(asset: Asset, options: SnmpOptions) -> User:
    creds = asset.credentials.get("snmp", {})
    name = str(creds.get("user") or creds.get("username") or "")
    if not name:
        raise CollectError("credentials", "SNMPv3 needs credentials.snmp.user")
    auth_pw, priv_pw = _secret(asset, "auth_password"), _secret(asset, "priv_password")
    auth_proto = str(creds.get("auth_protocol", "SHA")).upper().replace("-", "")
    priv_proto = str(creds.get("priv_protocol", "AES")).upper().replace("-", "")
    if auth_proto not in _AUTH or priv_proto not in _PRIV:
        raise CollectError("credentials", f"unknown auth/priv protocol {auth_proto}/{priv_proto}")
    auth = _AUTH[auth_proto](auth_pw.encode()) if auth_pw else None
    priv = _PRIV[priv_proto](priv_pw.encode()) if (priv_pw and auth) else None
    expansion = KeyExpansion.Cisco if options.key_expansion == "cisco" else KeyExpansion.Blumenthal
    return User(name, auth_key=auth, priv_key=priv, key_expansion=expansion)


def version_of(asset: Asset, options: SnmpOptions) -> SnmpVersionName:
    """The collector option ``version`` when given, else ``credentials.snmp.version`` (where the
    example inventory puts it), else the default 2c."""
    if "version" in options.model_fields_set:
        return options.version
    given = asset.credentials.get("snmp", {}).get("version")
    if given is None:
        return options.version
    try:
        return snmp_version(given)
    except ValueError as exc:  # an asset built without the inventory's validation
        raise CollectError("credentials", f"snmp.version: {exc}") from None


def open_session(asset: Asset, options: SnmpOptions, max_repetitions: int) -> SnmpSession:
    """A gufo session; the community or v3 keys come from credential references only."""
    address = asset.target
    port = asset.port or options.port
    common: dict[str, Any] = {"timeout": options.timeout, "max_repetitions": max_repetitions}
    version = version_of(asset, options)
    if version == "3":
        return SnmpSession(address, port, user=user_of(asset, options), version=SnmpVersion.v3, **common)
    community = _secret(asset, "community")
    if community is None:
        raise CollectError("credentials", "SNMP v1/v2c needs credentials.snmp.community (env: or file: reference)")
    return SnmpSession(address, port, community=community, version=_VERSIONS[version], **common)


class PortUnreachable(ConnectionRefusedError):
    """ICMP port-unreachable for our request: nothing listens on that UDP port."""


def _refused(exc: BaseException) -> bool:
    """gufo-snmp's connected socket gets ECONNREFUSED from recv(); it raises that as
    ``TimeoutError("connection refused")``, which its asyncio client re-raises as a bare
    ``TimeoutError`` *from* it — at once, not after the timeout."""
    seen: BaseException | None = exc
    for _ in range(3):
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError) or "connection refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _check_refused(exc: BaseException) -> None:
    """Raise :class:`PortUnreachable` when ``exc`` is an ICMP port-unreachable, not a timeout."""
    if _refused(exc):
        raise PortUnreachable("port unreachable (ICMP): no SNMP agent on that port") from exc


def classify(exc: BaseException) -> tuple[str, str]:
    """(reason, message) of a transport failure; messages never carry the community or keys."""
    if _refused(exc):
        return "refused", "port unreachable (ICMP): no SNMP agent on that port"
    if isinstance(exc, TimeoutError):
        return "timeout", "no response (agent down, filtered, or wrong community/credentials)"
    if isinstance(exc, SnmpAuthError):
        return "auth", f"SNMPv3 authentication failed: {exc}"
    if isinstance(exc, SnmpError) and "authentication" in str(exc).lower():
        return "auth", f"SNMPv3 authentication failed: {exc}"
    if isinstance(exc, SnmpError) and "security model" in str(exc).lower():
        return "auth", f"SNMPv3: {exc}"
    if isinstance(exc, OSError):
        return "unreachable", f"{type(exc).__name__}: {exc}"
    return "protocol", f"{type(exc).__name__}: {exc}"


async def connect(session: SnmpSession, retries: int) -> None:
    """v3 engine discovery (a no-op for v1/v2c), re-sent on timeout."""
    for attempt in range(retries + 1):
        try:
            await session.refresh()
            return
        except TimeoutError as exc:
            _check_refused(exc)
            if attempt == retries:
                raise


async def get_many(session: SnmpSession, oids: list[str], retries: int, state: DeviceState) -> dict[str, Value]:
    """One GET of several OIDs; missing ones (noSuchObject/Instance) are simply absent.

    SNMPv1 has no per-varbind exceptions: one missing OID fails the whole request (noSuchName,
    which gufo-snmp returns as an empty answer), so then each OID is asked alone and the others
    still get their values. (A v2c answer is only empty when every OID is missing.)"""
    for attempt in range(retries + 1):
        try:
            found = dict(await session.get_many(oids))
        except TimeoutError as exc:
            _check_refused(exc)
            if attempt == retries:
                raise
            continue
        except NoSuchInstance:
            found = {}
        if found or len(oids) == 1:
            return found
        for oid in oids:
            found |= await get_many(session, [oid], retries, state)
        return found
    return {}


async def _adapting(state: DeviceState, retries: int, reps: Callable[[], int], ask: Callable[[int], Awaitable[T]]) -> T:
    """``ask(max_repetitions)`` until it answers, asking again from the start: after a timeout (``retries``
    times), and after tooBig (or an agent choking on a large response) with half the repetitions, which the
    device keeps; at one repetition the error stands. ``reps()`` is what to ask with next."""
    failures = 0
    while True:
        size = reps()
        try:
            return await ask(size)
        except TimeoutError as exc:
            _check_refused(exc)
            failures += 1
            if failures > retries or state.max_repetitions == 1:
                raise
        except SnmpAuthError:
            raise
        except SnmpError:
            if state.max_repetitions == 1:
                raise
        state.max_repetitions = max(1, min(size, state.max_repetitions) // 2)


async def walk(session: SnmpSession, oid: str, retries: int, state: DeviceState) -> Rows:
    """All varbinds under ``oid`` (GETBULK for v2c/v3, GETNEXT for v1), adapting max-repetitions."""

    async def ask(reps: int) -> Rows:
        rows: Rows = []
        try:
            it = session.getbulk(oid, reps) if session._allow_bulk else session.getnext(oid)
            await _drain(it, rows, retries, state)
        except NoSuchInstance:
            pass  # what came before it is the walk
        return rows

    return await _adapting(state, retries, lambda: state.max_repetitions, ask)


async def walk_column(session: SnmpSession, oid: str, retries: int, state: DeviceState) -> Column:
    """All varbinds under column ``oid`` as {suffix: value}, a whole GETBULK response at a time.

    gufo-snmp's async iterator costs a coroutine step per varbind; here each response is one
    ``recv_get_bulk`` (Rust) and one dict update. A column that had N rows last poll is asked with
    N + 1 repetitions (up to the device's max-repetitions), so it usually takes one request."""
    if not session._allow_bulk:
        return _column(await walk(session, oid, retries, state), oid)

    def reps() -> int:
        hint = state.rows.get(oid)
        return state.max_repetitions if hint is None else max(1, min(hint + 1, state.max_repetitions))

    async def ask(size: int) -> Column:
        try:
            found = await _bulk_column(session, oid, size, retries)
        except NoSuchInstance:
            return {}
        state.rows[oid] = len(found)
        return found

    return await _adapting(state, retries, reps, ask)


async def _bulk_column(session: SnmpSession, oid: str, reps: int, retries: int) -> Column:
    sock = session._sock
    ctx = GetIter(oid, reps)
    send, recv = partial(sock.send_get_bulk, ctx), partial(sock.recv_get_bulk, ctx)
    skip = len(oid) + 1
    out: Column = {}
    timeouts = 0
    while True:
        try:
            await session._send(send)
            chunk = await session._recv(recv)
        except StopAsyncIteration:  # gufo's end of the walk (endOfMibView; how its v3 socket says it)
            return out
        except TimeoutError as exc:  # the context keeps its position: the same request again
            _check_refused(exc)
            timeouts += 1
            if timeouts > retries:
                raise
            continue
        if not chunk:
            return out
        last = chunk[-1]
        if last is None:  # the walk left the column
            out.update([(o[skip:], v) for o, v in chunk[:-1]])  # type: ignore[misc]
            return out
        out.update([(o[skip:], v) for o, v in chunk])  # type: ignore[misc]


def _column(rows: Rows, base: str) -> Column:
    prefix = base + "."
    return {o[len(prefix) :]: v for o, v in rows if o.startswith(prefix)}


async def _drain(it: Any, rows: Rows, retries: int, state: DeviceState) -> None:
    timeouts = 0
    while True:
        try:
            row = await it.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError as exc:
            _check_refused(exc)
            # The iterator keeps its position: calling again re-sends the same request.
            timeouts += 1
            if timeouts > retries:
                raise
            continue
        rows.append(row)
