from __future__ import annotations

import logging
from pathlib import Path

import pytest

from opsagent.errors import SecretError
from opsagent.inventory.model import Asset
from opsagent.secrets import Secret, SecretRef, redact


def test_env_reference_resolves_at_use_and_never_prints() -> None:
    ref = SecretRef.parse("env:DB_PW")
    secret = ref.resolve({"DB_PW": "s3cr3t!"})
    assert secret.reveal() == "s3cr3t!"
    for shown in (repr(secret), str(secret), f"{secret}", repr([secret]), str({"pw": secret})):
        assert "s3cr3t" not in shown


def test_missing_env_names_the_variable_not_a_value() -> None:
    with pytest.raises(SecretError, match="DB_PW"):
        SecretRef.parse("env:DB_PW").resolve({})


def test_file_reference_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    ref = SecretRef.parse("file:pw", base_dir=tmp_path)
    assert str(ref) == f"file:{tmp_path / 'pw'}"
    assert ref.resolve().reveal() == "from-file"


def test_unreadable_file_error_hides_nothing_secret(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="cannot read file:"):
        SecretRef.parse(f"file:{tmp_path / 'missing'}").resolve()


def test_plain_text_secret_refused_in_inventory() -> None:
    with pytest.raises(ValueError, match="plain-text secrets are refused"):
        Asset(name="db1", credentials={"postgres": {"user": "mon", "password": "hunter2"}})
    asset = Asset(name="db1", credentials={"postgres": {"user": "mon", "password": "env:PGPW"}})
    assert asset.credential_ref("postgres", "password") == SecretRef("env", "PGPW")
    assert asset.credential_ref("postgres", "user") is None


def test_redact_output_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("tok-123")
    text = redact("login with tok-123 ok", [secret])
    assert text == "login with *** ok"
    logging.getLogger("t").warning("using %s", secret)
    assert "tok-123" not in caplog.text


@pytest.mark.parametrize("name", ["snmp_community", "db_password", "ansible_become_pass", "api_key", "vault.token"])
def test_plain_text_secret_vars_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: plain-text secrets are refused"):
        Asset(name="x", vars={name: "public"})
    assert Asset(name="x", vars={name: "env:SNMP_COMMUNITY"}).vars[name] == "env:SNMP_COMMUNITY"


@pytest.mark.parametrize("name", ["token_ttl", "ssh_key_file", "password_policy", "compass", "bypass_proxy"])
def test_harmless_var_names_pass(name: str) -> None:
    assert Asset(name="x", vars={name: "value"}).vars[name] == "value"


def test_jinja_indirection_and_non_strings_pass() -> None:
    asset = Asset(name="x", vars={"db_password": "{{ vault_db_password }}", "snmp_community": None})
    assert asset.vars["db_password"] == "{{ vault_db_password }}"
