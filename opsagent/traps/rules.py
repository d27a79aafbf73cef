"""Trap rules (``alerts/traps.yaml``): which SNMP notifications open, repeat onto or resolve incidents.

```yaml
trap_rules:
  - alert: SnmpLinkDown                    # opens (or repeats onto) an incident with these labels
    traps: [IF-MIB::linkDown]              # MODULE::name, bare name, or numeric OID
    when: ['ifAdminStatus!~"2|down"']      # Alertmanager matchers over the trap's context (optional)
    severity: warning
    labels: {ifIndex: "{{ $labels.index }}"}
    annotations: {summary: "{{ $labels.ifName }} down on {{ $labels.asset }}"}
    resolve_after: 0                       # optional: resolve when no repeat came for this long
  - clears: SnmpLinkDown                   # resolves the open SnmpLinkDown alerts of the same asset
    traps: [IF-MIB::linkUp]                #   whose labels equal the rendered `labels` below
    labels: {ifIndex: "{{ $labels.index }}"}
```

Templates use the alert rules' Go-template subset; ``$labels`` there is the trap's context:
``asset``, ``source`` (sender address), ``trap`` (name), ``trap_oid``, every varbind by name without
its instance suffix (``ifIndex``, ``ifDescr``, ``ifAdminStatus``…; unresolved ones by OID), ``index``
(the instance suffix of the first indexed varbind) and ``ifName``/``ifAlias`` from the inventory's
interface facts when the trap does not carry them. Every matching rule acts (rules are not exclusive);
a trap no rule matches stays an event only.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opsagent.alerts.matchers import Matcher, matches_all, parse_matcher
from opsagent.alerts.template import Template, TemplateError
from opsagent.errors import ConfigError, ConfigIssue
from opsagent.loader import Document, parse_yaml_file, validate
from opsagent.traps import names
from opsagent.units import Duration

TRAP_RULE_KEYS = {"trap_rules"}
RESERVED = ("alertname", "asset")  # set by the rule itself: a template may not override them


def _template(value: str) -> str:
    try:
        Template(value)
    except TemplateError as exc:
        raise ValueError(str(exc)) from None
    return value


class TrapRuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    clears: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    traps: list[str] = Field(min_length=1)
    sources: list[str] = Field(default_factory=list, description="asset name or sender address globs")
    when: list[str] = Field(default_factory=list)
    severity: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    resolve_after: Duration | None = None

    @field_validator("traps")
    @classmethod
    def _traps(cls, value: list[str]) -> list[str]:
        for item in value:
            if names.resolve(item) is None:
                raise ValueError(f"unknown trap {item!r}: write its numeric OID (known names: IF-MIB::linkDown, …)")
        return value

    @field_validator("when")
    @classmethod
    def _when(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_matcher(item)
        return value

    @field_validator("labels", "annotations")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            try:
                _template(str(text))
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _kind(self) -> TrapRuleModel:
        if (self.alert is None) == (self.clears is None):
            raise ValueError("a trap rule has exactly one of 'alert' (opens incidents) or 'clears' (resolves them)")
        if self.clears is not None and (self.severity or self.annotations or self.resolve_after is not None):
            raise ValueError("a 'clears' rule takes traps, sources, when and labels only")
        bad = [k for k in self.labels if k in RESERVED]
        if bad:
            raise ValueError(f"labels {bad} are set by opsagent (alertname from 'alert', asset from the sender)")
        return self


class TrapRulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trap_rules: list[TrapRuleModel] = Field(default_factory=list)


@dataclass(frozen=True)
class TrapRule:
    """A compiled rule: ``alert`` set for opening rules, ``clears`` for resolving ones."""

    alert: str | None
    clears: str | None
    oids: frozenset[str]
    sources: tuple[str, ...]
    when: tuple[Matcher, ...]
    labels: Mapping[str, Template]
    annotations: Mapping[str, Template]
    resolve_after: float | None
    where: str  # file:line, for logs

    def matches(self, context: Mapping[str, str]) -> bool:
        if context.get("trap_oid", "") not in self.oids:
            return False
        if self.sources and not any(
            fnmatch.fnmatchcase(context.get(k, ""), g) for g in self.sources for k in ("asset", "source")
        ):
            return False
        return matches_all(self.when, context)

    def render_labels(self, context: Mapping[str, str]) -> dict[str, str]:
        return {k: t.render(context, 0.0) for k, t in self.labels.items()}


def compile_document(doc: Document) -> list[TrapRule]:
    model = validate(doc, TrapRulesFile)
    rules: list[TrapRule] = []
    for i, r in enumerate(model.trap_rules):
        labels = dict(r.labels)
        if r.severity:
            labels["severity"] = r.severity
        rules.append(
            TrapRule(
                alert=r.alert,
                clears=r.clears,
                oids=frozenset(o for o in (names.resolve(t) for t in r.traps) if o),
                sources=tuple(r.sources),
                when=tuple(parse_matcher(m) for m in r.when),
                labels={k: Template(v) for k, v in labels.items()},
                annotations={k: Template(v) for k, v in r.annotations.items()},
                resolve_after=r.resolve_after or None,
                where=f"{doc.path}:{doc.line_of(('trap_rules', i)) or 0}",
            )
        )
    return rules


def check_clears(rules: list[TrapRule]) -> list[ConfigIssue]:
    """A ``clears`` naming no ``alert`` of any trap rule file is a typo that would never resolve."""
    opened = {r.alert for r in rules if r.alert}
    issues = []
    for rule in rules:
        if rule.clears and rule.clears not in opened:
            path, _, line = rule.where.rpartition(":")
            issues.append(ConfigIssue(path, int(line) or None, "clears", f"no trap rule opens alert {rule.clears!r}"))
    return issues


def rule_files(roots: Iterable[Path]) -> list[Path]:
    return [p for root in roots for p in sorted((root / "alerts").glob("*traps.y*ml")) if p.is_file()]


def load_trap_rules(roots: Iterable[Path]) -> list[TrapRule]:
    """Every trap rule of every content root; one ConfigError with every issue of every file."""
    issues: list[ConfigIssue] = []
    rules: list[TrapRule] = []
    for path in rule_files(roots):
        try:
            rules += compile_document(parse_yaml_file(path))
        except ConfigError as exc:
            issues += exc.issues
    issues += check_clears(rules)
    if issues:
        raise ConfigError(issues)
    return rules
