"""The ``web:`` section of the agent config: TLS files go together and are relative to the config file,
read tokens are references only, and serving beyond loopback unprotected is said out loud."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from opsagent.config import load_config
from opsagent.httpd.config import WebConfig
from opsagent.httpd.site import exposure_warning


def test_defaults_are_plain_http_with_open_reads() -> None:
    web = WebConfig()
    assert not web.tls and not web.read_auth and web.header_timeout == 10.0 and web.max_connections == 512


def test_cert_without_key_and_plain_tokens_are_refused() -> None:
    with pytest.raises(ValidationError, match="tls_cert_file and tls_key_file go together"):
        WebConfig(tls_cert_file=Path("c.pem"))
    with pytest.raises(ValidationError, match="prometheus: plain-text tokens are refused"):
        WebConfig(read_tokens={"prometheus": "s3cret"})
    with pytest.raises(ValidationError, match="header_timeout"):
        WebConfig.model_validate({"header_timeout": "soon"})
    assert WebConfig.model_validate({"header_timeout": "1m30s"}).header_timeout == 90.0


def test_tls_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "opsagent.yaml").write_text("web: {tls_cert_file: tls/c.pem, tls_key_file: /etc/k.pem}\n")
    web = load_config(tmp_path / "opsagent.yaml", environ={}).web
    assert web.tls_cert_file == tmp_path / "tls" / "c.pem" and web.tls_key_file == Path("/etc/k.pem")


def test_exposure_warning_beyond_loopback_only() -> None:
    assert exposure_warning("127.0.0.1", WebConfig()) is None
    assert exposure_warning("::1", WebConfig()) is None
    said = exposure_warning("0.0.0.0", WebConfig())
    assert said is not None and "without TLS and web.read_auth" in said
    protected = WebConfig(tls_cert_file=Path("c"), tls_key_file=Path("k"), read_auth=True)
    assert exposure_warning("10.0.0.5", protected) is None
