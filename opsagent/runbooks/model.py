"""The runbook file format: header, parameters, targets and steps.

Step types are named here so ``opsagent check`` catches a typo before a run does; each step
type's own fields are validated by the executor that runs it.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opsagent.loader import load_model
from opsagent.units import Duration

STEP_TYPES = ("shell", "ssh", "cli", "snmp", "sql", "http", "wait_until", "approve", "notify", "incident", "block")
STEP_COMMON = {
    "name",
    "when",
    "timeout",
    "retries",
    "delay",
    "register",
    "check",
    "on_failure",
    "ignore_errors",
    "rescue",
    "always",
    "vars",
}


class RunbookKind(StrEnum):
    INSPECTION = "inspection"
    EMERGENCY = "emergency"
    TASK = "task"


class Parameter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(default="str", pattern=r"^(str|int|float|bool|duration|list)$")
    default: Any = None
    description: str = ""
    required: bool = False


class Step(BaseModel):
    """One step: a ``name``, exactly one step-type key, and common keys."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0)
    delay: Duration = 0.0
    ignore_errors: bool = False

    @property
    def type(self) -> str:
        return next(k for k in (self.model_extra or {}) if k in STEP_TYPES)

    @model_validator(mode="after")
    def _one_type(self) -> Step:
        extra = set(self.model_extra or {})
        kinds = sorted(extra & set(STEP_TYPES))
        unknown = sorted(extra - set(STEP_TYPES) - STEP_COMMON)
        if unknown:
            raise ValueError(f"unknown step key(s) {', '.join(unknown)} (step types: {', '.join(STEP_TYPES)})")
        if len(kinds) != 1:
            raise ValueError(f"a step needs exactly one type key of {', '.join(STEP_TYPES)}; found {kinds or 'none'}")
        return self


class Runbook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    kind: RunbookKind = RunbookKind.TASK
    targets: str = "all"
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not value.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError("runbook name: letters, digits, '-', '_' and '.' only")
        return value


def load_runbook(path: Path) -> Runbook:
    return load_model(path, Runbook)
