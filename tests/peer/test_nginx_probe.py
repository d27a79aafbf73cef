"""nginx stub_status and the HTTP/TCP/TLS probes against a real nginx with test-made certificates."""

from __future__ import annotations

import time

import pytest

from opsagent.collectors.base import Outcome
from opsagent.collectors.parsers.dbstatus import parse_stub_status
from tests.peer.dbhelpers import poll, value
from tests.peers.nginx import NginxServer
from tests.peers.ports import LOCALHOST, free_port

pytestmark = pytest.mark.peer


async def test_stub_status_matches_the_page(nginx_server: NginxServer) -> None:
    before = parse_stub_status(nginx_server.get("/nginx_status"))
    result = await poll({"kind": "middleware", "address": LOCALHOST, "port": nginx_server.http_port}, "nginx")
    after = parse_stub_status(nginx_server.get("/nginx_status"))
    assert result.outcome is Outcome.OK, result.message
    assert value(result, "nginx_up") == 1
    # each status request is one more request and connection: ours sits between the two reads
    assert value(result, "nginx_http_requests_total") == before["http_requests"] + 1 == after["http_requests"] - 1
    assert value(result, "nginx_connections_accepted") == before["connections_accepted"] + 1
    assert value(result, "nginx_connections_handled") == before["connections_handled"] + 1
    assert value(result, "nginx_connections_active") >= 1
    assert value(result, "nginx_connections_writing") >= 1  # the status response being written
    for name in ("reading", "waiting"):
        assert value(result, f"nginx_connections_{name}") >= 0


async def test_stub_status_failures(nginx_server: NginxServer) -> None:
    dead = await poll({"address": LOCALHOST, "port": free_port()}, "nginx", timeout=10)
    assert dead.outcome is Outcome.UNREACHABLE and dead.reason == "refused", dead.message
    assert [(s.name, s.value) for s in dead.samples] == [("nginx_up", 0.0)]
    wrong = await poll(
        {"address": LOCALHOST, "port": nginx_server.http_port},
        "nginx",
        options={"url": "http://{address}:{port}/missing"},
    )
    assert wrong.reason == "status" and "404" in wrong.message
    page = await poll(
        {"address": LOCALHOST, "port": nginx_server.http_port},
        "nginx",
        options={"url": "http://{address}:{port}/health"},
    )
    assert page.reason == "parse"


def probes(server: NginxServer, *items: tuple[str, str]) -> dict[str, object]:
    return {"probes": [{"module": m, "target": t} for m, t in items]}


async def test_http_probes(nginx_server: NginxServer) -> None:
    base = f"http://{LOCALHOST}:{nginx_server.http_port}"
    modules = {
        "health": {"prober": "http", "body_regex": ["status: healthy"]},
        "must_not_match": {"prober": "http", "body_not_regex": ["healthy"]},
        "http_2xx": {"prober": "http"},
        "http_no_redirect": {"prober": "http", "follow_redirects": False, "valid_status_codes": [302]},
    }
    options = {
        "modules": modules,
        "probes": [
            {"module": "health", "target": f"{base}/health"},
            {"module": "must_not_match", "target": f"{base}/health"},
            {"module": "http_2xx", "target": f"{base}/redirect"},
            {"module": "http_no_redirect", "target": f"{base}/redirect"},
            {"module": "http_2xx", "target": f"{base}/missing"},
            {"module": "http_2xx", "target": f"http://{LOCALHOST}:{free_port()}/"},
        ],
    }
    result = await poll({"address": LOCALHOST}, "probe", options=options)
    assert result.outcome is Outcome.OK, result.message

    def v(name: str, module: str, path: str) -> float:
        return value(result, name, module=module, target=f"{base}{path}")

    assert v("probe_success", "health", "/health") == 1
    assert v("probe_http_status_code", "health", "/health") == 200
    assert v("probe_http_content_length", "health", "/health") == len("status: healthy\n")
    assert v("probe_failed_due_to_regex", "health", "/health") == 0
    assert v("probe_success", "must_not_match", "/health") == 0
    assert v("probe_failed_due_to_regex", "must_not_match", "/health") == 1
    assert v("probe_success", "http_2xx", "/redirect") == 1
    assert v("probe_http_redirects", "http_2xx", "/redirect") == 1
    assert v("probe_http_status_code", "http_no_redirect", "/redirect") == 302
    assert v("probe_success", "http_no_redirect", "/redirect") == 1
    assert v("probe_success", "http_2xx", "/missing") == 0
    assert value(result, "probe_failure_info", module="http_2xx", target=f"{base}/missing", reason="status") == 1
    dead = [s for s in result.samples if s.name == "probe_failure_info" and ("reason", "refused") in s.labels]
    assert len(dead) == 1
    assert 0 < v("probe_duration_seconds", "health", "/health") < 5
    assert result.facts["probes"][f"http_2xx {base}/missing"]["reason"] == "status"


