"""The ``traps`` section of the agent config: where ``opsagent serve`` listens for SNMP notifications.

```yaml
traps:
  listen: 0.0.0.0:162            # any UDP port; 162 needs root or CAP_NET_BIND_SERVICE
  communities: ["env:TRAP_COMMUNITY"]
  users:                           # SNMPv3 (traps: the sender's engine ID; informs use ours)
    - {name: trapuser, auth_protocol: SHA-256, auth_password: "env:TRAP_AUTH",
       priv_protocol: AES-256, priv_password: "env:TRAP_PRIV", engine_id: "0x80000009031234"}
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsagent.secrets import SecretRef, is_reference


def _ref(value: str | None) -> str | None:
    if value is not None and not is_reference(value):
        raise ValueError("plain-text secrets are refused; use 'env:NAME' or 'file:PATH'")
    return value


class TrapUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    auth_protocol: str = "SHA"
    auth_password: str
    priv_protocol: str | None = None
    priv_password: str | None = None
    engine_id: str | None = None

    _a = field_validator("auth_password", "priv_password")(classmethod(lambda cls, v: _ref(v)))


class TrapsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen: str = "127.0.0.1:9162"
    communities: list[str] = Field(default_factory=list, description="env:/file: references")
    users: list[TrapUser] = Field(default_factory=list)

    @field_validator("communities")
    @classmethod
    def _refs(cls, value: list[str]) -> list[str]:
        for item in value:
            _ref(item)
        return value


def reveal(ref: str | None) -> str | None:
    return SecretRef.parse(ref).resolve().reveal() if ref else None
