"""The ``auth:`` section of the agent config: sessions, login throttling, password hashing, the roles of
the config's API tokens, and an optional LDAP/AD directory."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsagent.auth.roles import Role
from opsagent.secrets import PLAIN_REFUSED, is_reference
from opsagent.units import Duration


class Argon2Settings(BaseModel):
    """argon2id parameters (default: RFC 9106's second recommendation); a hash made with other values
    is rehashed at the user's next login."""

    model_config = ConfigDict(extra="forbid")

    time_cost: int = Field(default=3, ge=1, le=100)
    memory_kib: int = Field(default=65536, ge=1024, le=4 * 1024 * 1024)
    parallelism: int = Field(default=4, ge=1, le=64)


class LdapConfig(BaseModel):
    """Bind as the user against an LDAP or Active Directory server: the service account finds the
    user's DN, the user's own bind checks the password, group membership gives the role."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="ldap://host:389 or ldaps://host:636")
    start_tls: bool = False
    ca_file: Path | None = Field(default=None, description="CA of the server's certificate (ldaps or start_tls)")
    bind_dn: str | None = Field(default=None, description="service account searching for users (None: anonymous)")
    bind_password: str | None = Field(default=None, description="env:/file: reference of the service password")
    user_base: str
    user_filter: str = Field(default="(uid={username})", description="AD: (sAMAccountName={username})")
    group_base: str | None = Field(default=None, description="where groups are searched (default: user_base)")
    group_filter: str = Field(default="(|(member={dn})(uniqueMember={dn})(memberUid={username}))")
    display_name_attribute: str = "cn"
    email_attribute: str = "mail"
    group_roles: dict[str, Role] = Field(
        default_factory=dict, description="group DN or cn → role; a user in several gets the highest"
    )
    default_role: Role | None = Field(default=None, description="role of a user in no mapped group (None: refused)")
    timeout: Duration = Field(default=5.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("ldap://", "ldaps://")):
            raise ValueError("must start with ldap:// or ldaps://")
        return value

    @field_validator("bind_password")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None and not is_reference(value):
            raise ValueError(PLAIN_REFUSED)
        return value


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_idle_timeout: Duration = Field(
        default=1800.0, gt=0, le=30 * 86400, description="unused this long: signed out"
    )
    session_lifetime: Duration = Field(
        default=43200.0, gt=0, le=365 * 86400, description="signed out this long after login"
    )
    login_max_failures: int = Field(
        default=5, ge=1, le=1000, description="failed logins of one username before backoff"
    )
    login_max_failures_per_address: int = Field(
        default=20, ge=1, le=100_000, description="failed logins from one client address before backoff"
    )
    login_backoff: Duration = Field(default=60.0, gt=0, le=86400, description="first wait; doubles per further failure")
    login_backoff_max: Duration = Field(default=900.0, gt=0, le=86400)
    token_roles: dict[str, Role] = Field(
        default_factory=dict,
        description="role of each config token's identity ('api' for api_token_ref, the names of api_tokens); "
        "default engineer",
    )
    argon2: Argon2Settings = Field(default_factory=Argon2Settings)
    ldap: LdapConfig | None = None