async def test_https_and_certificate_expiry(nginx_server: NginxServer) -> None:
    ca = str(nginx_server.ca_file)
    good, expired = f"{LOCALHOST}:{nginx_server.https_port}", f"{LOCALHOST}:{nginx_server.expired_port}"
    options = {
        "modules": {
            "https_ca": {"prober": "http", "ca_file": ca},
            "https_default": {"prober": "http"},
            "tls_ca": {"prober": "tls", "ca_file": ca},
            "tcp": {"prober": "tcp"},
        },
        "probes": [
            {"module": "https_ca", "target": f"https://{good}/health"},
            {"module": "https_default", "target": f"https://{good}/health"},
            {"module": "tls_ca", "target": good},
            {"module": "tls_ca", "target": expired},
            {"module": "tcp", "target": good},
            {"module": "tcp", "target": f"{LOCALHOST}:{free_port()}"},
        ],
    }
    result = await poll({"address": LOCALHOST}, "probe", options=options)
    leaf, old = nginx_server.leaf_not_after.timestamp(), nginx_server.expired_not_after.timestamp()
    assert value(result, "probe_success", module="https_ca", target=f"https://{good}/health") == 1
    assert value(result, "probe_http_ssl", module="https_ca", target=f"https://{good}/health") == 1
    assert value(result, "probe_ssl_earliest_cert_expiry", module="https_ca", target=f"https://{good}/health") == leaf
    # without the test CA the certificate is untrusted: a TLS failure, not a hang or a crash
    assert value(result, "probe_success", module="https_default", target=f"https://{good}/health") == 0
    assert value(result, "probe_failure_info", module="https_default", target=f"https://{good}/health", reason="tls")
    assert value(result, "probe_success", module="tls_ca", target=good) == 1
    assert value(result, "probe_ssl_earliest_cert_expiry", module="tls_ca", target=good) == leaf
    assert 2 * 86400 < leaf - time.time() < 3 * 86400 + 60  # the short expiry an alert would catch
    assert value(result, "probe_success", module="tls_ca", target=expired) == 0
    assert value(result, "probe_ssl_earliest_cert_expiry", module="tls_ca", target=expired) == old  # still reported
    assert "expired" in result.facts["probes"][f"tls_ca {expired}"]["message"]
    assert value(result, "probe_success", module="tcp", target=good) == 1
    dead = [s for s in result.samples if s.name == "probe_success" and s.value == 0 and ("module", "tcp") in s.labels]
    assert len(dead) == 1


async def test_probe_timeout_never_stalls(nginx_server: NginxServer) -> None:
    """A listener that never answers: the probe fails at its module timeout, the other probe is unharmed."""
    import socket

    listener = socket.socket()
    listener.bind((LOCALHOST, 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    silent = f"http://{LOCALHOST}:{port}/"
    options = {
        "modules": {"quick": {"prober": "http", "timeout": "1s"}, "tlsq": {"prober": "tls", "timeout": "1s"}},
        "probes": [
            {"module": "quick", "target": silent},
            {"module": "tlsq", "target": f"{LOCALHOST}:{port}"},
            {"module": "quick", "target": f"http://{LOCALHOST}:{nginx_server.http_port}/health"},
        ],
    }
    started = time.monotonic()
    try:
        result = await poll({"address": LOCALHOST}, "probe", timeout=15, options=options)
    finally:
        listener.close()
    assert time.monotonic() - started < 4
    assert value(result, "probe_failure_info", module="quick", target=silent, reason="timeout") == 1
    assert value(result, "probe_failure_info", module="tlsq", target=f"{LOCALHOST}:{port}", reason="timeout") == 1
    ok = value(result, "probe_success", module="quick", target=f"http://{LOCALHOST}:{nginx_server.http_port}/health")
    assert ok == 1
