"""The service-level policy (``alerts/service-levels.yaml``): priorities, targets, calendars,
escalation, on-call and follow-up, validated by pydantic so ``opsagent check`` reports file:line.

Durations are working time on the target's calendar: ``1h``, ``30m``, or ``5wd`` (working days, each
as long as the calendar's regular working day).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from opsagent.errors import ConfigIssue
from opsagent.incidents.model import priority_of
from opsagent.loader import load_model, parse_yaml_file, validate
from opsagent.sla.calendar import Calendar
from opsagent.sla.holidays import merged, years_covered
from opsagent.units import parse_duration

POLICY_FILE_NAMES = ("service-levels.yaml", "service-levels.yml")
POLICY_KEYS = {"calendars", "targets", "priority_matrix", "escalation", "oncall", "followup", "severity_map", "types"}
# handover: to the responsible team (stopped when a person or the team takes it: assigned/acknowledged);
# onsite: an engineer on site (stopped by the on_site event) — both only where a target sets a budget
TARGETS = ("response", "assessment", "resolution", "handover", "onsite")
TICKET_TYPES = ("incident", "service_request")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*wd\s*$")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _budget(value: Any) -> str | float:
    if isinstance(value, str) and _WD.match(value):
        return value.strip()
    return parse_duration(value)


Budget = Annotated[str | float, BeforeValidator(_budget)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarSpec(_Strict):
    timezone: str = "Asia/Shanghai"
    always: bool = Field(default=False, description="24×7: every second counts")
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = ["mon", "tue", "wed", "thu", "fri"]
    hours: list[str] = Field(default=["09:00-12:00", "13:00-18:00"], description="local working spans, HH:MM-HH:MM")
    public_holidays: Literal["CN"] | None = Field(
        default=None, description="take public holidays and 调休 make-up days from the chinese-calendar package"
    )
    holidays: list[date] = Field(default_factory=list, description="public holidays (no working time)")
    workdays: list[date] = Field(default_factory=list, description="make-up working days on weekends (调休)")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
        return value

    @field_validator("hours")
    @classmethod
    def _spans(cls, value: list[str]) -> list[str]:
        previous = -1
        for span in value:
            m = _SPAN.match(span)
            if not m:
                raise ValueError(f"working span {span!r} must look like 09:00-18:00")
            h1, m1, h2, m2 = map(int, m.groups())
            start, end = h1 * 60 + m1, (h2 * 60 + m2) or 24 * 60
            if not (0 <= start < end <= 24 * 60) or m1 > 59 or m2 > 59:
                raise ValueError(f"working span {span!r} must run forward within one day")
            if start < previous:
                raise ValueError("working spans must be in order and must not overlap")
            previous = end
        return value

    @model_validator(mode="after")
    def _some_time(self) -> CalendarSpec:
        if not self.always and (not self.weekdays or not self.hours):
            raise ValueError("a calendar needs working weekdays and hours (or always: true)")
        return self

    def build(self, name: str) -> Calendar:
        spans = tuple(_parse_span(s) for s in self.hours)
        hours = {WEEKDAYS.index(d): spans for d in self.weekdays}
        holidays, workdays = merged(self.public_holidays, self.holidays, self.workdays)
        return Calendar(
            name=name,
            tz=ZoneInfo(self.timezone),
            hours=hours,
            holidays=holidays,
            workdays=workdays,
            workday_hours=spans,
            always=self.always,
        )

    def missing_years(self, today: date) -> list[int]:
        """This year and next, where the calendar has no holiday data at all (a 24×7 one needs none)."""
        if self.always:
            return []
        covered = years_covered(self.public_holidays, self.holidays, self.workdays)
        return [y for y in (today.year, today.year + 1) if y not in covered]

    @property
    def day_seconds(self) -> float:
        if self.always:
            return 86400.0
        return sum(
            ((e.hour * 60 + e.minute) or 1440) * 60 - (s.hour * 60 + s.minute) * 60
            for s, e in map(_parse_span, self.hours)
        )


def _parse_span(span: str) -> tuple[time, time]:
    m = _SPAN.match(span)
    assert m is not None
    h1, m1, h2, m2 = map(int, m.groups())
    return time(h1, m1), time(0) if h2 == 24 else time(h2, m2)


class TargetSet(_Strict):
    response: Budget
    assessment: Budget | None = None
    resolution: Budget
    resolution_complex: Budget | None = Field(default=None, description="for incidents marked complexity=complex")
    handover: Budget | None = Field(default=None, description="hand over to the responsible team within")
    onsite: Budget | None = Field(default=None, description="an engineer on site within (contracts)")


class PriorityTargets(_Strict):
    calendar: str
    internal: TargetSet
    external: TargetSet


class TypeProfile(_Strict):
    """The service-level profile of a ticket type other than ``incident`` (a service request: an
    account, an install, a change): its own targets per priority; a priority it does not list takes
    the incident targets."""

    targets: dict[str, PriorityTargets] = Field(min_length=1)


class ContractTerms(_Strict):
    """What a service contract (服务协议) sets for the SLA clocks of the tickets it covers: its own
    targets (one set for every priority, ``priorities`` overriding some) on its own calendar."""

    calendar: str | None = Field(default=None, description="a calendar of the contracts file or the policy")
    targets: TargetSet
    priorities: dict[str, TargetSet] = Field(default_factory=dict)


class EscalationLevel(_Strict):
    at: float = Field(description="percent of the target's time budget, e.g. 50, 100, 150")
    notify: list[str] = Field(min_length=1, description="person:NAME, team:NAME, channel:RECEIVER, oncall:ROTATION")

    @field_validator("at", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        return float(value.strip().rstrip("%")) if isinstance(value, str) else value

    @field_validator("notify")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        for target in value:
            kind, _, name = target.partition(":")
            if kind not in ("person", "team", "channel", "oncall") or not name:
                raise ValueError(f"notify target {target!r} must be person:, team:, channel: or oncall: and a name")
        return value


class Escalation(_Strict):
    targets: list[Literal["response", "assessment", "resolution"]] = ["response", "resolution"]
    levels: list[EscalationLevel] = Field(default_factory=list)
    priorities: list[str] = Field(default_factory=list, description="empty = every priority")


class Override(_Strict):
    start: datetime
    end: datetime
    who: str


class Rotation(_Strict):
    every: Literal["daily", "weekly"] = "weekly"
    start: datetime = Field(description="when the first member's shift begins (local time of `timezone`)")
    timezone: str = "Asia/Shanghai"
    members: list[str] = Field(min_length=1)
    overrides: list[Override] = Field(default_factory=list)


class Followup(_Strict):
    after_working_days: int = Field(default=3, ge=0, le=60)
    calendar: str | None = None


class Severity(_Strict):
    impact: str
    urgency: str


# As Zabbix/Alertmanager name severities; through the default matrix this gives the usual
# critical → P1, major → P2, warning → P3, info → P4.
DEFAULT_SEVERITY_MAP = {
    **dict.fromkeys(("critical", "emergency", "disaster"), Severity(impact="high", urgency="high")),
    **dict.fromkeys(("high", "error", "major"), Severity(impact="high", urgency="medium")),
    **dict.fromkeys(("warning", "average", "minor"), Severity(impact="medium", urgency="medium")),
    **dict.fromkeys(("info", "information", "none"), Severity(impact="low", urgency="low")),
}


@dataclass(frozen=True)
class Classification:
    """Impact, urgency and the priority they give, as an incident opens from an alert."""

    impact: str | None
    urgency: str | None
    priority: str


class ServiceLevelPolicy(_Strict):
    default_calendar: str = "business"
    calendars: dict[str, CalendarSpec] = Field(default_factory=lambda: {"business": CalendarSpec()})
    priority_matrix: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="impact → urgency → priority (ITIL)"
    )
    targets: dict[str, PriorityTargets]
    escalation: Escalation = Escalation()
    oncall: dict[str, Rotation] = Field(default_factory=dict)
    followup: Followup = Followup()
    archive_after_days: int = Field(default=0, ge=0, description="archive closed incidents after N days")
    severity_map: dict[str, Severity] = Field(
        default_factory=lambda: dict(DEFAULT_SEVERITY_MAP),
        description="alert severity label → impact and urgency, for alerts without impact/urgency labels",
    )
    types: dict[str, TypeProfile] = Field(
        default_factory=dict, description="ticket types with their own targets (incident uses `targets`)"
    )
    # service contracts (desk/contracts.yaml), joined in by load_policy: never written in this file
    contracts: dict[str, ContractTerms] = Field(default_factory=dict, exclude=True)

    @field_validator("types")
    @classmethod
    def _type_names(cls, value: dict[str, TypeProfile]) -> dict[str, TypeProfile]:
        for name in value:
            if name not in TICKET_TYPES[1:]:
                raise ValueError(f"{name!r} is not a ticket type with its own profile (service_request)")
        return value

    @model_validator(mode="after")
    def _references(self) -> ServiceLevelPolicy:  # noqa: C901 - one flat list of cross-checks
        names = set(self.calendars)
        if self.default_calendar not in names:
            raise ValueError(f"default_calendar {self.default_calendar!r} is not among calendars")
        for prio, spec in self.targets.items():
            if spec.calendar not in names:
                raise ValueError(f"targets.{prio}.calendar {spec.calendar!r} is not among calendars")
        for kind, profile in self.types.items():
            for prio, spec in profile.targets.items():
                if spec.calendar not in names:
                    raise ValueError(f"types.{kind}.targets.{prio}.calendar {spec.calendar!r} is not among calendars")
        if self.followup.calendar is not None and self.followup.calendar not in names:
            raise ValueError(f"followup.calendar {self.followup.calendar!r} is not among calendars")
        for impact, row in self.priority_matrix.items():
            for urgency, prio in row.items():
                if prio not in self.targets:
                    raise ValueError(f"priority_matrix.{impact}.{urgency}: {prio!r} has no targets")
        for level in self.escalation.levels:
            for target in level.notify:
                kind, _, name = target.partition(":")
                if kind == "oncall" and name not in self.oncall:
                    raise ValueError(f"escalation notifies {target!r} but no such on-call rotation is defined")
        return self

    @cached_property
    def built_calendars(self) -> dict[str, Calendar]:
        return {name: spec.build(name) for name, spec in self.calendars.items()}

    def calendar_for(self, priority: str) -> Calendar:
        spec = self.targets.get(priority)
        return self.built_calendars[spec.calendar if spec else self.default_calendar]

    def _priority_spec(self, priority: str, kind: str) -> PriorityTargets:
        profile = self.types.get(kind)
        if profile is not None and priority in profile.targets:
            return profile.targets[priority]
        return self.targets.get(priority) or self.targets[sorted(self.targets)[-1]]

    def calendar_name(self, priority: str, kind: str = "incident", contract: str = "") -> str:
        """The calendar a profile's clocks count on: the contract's, else the type's priority's."""
        terms = self.contracts.get(contract) if contract else None
        if terms is not None and terms.calendar:
            return terms.calendar
        profile = self.types.get(kind)
        if profile is not None and priority in profile.targets:
            return profile.targets[priority].calendar
        spec = self.targets.get(priority)
        return spec.calendar if spec else self.default_calendar

    def profile_calendar(self, priority: str, kind: str = "incident", contract: str = "") -> Calendar:
        return self.built_calendars[self.calendar_name(priority, kind, contract)]

    @cached_property
    def _budget_cache(self) -> dict[tuple[str, str, bool, str, str], dict[str, float]]:
        return {}

    def budgets(
        self, priority: str, requester: str, complex_: bool = False, kind: str = "incident", contract: str = ""
    ) -> dict[str, float]:
        """Working seconds per target for a ticket of this priority, requester type, type (incident,
        service_request) and service contract (its targets replace the policy's)."""
        key = (priority, requester, complex_, kind, contract)
        cached = self._budget_cache.get(key)
        if cached is None:
            cached = self._budget_cache[key] = self._budgets(*key)
        return cached

    def _budgets(self, priority: str, requester: str, complex_: bool, kind: str, contract: str) -> dict[str, float]:
        spec = self._priority_spec(priority, kind)
        targets = spec.external if requester == "external" else spec.internal
        terms = self.contracts.get(contract) if contract else None
        if terms is not None:
            targets = terms.priorities.get(priority) or terms.targets
        day = self.calendars[self.calendar_name(priority, kind, contract)].day_seconds
        out: dict[str, float] = {}
        for name in TARGETS:
            value = getattr(targets, name)
            if name == "resolution" and complex_ and targets.resolution_complex is not None:
                value = targets.resolution_complex
            if value is not None:
                out[name] = _seconds(value, day)
        return out

    def priority_for(self, impact: str | None, urgency: str | None) -> str | None:
        if not impact or not urgency:
            return None
        return self.priority_matrix.get(impact.lower(), {}).get(urgency.lower())

    def classify_labels(self, labels: Mapping[str, str]) -> Classification:
        """As an incident opens from an alert: impact and urgency from its ``impact``/``urgency``
        labels, a missing one from its ``severity`` (``severity_map``). The priority comes from the
        matrix when both labels are given; else from an explicit ``priority`` label; else from the
        matrix on the severity-filled pair; else from the severity as ``priority_of`` maps it."""
        impact = (labels.get("impact") or "").strip().lower() or None
        urgency = (labels.get("urgency") or "").strip().lower() or None
        given = self.priority_for(impact, urgency)
        if given in self.targets:
            return Classification(impact, urgency, str(given))
        mapped = self.severity_map.get((labels.get("severity") or "").strip().lower())
        if mapped is not None:
            impact, urgency = impact or mapped.impact, urgency or mapped.urgency
        explicit = (labels.get("priority") or "").strip().upper()
        if explicit in self.targets:
            return Classification(impact, urgency, explicit)
        derived = self.priority_for(impact, urgency)
        if derived is None or derived not in self.targets:
            derived = priority_of(labels)
        return Classification(impact, urgency, derived)

    def followup_calendar(self, priority: str | None = None) -> Calendar:
        """The calendar whose working days count the follow-up delay: ``followup.calendar`` if set,
        else the priority's own calendar — except a 24×7 one (P1): a call-back to the user waits for
        working days, so it counts on the default (business) calendar, holidays skipped."""
        if self.followup.calendar is not None:
            return self.built_calendars[self.followup.calendar]
        if priority is not None:
            calendar = self.calendar_for(priority)
            if not calendar.always:
                return calendar
        return self.built_calendars[self.default_calendar]


def _seconds(value: str | float, day_seconds: float) -> float:
    if isinstance(value, str):
        m = _WD.match(value)
        assert m is not None
        return float(m.group(1)) * day_seconds
    return float(value)


def load_policy(roots: list[Path]) -> ServiceLevelPolicy:
    """The last root's ``alerts/service-levels.yaml`` wins; the shipped file carries the norms. The
    service contracts of the last root's ``desk/contracts.yaml`` join it (their targets and calendars)."""
    found = policy_path(roots)
    if found is None:
        raise FileNotFoundError("no alerts/service-levels.yaml in any content root")
    policy = load_model(found, ServiceLevelPolicy)
    from opsagent.desk.contracts import join_contracts  # the desk's content; imported only here

    return join_contracts(policy, roots)


def policy_path(roots: list[Path]) -> Path | None:
    found: Path | None = None
    for root in roots:
        for name in POLICY_FILE_NAMES:
            if (root / "alerts" / name).is_file():
                found = root / "alerts" / name
    return found


def calendar_warnings(roots: list[Path], today: date) -> list[ConfigIssue]:
    """Business calendars with no holiday data for this year or next: their SLA clocks would count
    public holidays as working days. Warnings, not errors: the policy still works."""
    path = policy_path(roots)
    if path is None:
        return []
    doc = parse_yaml_file(path)
    policy = validate(doc, ServiceLevelPolicy)
    out = []
    for name, spec in policy.calendars.items():
        missing = spec.missing_years(today)
        if missing:
            years = " and ".join(map(str, missing))
            hint = "update the chinese-calendar package" if spec.public_holidays else "set public_holidays: CN"
            out.append(doc.issue(("calendars", name), f"no public-holiday data for {years}: {hint} or list the days"))
    return out


def utc(value: datetime, tz: str) -> datetime:
    """A naive datetime from YAML is local time of ``tz``."""
    return value.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC) if value.tzinfo is None else value.astimezone(UTC)
