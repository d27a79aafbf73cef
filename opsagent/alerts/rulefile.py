"""Rule files in the shape of Prometheus rule files, so a team carries them between opsagent and
Prometheus (every shipped file also passes ``promtool check rules``).

This module checks the structure, and compiles each alerting rule: its ``expr`` must be in the
PromQL subset the evaluator runs (``opsagent.alerts.promql``) and its templates in the Go-template
subset (``opsagent.alerts.template``); anything else is an error with file:line at load time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from opsagent.alerts.notifyconfig import FlappingConfig
from opsagent.alerts.promql.ast import Expr, MatrixSelector, String, VectorSelector, is_scalar, walk
from opsagent.alerts.promql.parser import PromQLError, parse
from opsagent.alerts.template import Template, TemplateError
from opsagent.errors import ConfigError, ConfigIssue
from opsagent.loader import Document, load_model, parse_yaml_file, validate
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


# -- compiling: PromQL subset and templates checked at load time ---------------------------------
# opsagent's own rule options travel as annotations, so the file stays a valid Prometheus rule file
# (promtool rejects unknown rule keys; Prometheus ignores annotations it does not use).
RECOVER = "opsagent_recover_expr"  # hysteresis: a firing alert clears only when this matches
RESOLVE = "opsagent_resolve"  # auto (default) | manual: a person confirms the incident's resolution
SUPPRESSES = "opsagent_suppresses_dependents"  # "true": alerts on assets behind this one are muted
# shard (default) | cluster: agents sharing a store evaluate a cluster rule once, on the leader, over
# every agent's latest samples (instant selectors only); a single agent evaluates it as any other
SCOPE = "opsagent_scope"
# Per-rule flap detection (Nagios' per-service flap settings) over the alerting config's defaults.
FLAP = {
    "opsagent_flap_detection": "enabled",  # "true" | "false"
    "opsagent_flap_window": "window",  # evaluations
    "opsagent_flap_high_threshold": "high_threshold",  # percent state change
    "opsagent_flap_low_threshold": "low_threshold",
}
OPTION_ANNOTATIONS = (RECOVER, RESOLVE, SUPPRESSES, SCOPE, *FLAP)


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to evaluate: an alerting rule, or with ``record`` a recording rule (``name`` is
    then the series it writes, ``labels`` the labels it adds)."""

    group: str
    name: str
    expr: Expr
    expr_text: str
    for_: float
    keep_firing_for: float
    labels: dict[str, Template]
    annotations: dict[str, Template]
    recover: Expr | None
    resolve: str
    suppresses_dependents: bool
    interval: float | None
    source: str
    flapping: dict[str, Any] = field(default_factory=dict)  # FlappingConfig fields set by the rule
    record: bool = False
    cluster: bool = False  # opsagent_scope: cluster

    def max_range(self) -> float:
        return max(max_range(self.expr), max_range(self.recover) if self.recover is not None else 0.0)


def max_range(expr: Expr) -> float:
    """The longest range + offset the expression reads (how much history it needs)."""
    longest = 0.0
    for node in walk(expr):
        if isinstance(node, MatrixSelector):
            longest = max(longest, node.range + max(node.vector.offset, 0.0))
        elif isinstance(node, VectorSelector):
            longest = max(longest, node.offset)
    return longest


def _compile_expr(
    text: str, doc: Document, loc: tuple[str | int, ...], issues: list[ConfigIssue], *, vector: bool = True
) -> Expr | None:
    try:
        expr = parse(text)
    except PromQLError as exc:
        issues.append(doc.issue(loc, f"unsupported or invalid PromQL: {exc}"))
        return None
    if isinstance(expr, String | MatrixSelector):  # as Prometheus: a rule's result is a vector (or a scalar)
        issues.append(doc.issue(loc, "a rule expression must return an instant vector, not a string or range vector"))
        return None
    if vector and is_scalar(expr):
        issues.append(doc.issue(loc, "an alerting expression must return a vector, not a scalar"))
        return None
    return expr


def _templates(
    values: dict[str, str], doc: Document, loc: tuple[str | int, ...], issues: list[ConfigIssue]
) -> dict[str, Template]:
    out: dict[str, Template] = {}
    for key, text in values.items():
        if key in OPTION_ANNOTATIONS:
            continue
        try:
            out[key] = Template(text)
        except TemplateError as exc:
            issues.append(doc.issue((*loc, key), str(exc)))
    return out


