"""What a run needs besides the runbook: the request, approvals, progress hooks, parameters."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from opsagent.errors import OpsAgentError, UsageError
from opsagent.runbooks.model import Parameter, Runbook
from opsagent.runbooks.results import StepResult, TargetResult
from opsagent.secrets import REDACTED, is_credential_key, is_sensitive
from opsagent.units import parse_duration


class RunbookError(OpsAgentError):
    """A run that cannot start (bad parameters, nothing selected, no previous run to retry)."""


class ParameterError(RunbookError, UsageError):
    """A parameter value the caller gave is invalid or missing (the CLI exits 2, the API answers 400)."""


@dataclass
class ApprovalRequest:
    run_id: int
    asset: str
    step: str
    message: str
    approvers: list[str]
    timeout: float


@dataclass
class Decision:
    approved: bool
    by: str
    comment: str = ""


class Approver(Protocol):
    channel: str

    async def decide(self, request: ApprovalRequest, approval_id: int) -> Decision: ...


class Observer:
    """Progress hooks (the CLI draws bars, serve logs); the core never prints."""

    def run_started(self, run_id: int, runbook: Runbook, targets: list[str]) -> None:
        return None

    def step_done(self, asset: str, result: StepResult) -> None:
        return None

    def target_done(self, result: TargetResult) -> None:
        return None


@dataclass
class RunRequest:
    runbook: Runbook
    selector: str | None = None  # -l/--limit; default: the runbook's targets
    params: dict[str, str] = field(default_factory=dict)  # -e key=value, as typed
    check_mode: bool = False
    actor: str = "unknown"
    trigger: str = "cli"  # cli | schedule | incident | api
    incident: dict[str, Any] | None = None
    retry_failed: bool = False
    concurrency: int | None = None
    require_approval: bool = False  # triggered runs: a person approves the whole run first
    on_started: Callable[[int], None] | None = None


def _coerce(name: str, spec: Parameter, value: Any) -> Any:  # noqa: C901 - one case per type
    if value is None:
        return None
    try:
        match spec.type:
            case "int":
                return int(value)
            case "float":
                return float(value)
            case "bool":
                return (
                    value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on", "y")
                )
            case "duration":
                return parse_duration(value)
            case "list":
                if isinstance(value, list):
                    return value
                text = str(value).strip()
                return json.loads(text) if text.startswith("[") else [v.strip() for v in text.split(",") if v.strip()]
            case "choice":
                if value not in spec.choices and str(value) not in map(str, spec.choices):
                    raise ValueError(f"one of {', '.join(map(str, spec.choices))}")
                return value
            case _:
                return str(value)
    except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: -e x=[[[[…
        raise ParameterError(f"parameter {name}: {value!r} is not a valid {spec.type} ({exc})") from None


def _resolve_one(name: str, spec: Parameter, given: Mapping[str, Any]) -> tuple[bool, Any]:
    """(explicit?, value) of one declared parameter; ParameterError when it is invalid or missing."""
    if name in given:
        return True, _coerce(name, spec, given[name])
    if spec.required:
        raise ParameterError(f"parameter {name} is required (-e {name}=…)")
    return False, _coerce(name, spec, spec.default)


def resolve_params(runbook: Runbook, given: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(defaults, explicit): explicit -e values win over asset vars, which win over defaults."""
    defaults: dict[str, Any] = {}
    explicit: dict[str, Any] = {}
    for name, spec in runbook.parameters.items():
        is_explicit, value = _resolve_one(name, spec, given)
        (explicit if is_explicit else defaults)[name] = value
    for name, value in given.items():
        if name not in runbook.parameters:
            explicit[name] = value  # extra vars, as Ansible's -e
    return defaults, explicit


def parameter_errors(runbook: Runbook, given: Mapping[str, Any]) -> dict[str, str]:
    """Every declared parameter's error at once (a form shows each beside its field), by the very
    checks :func:`resolve_params` makes when a run starts."""
    errors: dict[str, str] = {}
    for name, spec in runbook.parameters.items():
        try:
            _resolve_one(name, spec, given)
        except ParameterError as exc:
            errors[name] = str(exc)
    return errors


def redact_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: REDACTED if is_sensitive(k) or is_credential_key(k) else v for k, v in params.items()}


def parse_extra_vars(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"-e {item!r}: expected key=value")
        out[key.strip()] = value
    return out


class LazyFacts(Mapping[str, Any]):
    """An asset's facts, read from the store on first use (most steps never look)."""

    def __init__(self, load: Callable[[], dict[str, Any]]) -> None:
        self._load = load
        self._data: dict[str, Any] | None = None

    def _get(self) -> dict[str, Any]:
        if self._data is None:
            try:
                self._data = self._load()
            except Exception:
                self._data = {}
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())
