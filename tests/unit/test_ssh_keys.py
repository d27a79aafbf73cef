"""The SSH pool's key cache: a reconnect reuses the parsed key, a changed key file is read again,
and failures stay clear credential errors (no key text, no passphrase in any message)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from opsagent.collectors.ssh.connection import KeyCache
from opsagent.collectors.ssh.errors import SshFailure
from opsagent.secrets import Secret


def keygen(path: Path, passphrase: str = "") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True)
    return path


def test_a_key_file_is_parsed_once_until_it_changes(tmp_path: Path) -> None:
    cache = KeyCache()
    path = keygen(tmp_path / "id")
    first = cache.load(Secret(str(path)), None)
    assert cache.load(Secret(str(path)), None) is first
    path.unlink()
    path.with_suffix(".pub").unlink()
    keygen(path)  # replaced by another key: read again
    os.utime(path, ns=(1, 1))  # even when the new file's mtime is older
    second = cache.load(Secret(str(path)), None)
    assert second is not first and second.get_fingerprint() != first.get_fingerprint()


def test_key_text_is_cached_by_digest_and_passphrases_are_part_of_the_key(tmp_path: Path) -> None:
    cache = KeyCache()
    path = keygen(tmp_path / "enc", passphrase="pw-7f3a")
    text = Secret(path.read_text())
    key = cache.load(text, Secret("pw-7f3a"))
    assert cache.load(Secret(path.read_text()), Secret("pw-7f3a")) is key
    with pytest.raises(SshFailure) as wrong:
        cache.load(text, Secret("not-it"))
    assert wrong.value.reason == "credentials" and "pw-7f3a" not in str(wrong.value)
    with pytest.raises(SshFailure) as missing:
        cache.load(text, None)
    assert "no passphrase" in str(missing.value)
    assert all("PRIVATE KEY" not in repr(k) for k in cache._keys)


def test_a_missing_key_file_is_a_credentials_failure(tmp_path: Path) -> None:
    with pytest.raises(SshFailure) as exc:
        KeyCache().load(Secret(str(tmp_path / "nope")), None)
    assert exc.value.reason == "credentials" and "cannot read private key" in str(exc.value)


def test_the_oldest_key_leaves_a_full_cache(tmp_path: Path) -> None:
    cache = KeyCache(size=1)
    a, b = keygen(tmp_path / "a"), keygen(tmp_path / "b")
    first = cache.load(Secret(str(a)), None)
    cache.load(Secret(str(b)), None)
    assert cache.load(Secret(str(a)), None) is not first
