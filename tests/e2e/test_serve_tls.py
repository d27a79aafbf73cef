"""`opsagent serve` over HTTPS with authenticated reads (``web:`` in the agent config), checked by a real
TLS client (aiohttp, verifying the certificate for IP 127.0.0.1) and by a real Prometheus scraping
/metrics over TLS with a bearer token — the client users point at it."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.agent import agent_env, opsagent, terminate, wait_until
from tests.peers.nginx import make_certs
from tests.peers.ports import free_port
from tests.peers.prometheus import StartPrometheus

pytestmark = pytest.mark.peer

READ_TOKEN = "prometheus-read-s3cret"
WRITE_TOKEN = "writer-s3cret"


@dataclass
class TlsAgent:
    port: int
    home: Path
    ca: Path
    read_token_file: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def _context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def _up(agent: TlsAgent) -> bool:
    request = urllib.request.Request(agent.url + "/healthz")
    with urllib.request.urlopen(request, timeout=5, context=_context(agent.ca)) as resp:
        return bool(resp.status == 200)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsAgent]:
    home = tmp_path_factory.mktemp("tls")
    ca, _, _ = make_certs(home)
    (home / "read.token").write_text(READ_TOKEN + "\n")
    (home / "write.token").write_text(WRITE_TOKEN)
    (home / "opsagent.yaml").write_text(
        f"api_token_ref: 'file:{home / 'write.token'}'\n"
        "web:\n  tls_cert_file: leaf.pem\n  tls_key_file: leaf.key\n  read_auth: true\n"  # beside the file
        f"  read_tokens: {{prometheus: 'file:{home / 'read.token'}'}}\n"
    )
    port, log = free_port(), home / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsagent", "serve", "--listen", f"127.0.0.1:{port}"],
            env=agent_env(home), stdout=out, stderr=subprocess.STDOUT, cwd=home.parent,
        )  # fmt: skip
    handle = TlsAgent(port, home, ca, home / "read.token")
    try:
        wait_until(lambda: _up(handle), 60, "/healthz over TLS", log, proc)
        yield handle
    finally:
        terminate(proc)
    text = log.read_text(errors="replace")
    assert READ_TOKEN not in text and WRITE_TOKEN not in text and "Traceback" not in text


async def _status(agent: TlsAgent, method: str, path: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    connector = aiohttp.TCPConnector(ssl=_context(agent.ca))
    async with (
        aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.request(method, agent.url + path, headers=headers, json={} if method == "POST" else None) as resp,
    ):
        await resp.read()
        return resp.status


async def test_reads_need_a_token_over_verified_tls(agent: TlsAgent) -> None:
    for path in ("/metrics", "/api/v1/assets", "/api/v1/incidents", "/api/v1/runbooks/runs", "/"):
        assert await _status(agent, "GET", path) == 401, path
        assert await _status(agent, "GET", path, "wrong") == 401, path
        assert await _status(agent, "GET", path, READ_TOKEN) == 200, path
        assert await _status(agent, "GET", path, WRITE_TOKEN) == 200, path  # a writer may read
    assert await _status(agent, "GET", "/healthz") == 200  # liveness probes stay open
    # a read-only token writes nothing
    assert await _status(agent, "POST", "/api/v1/incidents/1/ack", READ_TOKEN) == 403
    assert await _status(agent, "POST", "/api/v1/incidents/1/ack", WRITE_TOKEN) == 404


async def test_plain_http_and_an_unknown_ca_get_nothing(agent: TlsAgent) -> None:
    with pytest.raises(aiohttp.ClientError):
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{agent.port}/metrics") as resp:
            await resp.read()
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        async with aiohttp.ClientSession() as session, session.get(agent.url + "/healthz") as resp:
            await resp.read()
    await asyncio.sleep(0)


def test_prometheus_scrapes_over_tls_with_a_bearer_token(agent: TlsAgent, start_prometheus: StartPrometheus) -> None:
    options = {
        "scheme": "https",
        "tls_config": {"ca_file": str(agent.ca)},
        "authorization": {"type": "Bearer", "credentials_file": str(agent.read_token_file)},
    }
    prom = start_prometheus([f"127.0.0.1:{agent.port}"], scrape_interval="1s", scrape_options=options)
    up = prom.wait_for('up{job="opsagent"} == 1', timeout=45)
    assert up[0]["metric"]["instance"] == f"127.0.0.1:{agent.port}"
    assert prom.wait_for('opsagent_up{asset="localhost"}', timeout=45)


def test_prometheus_without_the_token_is_refused(agent: TlsAgent, start_prometheus: StartPrometheus) -> None:
    prom = start_prometheus(
        [f"127.0.0.1:{agent.port}"], scrape_interval="1s", scrape_options={"scheme": "https",
                                                                          "tls_config": {"ca_file": str(agent.ca)}}
    )  # fmt: skip
    prom.wait_for('up{job="opsagent"} == 0', timeout=45)
    target = wait_until(lambda: [t for t in prom.targets() if t.get("lastError")], 30, "scrape error")
    assert "401" in target[0]["lastError"]


def test_serve_refuses_a_key_that_does_not_load(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    (tmp_path / "opsagent.yaml").write_text("web: {tls_cert_file: cert.pem, tls_key_file: key.pem}\n")
    out = opsagent("serve", "--listen", f"127.0.0.1:{free_port()}", home=tmp_path)
    assert out.returncode == 2, out.stderr
    assert f"{tmp_path / 'cert.pem'}: web.tls_cert_file: cannot load with its key" in out.stderr
    assert "Traceback" not in out.stderr


async def test_session_cookie_is_secure_under_tls(agent: TlsAgent) -> None:
    (agent.home / "pw").write_text("Tls-pass-0001\n")
    added = opsagent("user", "add", "tlsuser", "--role", "engineer", "--password-file", str(agent.home / "pw"),
                     home=agent.home)  # fmt: skip
    assert added.returncode == 0, added.stderr
    connector = aiohttp.TCPConnector(ssl=_context(agent.ca))
    jar = aiohttp.CookieJar(unsafe=True)  # keeps cookies of an IP address (127.0.0.1)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        body = {"username": "tlsuser", "password": "Tls-pass-0001"}
        async with session.post(agent.url + "/login", json=body) as resp:
            assert resp.status == 200, await resp.text()
            csrf = (await resp.json())["csrf_token"]
            set_cookie = resp.headers["Set-Cookie"]
        assert set_cookie.startswith("__Host-opsagent_session=")
        assert all(flag in set_cookie for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"))
        async with session.get(agent.url + "/api/v1/incidents") as resp:  # reads need auth: the session is it
            assert resp.status == 200
        async with session.post(agent.url + "/api/v1/incidents/999999/ack", json={}) as resp:
            assert resp.status == 403  # no CSRF token
        async with session.post(
            agent.url + "/api/v1/incidents/999999/ack", json={}, headers={"X-CSRF-Token": csrf}
        ) as resp:
            assert resp.status == 404  # allowed; there is no such incident
