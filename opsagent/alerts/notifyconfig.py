"""The alerting config file (``alerts/notifications.yaml``): evaluation, flap detection, receivers,
routes and Alertmanagers to forward to. Modelled on Alertmanager's config so teams recognise it.

Robot webhook URLs carry access tokens, so they (and SMTP passwords, signing secrets) are credential
references (``env:NAME`` / ``file:PATH``) resolved at send time, never values in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opsagent.alerts.matchers import Matcher, parse_matcher
from opsagent.loader import load_model
from opsagent.secrets import SecretRef
from opsagent.units import Duration

NOTIFY_KEYS = frozenset({"receivers", "routes", "alertmanagers", "evaluation", "flapping"})
NOTIFY_FILE_NAMES = ("notifications.yaml", "notifications.yml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class WebhookConfig(_Strict):
    """Generic JSON webhook (Alertmanager's webhook payload, version 4)."""

    url: str | None = Field(default=None, description="plain URL (use url_ref when it carries a token)")
    url_ref: SecretRef | None = None
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if (self.url is None) == (self.url_ref is None):
            raise ValueError("give exactly one of url or url_ref")
        return self


class RobotConfig(_Strict):
    """DingTalk / WeCom / Feishu group robots: the URL holds the token, so only a reference."""

    url_ref: SecretRef
    secret_ref: SecretRef | None = Field(default=None, description="signing secret (DingTalk, Feishu)")
    mentions: list[str] = Field(default_factory=list, description="mobiles (DingTalk/WeCom) to @")
    timeout: Duration = 10.0


class EmailConfig(_Strict):
    to: list[str] = Field(min_length=1)
    from_: str = Field(alias="from")
    smarthost: str = Field(description="HOST:PORT of the SMTP server")
    username: str | None = None
    password_ref: SecretRef | None = None
    starttls: Literal["auto", "always", "never"] = "auto"
    timeout: Duration = 15.0

    @field_validator("smarthost")
    @classmethod
    def _hostport(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("smarthost must be HOST:PORT")
        return value


class Receiver(_Strict):
    name: str = Field(min_length=1)
    webhook: WebhookConfig | None = None
    email: EmailConfig | None = None
    dingtalk: RobotConfig | None = None
    wecom: RobotConfig | None = None
    feishu: RobotConfig | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Receiver:
        kinds = [k for k in ("webhook", "email", "dingtalk", "wecom", "feishu") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a receiver has exactly one of webhook, email, dingtalk, wecom, feishu")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("webhook", "email", "dingtalk", "wecom", "feishu") if getattr(self, k) is not None)


class Route(_Strict):
    """Alerts matching ``matchers`` go to ``receiver``, grouped; every matching route gets them."""

    receiver: str
    matchers: list[str] = Field(default_factory=list, description='e.g. severity=~"critical|warning"')
    group_by: list[str] = Field(default_factory=lambda: ["alertname"], description="['...'] groups by all labels")
    group_wait: Duration = 0.0
    group_interval: Duration = 60.0
    repeat_interval: Duration = 4 * 3600.0
    send_resolved: bool = True

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_matcher(text)
        return value

    def parsed_matchers(self) -> list[Matcher]:
        return [parse_matcher(t) for t in self.matchers]


class AlertmanagerTarget(_Strict):
    """An Alertmanager that receives opsagent's alerts (API v2), as Prometheus sends them."""

    url: str = Field(description="base URL, e.g. http://alertmanager:9093")
    timeout: Duration = 10.0
    resend_interval: Duration = 60.0


class EvaluationConfig(_Strict):
    interval: Duration = Field(default=60.0, gt=0)
    reopen_within: Duration = Field(
        default=3600.0, description="a re-firing alert reopens its incident if it resolved this recently"
    )
    external_url: str = "http://opsagent"


class FlappingConfig(_Strict):
    """Nagios-style flap detection over the last ``window`` evaluations (percent state change)."""

    enabled: bool = True
    window: int = Field(default=21, ge=3, le=200)
    high_threshold: float = Field(default=50.0, gt=0, le=100)
    low_threshold: float = Field(default=25.0, ge=0, le=100)

    @model_validator(mode="after")
    def _order(self) -> FlappingConfig:
        if self.low_threshold >= self.high_threshold:
            raise ValueError("low_threshold must be below high_threshold")
        return self


class NotifyConfig(_Strict):
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    flapping: FlappingConfig = Field(default_factory=FlappingConfig)
    receivers: list[Receiver] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    alertmanagers: list[AlertmanagerTarget] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_receivers(self) -> NotifyConfig:
        names = [r.name for r in self.receivers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate receiver names: {', '.join(dupes)}")
        for route in self.routes:
            if route.receiver not in names:
                raise ValueError(f"route names unknown receiver {route.receiver!r}")
        return self


def load_notify_config(roots: list[Path]) -> NotifyConfig:
    """The last root's ``alerts/notifications.yaml`` wins (a site overrides the shipped default)."""
    found: Path | None = None
    for root in roots:
        for name in NOTIFY_FILE_NAMES:
            if (root / "alerts" / name).is_file():
                found = root / "alerts" / name
    return load_model(found, NotifyConfig) if found is not None else NotifyConfig()
