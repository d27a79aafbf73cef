"""Arguments of each step type. A string is the short form of the main argument
(``ssh: uptime`` is ``ssh: {command: uptime}``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from opsagent.units import Duration


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShellArgs(_Args):
    command: str = Field(min_length=1)
    chdir: str | None = None
    env: dict[str, str] = Field(default_factory=dict)


class SshArgs(_Args):
    command: str = Field(min_length=1)
    sudo: bool = False


class CliArgs(_Args):
    """netmiko: ``commands`` are sent one by one (``send_command``), ``config`` as one config set."""

    commands: list[str] = Field(default_factory=list)
    config: list[str] = Field(default_factory=list)
    device_type: str | None = Field(default=None, description="netmiko device_type; default: asset var or cisco_ios")
    use_textfsm: bool = False
    save: bool = Field(default=False, description="save the configuration after a config set")

    @model_validator(mode="after")
    def _something(self) -> CliArgs:
        if not self.commands and not self.config:
            raise ValueError("cli: give commands or config")
        return self


class SnmpArgs(_Args):
    """Transport settings default to the asset's snmp collector options (then that collector's defaults)."""

    oids: list[str] = Field(min_length=1)
    version: str | None = Field(default=None, pattern=r"^(1|2c|3)$")
    port: int | None = Field(default=None, ge=1, le=65535)
    retries: int | None = Field(default=None, ge=0, le=10)
    timeout: Duration | None = Field(default=None, gt=0, le=60, description="per try (snmpget -t)")


class SqlArgs(_Args):
    query: str = Field(min_length=1)
    params: list[Any] = Field(default_factory=list, description="bound parameters (%s placeholders)")
    driver: str | None = Field(
        default=None, pattern=r"^(postgres|mysql|redis)$", description="redis: query is a command"
    )
    database: str | None = None
    read_only: bool = False


class HttpArgs(_Args):
    url: str = Field(min_length=1)
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    json_body: Any = Field(default=None, alias="json")
    status: list[int] = Field(default_factory=lambda: [200], description="expected status codes")
    verify_tls: bool = True
    max_bytes: int = Field(default=1024 * 1024, ge=1)


class WaitArgs(_Args):
    """Evaluate ``that`` every ``interval`` (after running ``probe``, registered as ``result``)
    until it holds; the step's ``timeout`` bounds the wait (default 60 s)."""

    that: str = Field(min_length=1)
    interval: Duration = 2.0
    probe: dict[str, Any] | None = None


class ApproveArgs(_Args):
    message: str = Field(min_length=1)
    approvers: list[str] = Field(default_factory=list, description="who may approve through the API (empty: anyone)")


class NotifyArgs(_Args):
    message: str = Field(min_length=1)
    receiver: list[str] = Field(
        default_factory=list, description="receiver name(s) of alerts/notifications.yaml (webhook, email, robots)"
    )
    url: str | None = Field(default=None, description="webhook URL (may be an env:/file: reference)")
    format: str = Field(default="webhook", pattern=r"^(webhook|dingtalk|wecom|feishu)$")

    @field_validator("receiver", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_way(self) -> NotifyArgs:
        if self.receiver and self.url:
            raise ValueError("notify: give receiver or url, not both")
        if any(not name for name in self.receiver):
            raise ValueError("notify: a receiver name is empty")
        return self


class IncidentArgs(_Args):
    action: str = Field(default="note", pattern=r"^(note|ack|resolve|escalate)$")
    message: str = ""
    cause: str | None = None
    steps: str | None = None


ARGS: dict[str, tuple[type[_Args], str]] = {
    "shell": (ShellArgs, "command"),
    "ssh": (SshArgs, "command"),
    "cli": (CliArgs, "commands"),
    "snmp": (SnmpArgs, "oids"),
    "sql": (SqlArgs, "query"),
    "http": (HttpArgs, "url"),
    "wait_until": (WaitArgs, "that"),
    "approve": (ApproveArgs, "message"),
    "notify": (NotifyArgs, "message"),
    "incident": (IncidentArgs, "action"),
}


def validate_args(kind: str, raw: Any) -> _Args:
    model, main = ARGS[kind]
    if isinstance(raw, str | list):
        if kind in ("cli", "snmp") and isinstance(raw, str):
            raw = [raw]
        raw = {main: raw}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{kind}{'.' + where if where else ''}: {first['msg']}") from None
