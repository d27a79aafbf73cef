"""Service contracts (服务协议) as content: ``desk/contracts.yaml`` of the last content root.

Content, not store records: a contract's targets and calendar decide SLA clocks, and clocks are
recomputed from the event log and the policy in effect. As content, a contract change is a policy
reload like any other (validated by ``opsagent check`` with file:line, versioned with the site's
content, and the projection digests tell which tickets' clocks it changes); store records would need
the SLA tick to read and track them separately. Organisations themselves are store records
(:mod:`opsagent.desk.records`); a contract names its organisation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opsagent.errors import ConfigError, ConfigIssue
from opsagent.loader import Document, parse_yaml_file, validate
from opsagent.sla.policy import CalendarSpec, ContractTerms, ServiceLevelPolicy

CONTRACT_FILES = ("contracts.yaml", "contracts.yml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    """What the contract covers; an empty list covers everything of that kind."""

    categories: list[str] = Field(default_factory=list)
    asset_groups: list[str] = Field(default_factory=list)


class Warranty(_Strict):
    assets: str = Field(min_length=1, description="inventory selector of the assets it covers")
    kind: str = Field(default="warranty", pattern="^(warranty|maintenance)$")
    until: date


class Contact(_Strict):
    name: str = Field(min_length=1, max_length=255)
    role: str = ""
    phone: str | None = None
    email: str | None = None


class Contract(ContractTerms):
    organisation: str = Field(min_length=1, max_length=255)
    valid_from: date
    valid_until: date
    scope: Scope = Scope()
    warranty: list[Warranty] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    description: str = ""

    @model_validator(mode="after")
    def _dates(self) -> Contract:
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class ContractFile(_Strict):
    calendars: dict[str, CalendarSpec] = Field(default_factory=dict)
    contracts: dict[str, Contract] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> ContractFile:
        for name in self.contracts:
            if not name or len(name) > 128:
                raise ValueError(f"contract name {name[:40]!r} must be 1–128 characters")
        return self


def contracts_path(roots: Iterable[Path]) -> Path | None:
    found: Path | None = None
    for root in roots:
        for name in CONTRACT_FILES:
            if (root / "desk" / name).is_file():
                found = root / "desk" / name
    return found


def check_against(doc: Document, found: ContractFile, policy: ServiceLevelPolicy) -> list[ConfigIssue]:
    """Names the contracts file uses that the policy must know: calendars and priorities."""
    issues = [
        doc.issue(("calendars", name), f"calendar {name!r} is already defined by the service-level policy")
        for name in found.calendars
        if name in policy.calendars
    ]
    known = set(policy.calendars) | set(found.calendars)
    for name, contract in found.contracts.items():
        if contract.calendar is not None and contract.calendar not in known:
            issues.append(doc.issue(("contracts", name, "calendar"), f"no calendar {contract.calendar!r}"))
        for prio in contract.priorities:
            if prio not in policy.targets:
                issues.append(doc.issue(("contracts", name, "priorities", prio), f"{prio!r} is not a priority"))
    return issues


def load_contracts(path: Path, policy: ServiceLevelPolicy) -> ContractFile:
    doc = parse_yaml_file(path)
    found = validate(doc, ContractFile)
    issues = check_against(doc, found, policy)
    if issues:
        raise ConfigError(issues)
    return found


def join_contracts(policy: ServiceLevelPolicy, roots: Iterable[Path]) -> ServiceLevelPolicy:
    """The policy with the contracts (and their calendars) of ``desk/contracts.yaml`` joined in."""
    path = contracts_path(list(roots))
    if path is None:
        return policy
    found = load_contracts(path, policy)
    joined = policy.model_copy(
        update={"calendars": {**policy.calendars, **found.calendars}, "contracts": dict(found.contracts)}
    )
    for cached in ("built_calendars", "_budget_cache"):
        joined.__dict__.pop(cached, None)
    return joined


# -- which contract covers a ticket (pure) ---------------------------------------------------------
OUT_OF_SCOPE = "out_of_scope"
EXPIRED = "contract_expired"


@dataclass(frozen=True)
class Coverage:
    contract: str | None  # the contract whose targets the ticket takes; None: the default policy
    flags: tuple[str, ...] = ()
    about: str | None = None  # the contract a flag is about
    notes: list[str] = field(default_factory=list)


def cover(
    contracts: Mapping[str, ContractTerms],
    organisation: str | None,
    category: str,
    asset_groups: Set[str],
    today: date,
) -> Coverage:
    """The first contract of the organisation that is valid today and covers the category and the
    assets' groups. Else, if the organisation has contracts, the ticket is flagged (never refused):
    ``contract_expired`` when one would cover it but is not valid today, ``out_of_scope`` otherwise."""
    if not organisation:
        return Coverage(None)
    mine = [(n, c) for n, c in contracts.items() if isinstance(c, Contract) and c.organisation == organisation]
    if not mine:
        return Coverage(None)
    for name, c in mine:
        if _valid(c, today) and _in_scope(c, category, asset_groups):
            return Coverage(name)
    for name, c in mine:
        if _in_scope(c, category, asset_groups):
            return Coverage(None, (EXPIRED,), name, [f"contract {name} is valid {c.valid_from} – {c.valid_until}"])
    name = mine[0][0]
    return Coverage(None, (OUT_OF_SCOPE,), name, [f"not within the scope of contract {name}"])


def _valid(c: Contract, today: date) -> bool:
    return c.valid_from <= today <= c.valid_until


def _in_scope(c: Contract, category: str, asset_groups: Set[str]) -> bool:
    if c.scope.categories and category not in c.scope.categories:
        return False
    return not c.scope.asset_groups or bool(asset_groups & set(c.scope.asset_groups))
