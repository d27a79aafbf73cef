"""Agent settings: one optional YAML file, environment variables, command-line flags.

Precedence: flag > environment (``OPSAGENT_STORE``, ``OPSAGENT_LISTEN``, ``OPSAGENT_HOME``) >
config file (``--config``, ``$OPSAGENT_CONFIG`` or ``$OPSAGENT_HOME/opsagent.yaml``) > defaults.
No file is needed: the defaults run the shipped content against a SQLite store in ``~/.opsagent``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator

from opsagent.auth.config import AuthConfig
from opsagent.cluster.config import ClusterConfig
from opsagent.desk.mailconfig import MailConfig
from opsagent.desk.settings import DeskSettings
from opsagent.errors import ConfigError
from opsagent.httpd.config import WebConfig
from opsagent.i18n import system_language, system_zone, valid_zone
from opsagent.loader import load_model, parse_yaml_file
from opsagent.secrets import PLAIN_REFUSED, check_plain_secrets, is_reference, plain_secrets
from opsagent.store.urls import sqlite_url
from opsagent.traps.config import TrapsConfig

DEFAULT_LISTEN = "127.0.0.1:9810"


def shipped_content_root() -> Path:
    """Content shipped with the package (wheel) or, from a source checkout, the repository root."""
    package = Path(__file__).resolve().parent
    packaged = package / "_content"
    return packaged if packaged.is_dir() else package.parent


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listen address must be HOST:PORT, got {value!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


DEFAULT_POLL_WAVE = 15.0  # seconds between poll waves (opsagent/scheduler.py says why)


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: Path = Field(default_factory=lambda: Path("~/.opsagent").expanduser())
    store: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under home")
    listen: str = DEFAULT_LISTEN
    content_roots: list[Path] = Field(
        default_factory=list,
        description="extra content roots (each holding collectors/, inventory/, alerts/, runbooks/), "
        "searched after the shipped content; a later root overrides a same-named profile",
    )
    seed_inventory: list[Path] = Field(
        default_factory=list,
        description="inventory files imported when the store holds no asset yet "
        "(default: the shipped inventory/local.yaml: this host)",
    )
    max_concurrent_polls: int = Field(default=64, ge=1, le=10000)
    max_concurrent_failing_polls: int = Field(
        default=32,
        ge=1,
        le=10000,
        description="concurrent polls of targets not (yet) known healthy: first polls and failing targets, "
        "kept apart so dead targets never delay healthy ones (each also gets a worker thread of its own)",
    )
    poll_threads: int = Field(default=16, ge=1, le=1000)
    poll_wave: float = Field(
        default=DEFAULT_POLL_WAVE,
        ge=0,
        le=3600,
        description="seconds between poll waves: targets start in waves this far apart, each target at a fixed "
        "wave of its interval (warm caches, shared wake-ups; see opsagent/scheduler.py); 0: one by one",
    )
    collector_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="agent-wide settings per collector type, e.g. {ssh: {max_workers: 64}}",
    )
    api_token_ref: str = Field(
        default="env:OPSAGENT_API_TOKEN",
        description="credential reference (env:NAME or file:PATH) of the bearer token that JSON API writes "
        "(ack, resolve, feedback) require; writes are refused while it does not resolve",
    )
    api_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="named bearer tokens, identity → credential reference; a write made with one is recorded "
        "in that identity's name (runbook runs and approvals); the api_token_ref token's identity is 'api'",
    )
    web: WebConfig = Field(
        default_factory=WebConfig, description="HTTP server of `serve`: TLS, authenticated reads, slow-client limits"
    )
    auth: AuthConfig = Field(
        default_factory=AuthConfig, description="users and sessions: timeouts, login throttling, token roles, LDAP"
    )
    traps: TrapsConfig | None = Field(default=None, description="SNMP trap/inform receiver of `serve` (off if unset)")
    desk_mail: MailConfig | None = Field(default=None, description="the desk's support mailbox (IMAP; off if unset)")
    desk: DeskSettings = Field(
        default_factory=DeskSettings, description="the desk: retention of personal data, expiry warnings"
    )
    cluster: ClusterConfig = Field(
        default_factory=ClusterConfig, description="agents sharing one PostgreSQL store (see Cluster in the README)"
    )
    language: Literal["zh", "en"] | None = Field(
        default=None, description="language of reports, notifications and messages (default: from $LANG)"
    )
    timezone: str | None = Field(
        default=None, description="IANA zone of every time shown and every cron schedule (default: the host's zone)"
    )

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str | None) -> str | None:
        return valid_zone(value) if value is not None else None

    @property
    def lang(self) -> str:
        return self.language or system_language()

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timezone) if self.timezone else system_zone()

    @field_validator("api_token_ref")
    @classmethod
    def _token_ref(cls, value: str) -> str:
        if not is_reference(value):
            raise ValueError(PLAIN_REFUSED)
        return value

    @field_validator("api_tokens", "collector_settings")
    @classmethod
    def _no_plain_tokens(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if info.field_name == "api_tokens":  # every value is a token, whatever its identity is called
            for name, ref in value.items():
                if not is_reference(ref):
                    raise ValueError(f"{name}: {PLAIN_REFUSED}")
        result: dict[str, Any] = check_plain_secrets(value)
        return result

    _path: Path | None = PrivateAttr(default=None)  # the file it was read from: errors found later name it

    @property
    def path(self) -> Path | None:
        return self._path

    @field_validator("listen")
    @classmethod
    def _valid_listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @property
    def store_url(self) -> str:
        return self.store or sqlite_url(self.home / "opsagent.db")

    @property
    def listen_address(self) -> tuple[str, int]:
        return parse_listen(self.listen)

    @property
    def roots(self) -> list[Path]:
        return [shipped_content_root(), *self.content_roots]

    @property
    def seed_files(self) -> list[Path]:
        return self.seed_inventory or [shipped_content_root() / "inventory" / "local.yaml"]


def load_config(
    path: Path | None = None, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> AgentConfig:
    env = os.environ if environ is None else environ
    home = Path(env.get("OPSAGENT_HOME", "~/.opsagent")).expanduser()
    if path is None and env.get("OPSAGENT_CONFIG"):
        path = Path(env["OPSAGENT_CONFIG"])
    if path is None and (home / "opsagent.yaml").is_file():
        path = home / "opsagent.yaml"
    if path is not None:
        _refuse_plain_secrets(path)
    base = load_model(path, AgentConfig) if path is not None else AgentConfig(home=home)
    updates: dict[str, Any] = {}
    if "OPSAGENT_HOME" in env:
        updates["home"] = home
    if env.get("OPSAGENT_STORE"):
        updates["store"] = env["OPSAGENT_STORE"]
    if env.get("OPSAGENT_LISTEN"):
        updates["listen"] = env["OPSAGENT_LISTEN"]
    updates.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if path is not None:  # relative paths in the file are relative to the file, as in Ansible
        base_dir = path.resolve().parent
        base = base.model_copy(
            update={
                "content_roots": [base_dir / p for p in base.content_roots],
                "seed_inventory": [base_dir / p for p in base.seed_inventory],
                "web": base.web.model_copy(
                    update={
                        "tls_cert_file": base_dir / base.web.tls_cert_file if base.web.tls_cert_file else None,
                        "tls_key_file": base_dir / base.web.tls_key_file if base.web.tls_key_file else None,
                    }
                ),
            }
        )
    config = AgentConfig.model_validate(base.model_dump() | updates)
    config._path = path
    return config


def _refuse_plain_secrets(path: Path) -> None:
    """Tokens and passwords in the file only as references, refused at the line of the value
    (``store`` is exempt: its URL names a password through libpq's PGPASSFILE, as the README says)."""
    doc = parse_yaml_file(path)
    if not isinstance(doc.data, dict):
        return
    data = {k: v for k, v in doc.data.items() if k != "store"}
    found = [doc.issue(loc, message) for loc, message in plain_secrets(data)]
    if found:
        raise ConfigError(found)
