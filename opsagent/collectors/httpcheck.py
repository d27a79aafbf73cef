"""The network half of the probes: HTTP(S) request, TCP connect, TLS handshake, each failure classified.

Callers bound every call with a timeout (``asyncio.timeout``); these functions also pass it to the
transport so a half-open connection never waits on the OS default.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
from cryptography import x509

from opsagent.collectors.base import Sample

if TYPE_CHECKING:
    from opsagent.collectors.probe import ProbeModule

_TLS_VERSIONS = {"TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}


class ProbeFailure(Exception):
    """A failed probe: ``reason`` is refused, timeout, dns, tls, unreachable, status, regex, redirects, ..."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.samples: list[Sample] = []  # what was learnt anyway (an expired certificate's expiry)
        super().__init__(message)


@dataclass
class CertInfo:
    not_after: float | None = None
    tls_version: str | None = None

    def samples(self) -> list[Sample]:
        out: list[Sample] = []
        if self.not_after is not None:
            out.append(Sample.of("probe_ssl_earliest_cert_expiry", self.not_after))
        if self.tls_version is not None:
            out.append(Sample.of("probe_tls_version_info", 1, version=_TLS_VERSIONS.get(self.tls_version, "unknown")))
        return out


@dataclass
class HttpOutcome:
    status: int = 0
    redirects: int = 0
    tls: bool = False
    content_length: int = -1
    regex_failed: bool = False
    cert: CertInfo = field(default_factory=CertInfo)
    failure: ProbeFailure | None = None

    def samples(self) -> list[Sample]:
        out = [
            Sample.of("probe_http_status_code", self.status),
            Sample.of("probe_http_redirects", self.redirects),
            Sample.of("probe_http_ssl", 1 if self.tls else 0),
            Sample.of("probe_http_content_length", self.content_length),
            Sample.of("probe_failed_due_to_regex", 1 if self.regex_failed else 0),
        ]
        return out + self.cert.samples()


def ssl_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def cert_info(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> CertInfo:
    """Expiry of the peer's certificate (the leaf: Python 3.11 does not expose the chain)."""
    if ssl_object is None:
        return CertInfo()
    der = ssl_object.getpeercert(binary_form=True)
    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp() if der else None
    return CertInfo(not_after=not_after, tls_version=ssl_object.version())


def split_host_port(target: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[(?P<v6>[^\]]+)\]:(?P<p6>\d+)|(?P<host>[^:]+):(?P<port>\d+)", target.strip())
    if not match:
        raise ProbeFailure("config", f"target {target!r} is not host:port")
    return (match["v6"], int(match["p6"])) if match["v6"] else (match["host"], int(match["port"]))


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "tls"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "unreachable"


def _tls_message(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    return str(exc) or type(exc).__name__


async def tcp_connect(target: str, timeout: float) -> None:
    host, port = split_host_port(target)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except OSError as exc:
        raise ProbeFailure(_os_reason(exc), f"connect {target}: {exc.strerror or exc}") from None
    writer.close()
    await _closed(writer)


async def _closed(writer: asyncio.StreamWriter) -> None:
    # the peer may drop the connection first; the probe already has what it needs
    with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
        await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _handshake(host: str, port: int, ctx: ssl.SSLContext, sni: str, timeout: float) -> CertInfo:
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ctx, server_hostname=sni, ssl_handshake_timeout=timeout), timeout
    )
    try:
        return cert_info(writer.get_extra_info("ssl_object"))
    finally:
        writer.close()
        await _closed(writer)


async def _peer_cert(host: str, port: int, module: ProbeModule) -> CertInfo:
    try:
        return await _handshake(host, port, ssl_context(False, None), module.server_name or host, module.timeout)
    except OSError:
        return CertInfo()


