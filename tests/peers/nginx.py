"""A real nginx for the session: stub_status over HTTP, and HTTPS endpoints with certificates made
here (a test CA, a leaf expiring in a few days, an expired leaf), on 127.0.0.1 and free ports.

Fixture:
    nginx_server (session) -> NginxServer: http_port, https_port, expired_port, ca_file, leaf_not_after,
                              expired_not_after, status_url, get(path)
Paths on the HTTP port: /nginx_status (stub_status), /health (200 "status: healthy"),
/redirect (302 → /health), /missing (404). The HTTPS ports serve /health too.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.peers.ports import LOCALHOST, free_port, port_open
from tests.peers.process import Daemon

INSTALL_HINT = "install the Debian package `nginx` (bash scripts/test.sh does it)"


@dataclass(frozen=True)
class NginxServer:
    daemon: Daemon
    base_dir: Path
    http_port: int
    https_port: int
    expired_port: int
    ca_file: Path
    leaf_not_after: dt.datetime
    expired_not_after: dt.datetime

    @property
    def status_url(self) -> str:
        return f"http://{LOCALHOST}:{self.http_port}/nginx_status"

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://{LOCALHOST}:{self.http_port}{path}", timeout=10) as resp:
            return str(resp.read().decode())


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def make_certs(base: Path) -> tuple[Path, dt.datetime, dt.datetime]:
    """A CA, a leaf for 127.0.0.1/localhost valid 3 more days, an expired leaf; returns (CA file, not_afters)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("opsagent test CA"))
        .issuer_name(_name("opsagent test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (base / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    not_afters = []
    for name, start, end in (
        ("leaf", now - dt.timedelta(days=1), now + dt.timedelta(days=3)),
        ("expired", now - dt.timedelta(days=10), now - dt.timedelta(days=1)),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOCALHOST))])
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("localhost"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(san, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        (base / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, base / f"{name}.key")
        not_afters.append(end)
    return base / "ca.pem", not_afters[0], not_afters[1]


def _config(base: Path, http: int, https: int, expired: int) -> str:
    health = 'location = /health { default_type text/plain; return 200 "status: healthy\\n"; }'
    tls = "ssl_protocols TLSv1.2 TLSv1.3;"
    return f"""
worker_processes 1;
daemon off;
user root;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {base}/tmp_body; proxy_temp_path {base}/tmp_proxy;
    fastcgi_temp_path {base}/tmp_fcgi; uwsgi_temp_path {base}/tmp_uwsgi; scgi_temp_path {base}/tmp_scgi;
    server {{
        listen {LOCALHOST}:{http};
        location = /nginx_status {{ stub_status; }}
        {health}
        location = /redirect {{ return 302 /health; }}
        location = /missing {{ return 404; }}
    }}
    server {{
        listen {LOCALHOST}:{https} ssl;
        ssl_certificate {base}/leaf.pem; ssl_certificate_key {base}/leaf.key; {tls}
        {health}
    }}
    server {{
        listen {LOCALHOST}:{expired} ssl;
        ssl_certificate {base}/expired.pem; ssl_certificate_key {base}/expired.key; {tls}
        {health}
    }}
}}
"""


@pytest.fixture(scope="session")
def nginx_server() -> Iterator[NginxServer]:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        pytest.fail(f"`nginx` not found: {INSTALL_HINT}", pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="opsagent-nginx-"))
    ca_file, leaf_not_after, expired_not_after = make_certs(base)
    http, https, expired = free_port(), free_port(), free_port()
    (base / "nginx.conf").write_text(_config(base, http, https, expired))
    daemon = Daemon("nginx", [binary, "-c", str(base / "nginx.conf"), "-p", f"{base}/"], base / "console.log")
    try:
        daemon.wait_ready(lambda: all(port_open(p) for p in (http, https, expired)), timeout=30)
        yield NginxServer(daemon, base, http, https, expired, ca_file, leaf_not_after, expired_not_after)
    finally:
        daemon.stop(timeout=15)
        shutil.rmtree(base, ignore_errors=True)
