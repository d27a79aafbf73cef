"""known_hosts parsing and host matching as OpenSSH does it (pure logic; the peer tests in
tests/peer/test_ssh_host_keys.py check the whole policy against a real sshd)."""

from __future__ import annotations

import base64
import struct

import pytest

from opsagent.collectors.ssh import knownhosts as kh


def blob(kind: str = "ssh-ed25519", body: bytes = b"\x01" * 32) -> str:
    raw = struct.pack(">I", len(kind)) + kind.encode() + struct.pack(">I", len(body)) + body
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("patterns", "name", "expected"),
    [
        ("web1.example.com", "web1.example.com", True),
        ("WEB1.example.com", "web1.EXAMPLE.com", True),
        ("*.example.com", "web1.example.com", True),
        ("*.example.com", "[web1.example.com]:2222", False),  # another port needs its own pattern
        ("[web1.example.com]:2222", "[web1.example.com]:2222", True),
        ("[*.example.com]:2222", "[web1.example.com]:2222", True),
        ("[10.0.0.?]:*", "[10.0.0.7]:22022", True),
        ("10.0.0.?", "10.0.0.17", False),
        ("*,!db*.example.com", "db1.example.com", False),
        ("!db*.example.com,*", "web1.example.com", True),
        ("!db1.example.com", "web1.example.com", False),  # only a negation: no positive match
        ("a.example.com,b.example.com", "b.example.com", True),
    ],
)
def test_host_patterns(patterns: str, name: str, expected: bool) -> None:
    assert kh.host_matches(patterns, name) is expected


def test_hashed_names() -> None:
    field = kh.hash_name("[10.0.0.7]:2222", b"0123456789abcdefghij")
    assert kh.host_matches(field, "[10.0.0.7]:2222")
    assert not kh.host_matches(field, "[10.0.0.7]:22")
    assert not kh.host_matches("|1|bad|", "x") and not kh.host_matches("|1|!!|??", "x")


def test_lines_markers_and_bad_lines_are_skipped() -> None:
    text = "\n".join(
        [
            "# comment",
            "",
            f"web1 ssh-ed25519 {blob()} a comment",
            f"@cert-authority *.example.com ssh-ed25519 {blob(body=b'ca' * 16)}",
            f"@revoked * ssh-rsa {blob('ssh-rsa', b'r' * 40)}",
            f"@unknown-marker web1 ssh-ed25519 {blob()}",
            "web2 ssh-ed25519 not-base64!!",
            "web3 ssh-ed25519",
            f"web4 ssh-rsa {blob()}",  # the blob says ssh-ed25519
            "@cert-authority",
        ]
    )
    entries = kh.parse(text, "kh")
    assert [(e.marker, e.patterns, e.source) for e in entries] == [
        (None, "web1", "kh:3"),
        ("@cert-authority", "*.example.com", "kh:4"),
        ("@revoked", "*", "kh:5"),
    ]
    view = kh.HostView.of(entries, "web1")
    assert len(view.keys) == 1 and not view.authorities and len(view.revoked) == 1
    assert kh.HostView.of(entries, "db.example.com").authorities


def test_lookup_name() -> None:
    assert kh.lookup_name("h", 22) == "h" and kh.lookup_name("h", 2222) == "[h]:2222"