def _compile_rule(
    group: RuleGroup, rule: Rule, doc: Document, loc: tuple[str | int, ...], issues: list[ConfigIssue]
) -> CompiledRule | None:
    before = len(issues)
    expr = _compile_expr(rule.expr, doc, (*loc, "expr"), issues, vector=rule.alert is not None)
    if rule.record is not None:
        return _compile_recording(group, rule, expr, doc) if len(issues) == before else None
    assert rule.alert is not None
    labels = _templates(rule.labels, doc, (*loc, "labels"), issues)
    annotations = _templates(rule.annotations, doc, (*loc, "annotations"), issues)
    recover = None
    if RECOVER in rule.annotations:
        recover = _compile_expr(rule.annotations[RECOVER], doc, (*loc, "annotations", RECOVER), issues)
    resolve = rule.annotations.get(RESOLVE, "auto")
    if resolve not in ("auto", "manual"):
        issues.append(doc.issue((*loc, "annotations", RESOLVE), "must be 'auto' or 'manual'"))
    suppresses = rule.annotations.get(SUPPRESSES, "false").lower()
    if suppresses not in ("true", "false"):
        issues.append(doc.issue((*loc, "annotations", SUPPRESSES), "must be 'true' or 'false'"))
    flapping = _flap_overrides(rule.annotations, doc, (*loc, "annotations"), issues)
    scope = rule.annotations.get(SCOPE, "shard")
    if scope not in ("shard", "cluster"):
        issues.append(doc.issue((*loc, "annotations", SCOPE), "must be 'shard' or 'cluster'"))
    elif scope == "cluster" and expr is not None and any(isinstance(n, MatrixSelector) for n in walk(expr)):
        issues.append(
            doc.issue((*loc, "annotations", SCOPE), "a cluster rule reads the latest samples only: no range selectors")
        )
    if len(issues) > before or expr is None:
        return None
    return CompiledRule(
        group=group.name,
        name=rule.alert,
        expr=expr,
        expr_text=rule.expr,
        for_=rule.for_,
        keep_firing_for=rule.keep_firing_for,
        labels=labels,
        annotations=annotations,
        recover=recover,
        resolve=resolve,
        suppresses_dependents=suppresses == "true",
        interval=group.interval,
        source=doc.path,
        flapping=flapping,
        cluster=scope == "cluster",
    )


def _compile_recording(group: RuleGroup, rule: Rule, expr: Expr | None, doc: Document) -> CompiledRule | None:
    """A recording rule: its labels are static, as Prometheus' are (no templates)."""
    if expr is None or rule.record is None:
        return None
    return CompiledRule(
        group=group.name,
        name=rule.record,
        expr=expr,
        expr_text=rule.expr,
        for_=0.0,
        keep_firing_for=0.0,
        labels={k: Template.literal(v) for k, v in rule.labels.items()},
        annotations={},
        recover=None,
        resolve="auto",
        suppresses_dependents=False,
        interval=group.interval,
        source=doc.path,
        record=True,
    )


def _flap_overrides(
    annotations: dict[str, str], doc: Document, loc: tuple[str | int, ...], issues: list[ConfigIssue]
) -> dict[str, Any]:
    overrides = {FLAP[k]: v.strip().lower() for k, v in annotations.items() if k in FLAP}
    if not overrides:
        return {}
    try:
        checked = FlappingConfig.model_validate(FlappingConfig().model_dump() | overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        issues.append(doc.issue(loc, f"invalid flap detection setting {where}: {first['msg']}".replace(" : ", ": ")))
        return {}
    return {k: getattr(checked, k) for k in overrides}


def compile_document(doc: Document) -> list[CompiledRule]:
    """Validate a rule file completely (structure, PromQL subset, templates): every issue at once,
    the PromQL and template errors of the readable rules too when the file has shape errors."""
    try:
        rule_file = validate(doc, RuleFile)
    except ConfigError as exc:
        every = exc.issues + _readable_rule_issues(doc)
        raise ConfigError(sorted(every, key=lambda i: i.line or 0)) from None
    issues: list[ConfigIssue] = []
    compiled: list[CompiledRule] = []
    for gi, group in enumerate(rule_file.groups):
        for ri, rule in enumerate(group.rules):
            result = _compile_rule(group, rule, doc, ("groups", gi, "rules", ri), issues)
            if result is not None:
                compiled.append(result)
    if issues:
        raise ConfigError(issues)
    return compiled


def _readable_rule_issues(doc: Document) -> list[ConfigIssue]:
    """The expression and template issues of every rule whose own shape is valid, in a file that
    failed validation elsewhere (a rule's shape errors are already reported)."""
    groups = doc.data.get("groups") if isinstance(doc.data, dict) else None
    issues: list[ConfigIssue] = []
    for gi, raw_group in enumerate(groups if isinstance(groups, list) else []):
        raw_rules = raw_group.get("rules") if isinstance(raw_group, dict) else None
        name = raw_group.get("name") if isinstance(raw_group, dict) else None
        group = RuleGroup.model_construct(name=name if isinstance(name, str) else "", interval=None, rules=[])
        for ri, raw in enumerate(raw_rules if isinstance(raw_rules, list) else []):
            loc = ("groups", gi, "rules", ri)
            try:
                rule = Rule.model_validate(raw)
            except ValidationError:
                expr = raw.get("expr") if isinstance(raw, dict) else None
                if isinstance(expr, str) and expr.strip():
                    _compile_expr(expr, doc, (*loc, "expr"), issues, vector=False)
                continue
            _compile_rule(group, rule, doc, loc, issues)
    return issues


def compile_rule_file(path: Path) -> list[CompiledRule]:
    return compile_document(parse_yaml_file(path))


def rule_files(roots: Iterable[Path]) -> list[Path]:
    """``alerts/**/*.rules.y(a)ml`` of every content root (other YAML there is alerting config)."""
    files: list[Path] = []
    for root in roots:
        folder = root / "alerts"
        if folder.is_dir():
            files += sorted(
                p for p in folder.rglob("*") if p.is_file() and p.name.endswith((".rules.yaml", ".rules.yml"))
            )
    return files


def load_rules(roots: Iterable[Path], *, recording: bool = False) -> list[CompiledRule]:
    """Every alerting rule of every root (with ``recording``, the recording rules too, in file and
    group order: the order they are evaluated in); raises one ConfigError with every issue of every file."""
    issues: list[ConfigIssue] = []
    rules: list[CompiledRule] = []
    for path in rule_files(roots):
        try:
            rules += compile_rule_file(path)
        except ConfigError as exc:
            issues += exc.issues
    if issues:
        raise ConfigError(issues)
    return rules if recording else [r for r in rules if not r.record]
