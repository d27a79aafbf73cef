"""Encrypted private keys against a real sshd: ``credentials.ssh.key_file`` + ``passphrase: env:…``
(the README's example) logs in with Ed25519, ECDSA and RSA keys in the OpenSSH, PEM and PKCS#8
formats; a wrong or missing passphrase is a ``credentials`` failure that never shows it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from opsagent.collectors.base import Outcome
from opsagent.collectors.ssh import SshCollector
from opsagent.inventory.model import Asset, CollectorSpec
from tests.peers.sshd import SshServer, add_login_user

pytestmark = pytest.mark.peer
USER = "opsagent-ssh-keys"
PASSPHRASE = "pass phrase 秘密 7f3a"
# (type, ssh-keygen -m format): ssh-keygen writes Ed25519 keys in the OpenSSH format whatever -m
# says, so its PEM-style case comes from openssl below.
CASES = [
    ("ed25519", "RFC4716"),
    ("ecdsa", "RFC4716"),
    ("ecdsa", "PEM"),
    ("ecdsa", "PKCS8"),
    ("rsa", "RFC4716"),
    ("rsa", "PEM"),
    ("rsa", "PKCS8"),
]
CHECKS = [{"name": "loadavg", "command": "cat /proc/loadavg", "parser": "loadavg"}]


@pytest.fixture(scope="module")
def keys(sshd_server: SshServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """One encrypted key per case (plus an openssl PKCS#8 Ed25519 key), all authorized for USER."""
    add_login_user(sshd_server, USER)
    folder = tmp_path_factory.mktemp("keys")
    out: dict[str, Path] = {}
    for kind, fmt in CASES:
        path = folder / f"{kind}-{fmt}"
        argv = ["ssh-keygen", "-q", "-t", kind, "-m", fmt, "-N", PASSPHRASE, "-C", path.name, "-f", str(path)]
        subprocess.run(argv, check=True, capture_output=True, timeout=60)
        out[path.name] = path
    pkcs8 = folder / "ed25519-openssl-PKCS8"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-aes256", "-pass", f"pass:{PASSPHRASE}", "-out", str(pkcs8)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    # OpenSSH 9.2 cannot read this format (ssh-keygen -y: "invalid format"): its public key from cryptography.
    private = serialization.load_pem_private_key(pkcs8.read_bytes(), PASSPHRASE.encode())
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    pkcs8.with_suffix(".pub").write_text(public.decode() + "\n")
    out[pkcs8.name] = pkcs8
    authorized = sshd_server.base_dir / "authorized_keys" / USER
    authorized.write_text("".join(Path(f"{p}.pub").read_text() for p in out.values()))
    yield out


def asset(server: SshServer, key: Path, passphrase: str | None) -> Asset:
    ssh = {"user": USER, "key_file": str(key)}
    if passphrase is not None:
        ssh["passphrase"] = passphrase
    return Asset(name=f"k-{key.name}", address=server.host, port=server.port, credentials={"ssh": ssh})


def spec(server: SshServer) -> CollectorSpec:
    options = {"checks": CHECKS, "known_hosts": [str(server.known_hosts)], "persistent": False}
    return CollectorSpec(name="ssh", options=options, timeout=30)


@pytest.mark.parametrize("name", [f"{k}-{f}" for k, f in CASES] + ["ed25519-openssl-PKCS8"])
async def test_encrypted_key_file_with_passphrase_from_env(
    sshd_server: SshServer, keys: dict[str, Path], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSAGENT_TEST_KEY_PASSPHRASE", PASSPHRASE)
    collector = SshCollector(max_workers=2)
    try:
        result = await collector.collect(
            asset(sshd_server, keys[name], "env:OPSAGENT_TEST_KEY_PASSPHRASE"), spec(sshd_server), {}
        )
    finally:
        collector.close()
    assert result.ok, (result.reason, result.message)
    assert any(s.name == "node_load1" for s in result.samples)


@pytest.mark.parametrize("name", ["ed25519-RFC4716", "rsa-PEM", "ecdsa-PKCS8"])
async def test_wrong_or_missing_passphrase_is_a_credentials_failure(
    sshd_server: SshServer, keys: dict[str, Path], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSAGENT_TEST_KEY_PASSPHRASE", "not-the-passphrase-4711")
    collector = SshCollector(max_workers=2)
    try:
        wrong = await collector.collect(
            asset(sshd_server, keys[name], "env:OPSAGENT_TEST_KEY_PASSPHRASE"), spec(sshd_server), {}
        )
        missing = await collector.collect(asset(sshd_server, keys[name], None), spec(sshd_server), {})
    finally:
        collector.close()
    assert (wrong.outcome, wrong.reason) == (Outcome.FAILED, "credentials"), wrong.message
    assert "wrong passphrase" in wrong.message and "not-the-passphrase-4711" not in wrong.message
    assert (missing.outcome, missing.reason) == (Outcome.FAILED, "credentials"), missing.message
    assert "no passphrase" in missing.message
