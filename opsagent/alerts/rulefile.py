"""Rule files in the shape of Prometheus rule files, so a team carries them between opsagent and
Prometheus (every shipped file also passes ``promtool check rules``).

This module checks the structure; the PromQL subset is checked by the evaluator that runs it.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opsagent.loader import load_model
from opsagent.units import Duration

_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    alert: str | None = None
    record: str | None = None
    expr: str = Field(min_length=1)
    for_: Duration = Field(default=0.0, alias="for")
    keep_firing_for: Duration = 0.0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels", "annotations")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _LABEL.match(name):
                raise ValueError(f"invalid label name {name!r}")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Rule:
        if (self.alert is None) == (self.record is None):
            raise ValueError("a rule has exactly one of 'alert' or 'record'")
        if self.record is not None and not _METRIC.match(self.record):
            raise ValueError(f"invalid recording rule name {self.record!r}")
        if self.record is not None and (self.for_ or self.annotations):
            raise ValueError("a recording rule takes no 'for' or 'annotations'")
        return self


class RuleGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    interval: Duration | None = None
    limit: int | None = Field(default=None, ge=0)
    rules: list[Rule] = Field(default_factory=list)


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    groups: list[RuleGroup]

    @model_validator(mode="after")
    def _unique_groups(self) -> RuleFile:
        names = [g.name for g in self.groups]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"group names must be unique in a file: {', '.join(dupes)}")
        return self


def load_rule_file(path: Path) -> RuleFile:
    return load_model(path, RuleFile)
