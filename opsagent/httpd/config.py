"""Settings of the HTTP server of ``serve`` (the ``web:`` section of the agent config), in the spirit
of Prometheus' ``web.config.file``: TLS, authenticated reads, and limits against slow clients."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opsagent.secrets import is_reference
from opsagent.units import Duration


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tls_cert_file: Path | None = Field(default=None, description="PEM certificate (chain): serve HTTPS")
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file")
    read_auth: bool = Field(
        default=False,
        description="reads (/metrics, /api/v1/…) need a bearer token too: any token of api_token_ref, "
        "api_tokens or read_tokens (/healthz stays open)",
    )
    read_tokens: dict[str, str] = Field(
        default_factory=dict, description="named read-only bearer tokens, identity → env:/file: reference"
    )
    max_connections: int = Field(
        default=512,
        ge=4,
        le=100_000,
        description="open HTTP connections at most; beyond it the one idle longest is closed to make room",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="threads HTTP requests run their store reads and writes on (default: one per core, 2 to 16); "
        "a few serve the console's pages in order, many take Python's one interpreter lock from each other",
    )
    header_timeout: Duration = Field(
        default=10.0, gt=0, le=3600, description="a connection waiting for a request's headers is closed after"
    )
    body_timeout: Duration = Field(default=30.0, gt=0, le=3600, description="a request body must arrive within")
    send_timeout: Duration = Field(
        default=30.0, gt=0, le=3600, description="a client that reads nothing of a response for this long is dropped"
    )

    @field_validator("read_tokens")
    @classmethod
    def _references_only(cls, value: dict[str, str]) -> dict[str, str]:
        for name, ref in value.items():
            if not is_reference(ref):
                raise ValueError(f"{name}: plain-text tokens are refused; use 'env:NAME' or 'file:PATH'")
        return value

    @model_validator(mode="after")
    def _cert_and_key(self) -> WebConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None