async def tls_handshake(target: str, module: ProbeModule) -> CertInfo:
    """Handshake and read the certificate. A verification failure still reports the expiry (read on
    a second, unverified handshake) so an expired or untrusted certificate shows *when* it expires."""
    host, port = split_host_port(target)
    sni = module.server_name or host
    try:
        return await _handshake(host, port, ssl_context(module.tls_verify, module.ca_file), sni, module.timeout)
    except ssl.SSLCertVerificationError as exc:
        failure = ProbeFailure("tls", _tls_message(exc))
    except OSError as exc:
        raise ProbeFailure(_os_reason(exc), f"{target}: {_tls_message(exc)}") from None
    try:
        info = await _handshake(host, port, ssl_context(False, None), sni, module.timeout)
    except OSError:
        raise failure from None
    failure.samples = info.samples()
    raise failure


def http_failure(exc: aiohttp.ClientError) -> ProbeFailure:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ProbeFailure("tls", _tls_message(exc.certificate_error))
    if isinstance(exc, aiohttp.ClientSSLError):
        return ProbeFailure("tls", str(exc))
    if isinstance(exc, aiohttp.TooManyRedirects):
        return ProbeFailure("redirects", "too many redirects")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ProbeFailure(_os_reason(exc.os_error), str(exc))
    if isinstance(exc, aiohttp.InvalidURL):
        return ProbeFailure("config", f"invalid URL {exc}")
    if isinstance(exc, TimeoutError):  # aiohttp's read timeouts
        return ProbeFailure("timeout", f"{type(exc).__name__}: {exc}")
    return ProbeFailure("unreachable", f"{type(exc).__name__}: {exc}")


async def http_get(url: str, module: ProbeModule, auth: tuple[str, str] | None) -> HttpOutcome:
    """One HTTP(S) request as the module says; the outcome carries a failure (status, regex, TLS
    policy) instead of raising for what the server answered, and raises for what it did not."""
    ctx = ssl_context(module.tls_verify, module.ca_file)
    timeout = aiohttp.ClientTimeout(total=module.timeout)
    basic = aiohttp.BasicAuth(*auth) if auth else None
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, force_close=True), timeout=timeout) as s,
            s.request(
                module.method,
                url,
                headers=module.headers,
                auth=basic,
                allow_redirects=module.follow_redirects,
                max_redirects=module.max_redirects,
            ) as resp,
        ):
            transport = resp.connection.transport if resp.connection else None
            cert = cert_info(transport.get_extra_info("ssl_object") if transport else None)
            body = await resp.read()
    except aiohttp.ClientError as exc:
        raise http_failure(exc) from None
    final = resp.url
    if final.scheme == "https" and cert.not_after is None and final.host:
        # aiohttp hands a fully read small response's connection back before we see it: read the
        # certificate of the final URL on a second handshake instead.
        cert = await _peer_cert(final.host, final.port or 443, module)
    out = HttpOutcome(resp.status, len(resp.history), final.scheme == "https", len(body), cert=cert)
    out.failure = _judge(out, module, body.decode(resp.charset or "utf-8", "replace"))
    return out


def _judge(out: HttpOutcome, module: ProbeModule, body: str) -> ProbeFailure | None:
    valid = out.status in module.valid_status_codes if module.valid_status_codes else 200 <= out.status < 300
    if not valid:
        return ProbeFailure("status", f"HTTP status {out.status}")
    if module.fail_if_ssl and out.tls:
        return ProbeFailure("tls_policy", "final URL used TLS (fail_if_ssl)")
    if module.fail_if_not_ssl and not out.tls:
        return ProbeFailure("tls_policy", "final URL did not use TLS (fail_if_not_ssl)")
    missing = [p for p in module.body_regex if not re.search(p, body)]
    present = [p for p in module.body_not_regex if re.search(p, body)]
    if missing or present:
        out.regex_failed = True
        what = f"body does not match {missing[0]!r}" if missing else f"body matches {present[0]!r}"
        return ProbeFailure("regex", what)
    return None
