"""Host keys against a real sshd whose host key changes and which shows a real host certificate.

- ``accept_unknown_host_key: true`` is OpenSSH's ``StrictHostKeyChecking accept-new``: the key is
  recorded on first contact in opsagent's own known_hosts file, and a later change is refused;
- known_hosts files are read as OpenSSH reads them: ``@cert-authority`` lines (host certificates
  made with ``ssh-keygen -s … -h``), ``@revoked`` lines, hashed names, comments and bad lines.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsagent.collectors.base import CollectResult, Outcome
from opsagent.collectors.ssh import SshCollector
from opsagent.inventory.model import Asset, CollectorSpec
from tests.peers.sshd import SshServer, keygen, restart_sshd, start_sshd

pytestmark = pytest.mark.peer
CHECKS = [{"name": "loadavg", "command": "cat /proc/loadavg", "parser": "loadavg"}]


class Sshd:
    """An sshd of one test alone, restarted with other host keys as the test goes."""

    def __init__(self) -> None:
        self.server = start_sshd()

    def restart(self, host_key: Path, extra: str = "") -> SshServer:
        self.server = restart_sshd(self.server, host_key, extra)
        return self.server


@pytest.fixture
def sshd() -> Iterator[Sshd]:
    holder = Sshd()
    try:
        yield holder
    finally:
        holder.server.stop()
        shutil.rmtree(holder.server.base_dir, ignore_errors=True)


def run(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, timeout=60)


def pub(path: Path) -> str:
    """``type base64`` of a public key file (no comment)."""
    kind, blob, *_ = Path(f"{path}.pub").read_text().split()
    return f"{kind} {blob}"


def name(server: SshServer) -> str:
    return f"[{server.host}]:{server.port}"


async def poll(server: SshServer, known_hosts: list[Path], **options: Any) -> CollectResult:
    asset = Asset(
        name="hk",
        address=server.host,
        port=server.port,
        credentials={"ssh": {"user": server.user, "key_file": str(server.client_key)}},
    )
    merged = {"checks": CHECKS, "known_hosts": [str(p) for p in known_hosts], "persistent": False, **options}
    collector = SshCollector(max_workers=2)
    try:
        return await collector.collect(asset, CollectorSpec(name="ssh", options=merged, timeout=30), {})
    finally:
        collector.close()


def reason(result: CollectResult) -> str:
    return "ok" if result.ok else result.reason


# -- accept-new ----------------------------------------------------------------------------------
async def test_accept_unknown_pins_the_first_key_and_refuses_a_changed_one(sshd: Sshd, tmp_path: Path) -> None:
    server = sshd.server
    empty, pins = tmp_path / "known_hosts", tmp_path / "home" / "known_hosts"
    empty.write_text("")
    options = {"accept_unknown_host_key": True, "accepted_host_keys_file": str(pins)}
    first = await poll(server, [empty], **options)
    assert first.ok, first.message
    assert pins.read_text() == f"{name(server)} {pub(server.base_dir / 'host_ed25519')}\n"
    assert empty.read_text() == ""  # the user's files are never written
    again = await poll(server, [empty], **options)
    assert again.ok, again.message
    assert pins.read_text().count("\n") == 1
    # The server's host key changes: refused from now on, the recorded key stays.
    server = sshd.restart(server.base_dir / "other_host_ed25519")
    changed = await poll(server, [empty], **options)
    assert (changed.outcome, changed.reason) == (Outcome.FAILED, "hostkey_mismatch"), changed.message
    assert str(pins) in changed.message
    assert pins.read_text().count("\n") == 1
    # Without accept_unknown_host_key the recorded key is still held against the host.
    strict = await poll(server, [empty], accepted_host_keys_file=str(pins))
    assert strict.reason == "hostkey_mismatch", strict.message


async def test_accepted_keys_go_under_opsagent_home_by_default(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sshd.server
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    assert (await poll(server, [empty], accept_unknown_host_key=True)).ok
    assert pub(server.base_dir / "host_ed25519") in (tmp_path / "home" / "known_hosts").read_text()
    server = sshd.restart(server.base_dir / "other_host_ed25519")
    assert (await poll(server, [empty], accept_unknown_host_key=True)).reason == "hostkey_mismatch"


async def test_a_host_known_by_another_key_type_is_reached_with_that_type(sshd: Sshd, tmp_path: Path) -> None:
    """A server with ed25519 and RSA host keys, known_hosts holding only the RSA one (ssh-keyscan
    -t rsa): the RSA key is negotiated, as ssh does, instead of a mismatch on ed25519."""
    server = sshd.server
    rsa = server.base_dir / "host_rsa"
    run("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(rsa))
    server = sshd.restart(server.base_dir / "host_ed25519", f"HostKey {rsa}")
    known = tmp_path / "known_hosts"
    known.write_text(f"{name(server)} {pub(rsa)}\n")
    result = await poll(server, [known])
    assert result.ok, result.message


# -- known_hosts as OpenSSH reads it ---------------------------------------------------------------
@pytest.fixture
def ca(tmp_path: Path) -> Path:
    return keygen(tmp_path / "host_ca", "opsagent-test-host-ca")


def certify(sshd: Sshd, ca: Path, principals: str, validity: str = "-5m:+1h") -> SshServer:
    """Sign the server's host key with ``ca`` and restart sshd showing the certificate."""
    key = sshd.server.base_dir / "host_ed25519"
    run(
        "ssh-keygen",
        "-q",
        "-s",
        str(ca),
        "-I",
        "opsagent-test-host",
        "-h",
        "-n",
        principals,
        "-V",
        validity,
        f"{key}.pub",
    )
    return sshd.restart(key, f"HostCertificate {key}-cert.pub")


