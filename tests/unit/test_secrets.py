from __future__ import annotations

import logging
from pathlib import Path

import pytest

from opsagent.config import load_config
from opsagent.errors import ConfigError, SecretError
from opsagent.inventory.importers.native import load_native
from opsagent.inventory.model import Asset
from opsagent.secrets import PLAIN_REFUSED, URL_REFUSED, Secret, SecretRef, has_password, redact


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


def _issues(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [str(i) for i in exc.value.issues]


def test_plain_secrets_in_any_field_are_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(
        "assets:\n"
        "  - name: sw1\n"
        "    credentials:\n"
        "      snmp: {version: '3', user: u, auth_pass: hunter2}\n"
        "  - name: db1\n"
        "    credentials:\n"
        "      postgres: {dsn: 'postgresql://mon:pw123@db1/app'}\n"
        "  - name: web\n"
        "    collectors:\n"
        "      - name: probe\n"
        "        options:\n"
        "          probes: [{module: http, target: 'https://u:pw@web/x'}]\n"
        "  - name: db2\n"
        "    collectors:\n"
        "      - name: postgres\n"
        "        options: {dsn: 'host=db2 user=mon password=secret1'}\n"
        "  - name: ok\n"
        "    credentials: {snmp: {auth_pass: 'env:AUTH'}, http: {url: 'https://u@web/x'}}\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_native(path)
    issues = _issues(exc)
    assert issues == [
        f"{path}:4: assets.0.credentials.snmp.auth_pass: {PLAIN_REFUSED}",
        f"{path}:7: assets.1.credentials.postgres.dsn: {URL_REFUSED}",
        f"{path}:12: assets.2.collectors.0.options.probes.0.target: {URL_REFUSED}",
        f"{path}:16: assets.3.collectors.0.options.dsn: {URL_REFUSED}",
    ]
    assert not any(s in " ".join(issues) for s in ("hunter2", "pw123", "secret1"))
    # The models refuse the same whatever the route (CSV, Ansible, API).
    with pytest.raises(ValueError, match="auth_pass: plain-text"):
        Asset(name="x", credentials={"snmp": {"auth_pass": "hunter2"}})
    with pytest.raises(ValueError, match="URL or DSN"):
        Asset(name="x", collectors=[{"name": "probe", "options": {"url": "http://a:b@h/"}}])


def test_plain_tokens_in_the_agent_config_are_refused_with_line(tmp_path: Path) -> None:
    path = tmp_path / "opsagent.yaml"
    path.write_text(
        "listen: 127.0.0.1:9999\n"
        "api_tokens:\n"
        "  alice: hunter2\n"
        "  bob: env:BOB_TOKEN\n"
        "api_token_ref: plain-token\n"
        "collector_settings:\n"
        "  snmp: {auth_pass: xx}\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path, environ={})
    assert _issues(exc) == [
        f"{path}:3: api_tokens.alice: {PLAIN_REFUSED}",
        f"{path}:5: api_token_ref: {PLAIN_REFUSED}",
        f"{path}:7: collector_settings.snmp.auth_pass: {PLAIN_REFUSED}",
    ]
    path.write_text("api_tokens: {bob: 'env:BOB_TOKEN'}\napi_token_ref: file:/etc/opsagent/token\n")
    assert load_config(path, environ={}).api_tokens == {"bob": "env:BOB_TOKEN"}


def test_a_secret_file_readable_by_others_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.write_text("pw\n")
    shared.chmod(0o644)
    private = tmp_path / "private"
    private.write_text("pw\n")
    private.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="opsagent.secrets"):
        SecretRef.parse(f"file:{shared}").resolve()
        SecretRef.parse(f"file:{shared}").resolve()
        SecretRef.parse(f"file:{private}").resolve()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"secret file {shared} is accessible by group/other (mode 0644): chmod 600 it"]


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("postgresql://mon:pw@db/app", True),
        ("https://u:p@web/x", True),
        ("host=db user=mon password=x", True),
        ("dbname=app password='a b'", True),
        ("postgresql://mon@db/app", False),
        ("https://web/x?user=a", False),
        ("reset the password = yearly", False),  # free text, not a DSN
        ("{{ vault_dsn }}", False),
    ],
)
def test_urls_and_dsns_with_a_password(text: str, refused: bool) -> None:
    assert has_password(text) is refused
