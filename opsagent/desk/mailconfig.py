"""The ``desk_mail`` section of the agent config: the support mailbox the email channel polls.

```yaml
desk_mail:
  host: imap.example.com
  tls: imaps                 # imaps (993) | starttls (143) | none (tests only)
  user: support
  password: env:SUPPORT_IMAP_PASSWORD   # env:NAME / file:PATH, never the value
  address: support@example.com          # our own address: mail from it is never answered
  folder: INBOX
  poll_interval: 60s
  receiver: desk-mail        # the email receiver of alerts/notifications.yaml that sends our replies
  internal_domains: [corp.example]      # new requesters from these domains are internal, others external
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsagent.secrets import SecretRef, is_reference
from opsagent.units import Duration


class MailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535, description="default: 993 for imaps, else 143")
    tls: Literal["imaps", "starttls", "none"] = "imaps"
    cafile: Path | None = Field(default=None, description="CA bundle for a private CA (default: the system's)")
    user: str = Field(min_length=1, max_length=255)
    password: str = Field(description="credential reference: env:NAME or file:PATH")
    address: str = Field(min_length=3, max_length=320, description="the support address (From of our replies)")
    folder: str = Field(default="INBOX", min_length=1, max_length=255)
    poll_interval: Duration = Field(default=60.0, ge=5)
    timeout: Duration = Field(default=30.0, gt=0)
    receiver: str | None = Field(default=None, description="email receiver of notifications.yaml (default: first)")
    internal_domains: list[str] = Field(default_factory=list)
    category: str = Field(default="other", min_length=1, max_length=16)
    type: Literal["incident", "service_request"] = "incident"
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    rate_limit: int = Field(default=20, ge=1, description="mails per sender and rate_window; more are skipped")
    rate_window: Duration = Field(default=3600.0, gt=0)
    batch: int = Field(default=1000, ge=1, le=100_000, description="mails taken per fetch")

    @field_validator("password")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not is_reference(value):
            raise ValueError("plain-text secrets are refused; use 'env:NAME' or 'file:PATH'")
        return value

    @field_validator("internal_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in value if d.strip()]

    @property
    def secret(self) -> SecretRef:
        return SecretRef.parse(self.password)

    @property
    def imap_port(self) -> int:
        return self.port or (993 if self.tls == "imaps" else 143)