NOISE = (
    "# fleet known hosts\n"
    "\n"
    "@bogus-marker host.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOOo\n"
    "broken.example ssh-ed25519 this-is-not-base64!!\n"
    "short.example ssh-ed25519\n"
)


async def test_host_certificate_signed_by_a_listed_ca_is_accepted(sshd: Sshd, ca: Path, tmp_path: Path) -> None:
    server = sshd.server
    server = certify(sshd, ca, server.host)
    known = tmp_path / "ssh_known_hosts"
    # The CA line names the host by a wildcard pattern (and excludes another by negation).
    known.write_text(NOISE + f"@cert-authority [127.0.0.?]:*,!other.example {pub(ca)}\n")
    result = await poll(server, [known])
    assert result.ok, result.message
    # Another CA's line for the host does not vouch for it: no plain key is known either.
    other_ca = keygen(tmp_path / "other_ca", "other")
    known.write_text(NOISE + f"@cert-authority * {pub(other_ca)}\n")
    assert (await poll(server, [known])).reason == "hostkey_unknown"
    # A negated pattern excludes the host from the CA line.
    known.write_text(f"@cert-authority *,!{name(server)} {pub(ca)}\n")
    assert (await poll(server, [known])).reason == "hostkey_unknown"


async def test_certificate_for_another_host_or_expired_falls_back_to_the_plain_key(
    sshd: Sshd, ca: Path, tmp_path: Path
) -> None:
    server = sshd.server
    known = tmp_path / "known_hosts"
    known.write_text(f"@cert-authority * {pub(ca)}\n")
    server = certify(sshd, ca, "db01.example.com")
    wrong_name = await poll(server, [known])
    assert wrong_name.reason == "hostkey_unknown" and "not valid for 127.0.0.1" in wrong_name.message
    server = certify(sshd, ca, server.host, validity="20200101:20200201")
    expired = await poll(server, [known])
    assert expired.reason == "hostkey_unknown" and "expired" in expired.message
    # The plain key listed as well: accepted by it, as ssh does.
    known.write_text(known.read_text() + f"{name(server)} {pub(server.base_dir / 'host_ed25519')}\n")
    assert (await poll(server, [known])).ok


async def test_revoked_keys_and_revoked_cas_are_refused(sshd: Sshd, ca: Path, tmp_path: Path) -> None:
    server = sshd.server
    host_key = pub(server.base_dir / "host_ed25519")
    known = tmp_path / "known_hosts"
    known.write_text(f"{name(server)} {host_key}\n@revoked * {host_key}\n")
    plain = await poll(server, [known])
    assert (plain.outcome, plain.reason) == (Outcome.FAILED, "hostkey_revoked"), plain.message
    server = certify(sshd, ca, server.host)
    known.write_text(f"@cert-authority * {pub(ca)}\n@revoked * {pub(ca)}\n")
    revoked_ca = await poll(server, [known])
    assert revoked_ca.reason == "hostkey_revoked", revoked_ca.message
    # Revocation in another file of the list counts too.
    extra = tmp_path / "revoked"
    extra.write_text(f"@revoked {name(server)} {host_key}\n")
    known.write_text(f"@cert-authority * {pub(ca)}\n")
    assert (await poll(server, [known])).ok
    assert (await poll(server, [known, extra])).reason == "hostkey_revoked"


async def test_hashed_known_hosts(sshd: Sshd, tmp_path: Path) -> None:
    server = sshd.server
    known = tmp_path / "known_hosts"
    known.write_text(f"{name(server)} {pub(server.base_dir / 'host_ed25519')}\n")
    run("ssh-keygen", "-H", "-f", str(known))  # what HashKnownHosts yes writes
    known.write_text(NOISE + known.read_text())
    assert str(server.port) not in known.read_text()
    result = await poll(server, [known])
    assert result.ok, result.message
    wrong = tmp_path / "wrong"
    wrong.write_text(f"{name(server)} {pub(server.base_dir / 'other_host_ed25519')}\n")
    run("ssh-keygen", "-H", "-f", str(wrong))
    assert (await poll(server, [wrong])).reason == "hostkey_mismatch"
