"""Agent settings: one optional YAML file, environment variables, command-line flags.

Precedence: flag > environment (``OPSAGENT_STORE``, ``OPSAGENT_LISTEN``, ``OPSAGENT_HOME``) >
config file (``--config``, ``$OPSAGENT_CONFIG`` or ``$OPSAGENT_HOME/opsagent.yaml``) > defaults.
No file is needed: the defaults run the shipped content against a SQLite store in ``~/.opsagent``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from opsagent.loader import load_model
from opsagent.store.engine import sqlite_url
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
    poll_threads: int = Field(default=16, ge=1, le=1000)
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
    traps: TrapsConfig | None = Field(default=None, description="SNMP trap/inform receiver of `serve` (off if unset)")
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
            }
        )
    config = AgentConfig.model_validate(base.model_dump() | updates)
    config._path = path
    return config
