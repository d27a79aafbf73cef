"""The runbook file format: header, parameters, targets, execution policy and steps.

A step has a ``name``, exactly one step-type key (``shell``, ``ssh``, ``block``, …) and the common
keys. Each step type's arguments are validated by its own model (``steptypes.ARGS``) and every
template is parsed, so ``opsagent check`` reports a typo or a broken ``{{ }}`` with file:line
before a run does.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from opsagent.errors import ConfigError, ConfigIssue
from opsagent.i18n import valid_zone
from opsagent.loader import Document, parse_yaml_file, validate
from opsagent.units import Duration

STEP_TYPES = ("shell", "ssh", "cli", "snmp", "sql", "http", "wait_until", "approve", "notify", "incident", "block")
PARAM_TYPES = ("str", "int", "float", "bool", "duration", "list", "choice")
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"asset", "vars", "facts", "params", "incident", "run", "item", "result", "results"}


class RunbookKind(StrEnum):
    INSPECTION = "inspection"
    EMERGENCY = "emergency"
    TASK = "task"


class Parameter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(default="str", pattern=r"^(str|int|float|bool|duration|list|choice)$")
    default: Any = None
    description: str = ""
    required: bool = False
    choices: list[Any] = Field(default_factory=list, description="allowed values (type choice)")


class CheckRule(BaseModel):
    """One assertion: the first rule whose condition holds gives the step's check status.

    ``fail: <expr>`` / ``warn: <expr>`` / ``pass: <expr>``; the expression is Jinja (bare, as in
    Ansible ``when``, or wrapped in ``{{ }}``). ``value`` and ``threshold`` go into the report.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    fail: str | None = None
    warn: str | None = None
    pass_: str | None = Field(default=None, alias="pass")
    message: str = ""
    threshold: str | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> CheckRule:
        given = [k for k in ("fail", "warn", "pass_") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a check needs exactly one of fail, warn, pass")
        return self

    @property
    def status(self) -> str:
        return "fail" if self.fail is not None else "warn" if self.warn is not None else "pass"

    @property
    def condition(self) -> str:
        value = self.fail if self.fail is not None else self.warn if self.warn is not None else self.pass_
        assert value is not None
        return value


class Step(BaseModel):
    """One step: a ``name``, exactly one step-type key, and common keys."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = Field(min_length=1)
    when: str | bool | None = None
    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0, le=100)
    delay: Duration = 1.0
    until: str | None = Field(default=None, description="retry until this expression holds (Ansible until)")
    register_as: str | None = Field(default=None, alias="register")
    value: str | None = Field(default=None, description="the measured value shown in the report")
    check: list[CheckRule] = Field(default_factory=list)
    on_failure: list[Step] = Field(default_factory=list)
    ignore_errors: bool = False
    rescue: list[Step] = Field(default_factory=list)
    always: list[Step] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)

    @property
    def type(self) -> str:
        return next(k for k in (self.model_extra or {}) if k in STEP_TYPES)

    @property
    def args(self) -> Any:
        return (self.model_extra or {})[self.type]

    @property
    def children(self) -> list[Step]:
        assert self.type == "block"
        return self.block_steps

    @field_validator("register_as")
    @classmethod
    def _register_name(cls, value: str | None) -> str | None:
        if value is not None and (not _VAR.match(value) or value in _RESERVED):
            raise ValueError(f"register: {value!r} is not a usable variable name")
        return value

    @model_validator(mode="after")
    def _one_type(self) -> Step:
        from opsagent.runbooks.steptypes import validate_args  # the step-type models import this module

        extra = set(self.model_extra or {})
        kinds = sorted(extra & set(STEP_TYPES))
        unknown = sorted(extra - set(STEP_TYPES))
        if unknown:
            raise ValueError(f"unknown step key(s) {', '.join(unknown)} (step types: {', '.join(STEP_TYPES)})")
        if len(kinds) != 1:
            raise ValueError(f"a step needs exactly one type key of {', '.join(STEP_TYPES)}; found {kinds or 'none'}")
        if (self.rescue or self.always) and kinds[0] != "block":
            raise ValueError("rescue and always belong to a block step")
        if kinds[0] == "block":
            raw = (self.model_extra or {})["block"]
            if not isinstance(raw, list) or not raw:
                raise ValueError("block: a non-empty list of steps")
            self.block_steps = [_child(i, s) for i, s in enumerate(raw)]
        else:
            (self.model_extra or {})[kinds[0]] = validate_args(kinds[0], (self.model_extra or {})[kinds[0]])
        from opsagent.runbooks.templating import check_step_templates

        check_step_templates(self)
        return self

    block_steps: list[Step] = Field(default_factory=list, exclude=True)


def _child(index: int, raw: Any) -> Step:
    """A step of a block; an error names its place (``block.2.shell.command: …``) for its line."""
    try:
        return Step.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        inner = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ValueError(f"block.{index}{'.' + inner if inner else ''}: {message}") from None


_WHERE = re.compile(r"^(?:Value error, )?([A-Za-z_]\w*(?:\.\w+)*): (?=\S)")
_STEP_KEYS = {*STEP_TYPES, "rescue", "always", "on_failure", "check", "when", "until", "value", "vars"}


def locate_step_issues(doc: Document, issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """A step's error at the line of the very field (``steps.0.check.1.fail``), not the step's:
    the step's validator names the field at the head of its message."""
    out = []
    for issue in issues:
        loc: list[str | int] = [int(p) if p.isdigit() else p for p in issue.field.split(".")] if issue.field else []
        rest, extra = issue.message, list[str | int]()
        while loc[:1] == ["steps"] and (match := _WHERE.match(rest)) and match[1].split(".")[0] in _STEP_KEYS:
            extra += [int(p) if p.isdigit() else p for p in match[1].split(".")]
            rest = rest[match.end() :]
        if not extra:
            out.append(issue)
            continue
        full = [*loc, *extra]
        out.append(ConfigIssue(issue.path, doc.line_of(full), ".".join(map(str, full)), rest))
    return out


def validate_runbook(doc: Document) -> Runbook:
    try:
        return validate(doc, Runbook)
    except ConfigError as exc:
        raise ConfigError(locate_step_issues(doc, exc.issues)) from None


class Runbook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    kind: RunbookKind = RunbookKind.TASK
    targets: str = Field(default="all", description="an inventory selector; -l/--limit overrides it")
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    concurrency: int = Field(default=20, ge=1, le=5000, description="targets worked on at once")
    serial: list[int | str] | int | str | None = Field(
        default=None, description="Ansible-like batches: 5, '30%', or [1, 5, '50%']"
    )
    max_fail_percentage: float | None = Field(default=None, ge=0, le=100)
    schedule: str | None = Field(default=None, description="cron expression: `opsagent serve` runs it")
    timezone: str | None = Field(
        default=None, description="zone of `schedule` (default: the agent's `timezone`, else the host's zone)"
    )
    approval: str = Field(default="auto", pattern=r"^(auto|required)$", description="triggered runs wait for a person")
    steps: list[Step] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not value.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError("runbook name: letters, digits, '-', '_' and '.' only")
        return value

    @field_validator("parameters")
    @classmethod
    def _param_names(cls, value: dict[str, Parameter]) -> dict[str, Parameter]:
        for name in value:
            if not _VAR.match(name) or name in _RESERVED:
                raise ValueError(f"parameter name {name!r}: a variable name, not one of {sorted(_RESERVED)}")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"invalid cron expression: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return valid_zone(value) if value is not None else None

    @field_validator("serial")
    @classmethod
    def _serial(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [] if value is None else [value]
        for item in items:
            text = str(item)
            if not re.fullmatch(r"[1-9][0-9]*%?", text) or (text.endswith("%") and int(text[:-1]) > 100):
                raise ValueError(f"serial: {item!r} is neither a positive count nor a percentage")
        return value


def load_runbook(path: Path) -> Runbook:
    return validate_runbook(parse_yaml_file(path))
