"""Results of a run: one per step per target, one per target, and the run's summary.

Every target yields a :class:`TargetResult` (never an exception across targets), like Nornir's
aggregated results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Step statuses. "checked" is a step rendered in --check mode and not executed.
OK, CHANGED, FAILED, SKIPPED, TIMEOUT, UNREACHABLE, REJECTED, CHECKED = (
    "ok",
    "changed",
    "failed",
    "skipped",
    "timeout",
    "unreachable",
    "rejected",
    "checked",
)
FAILING = (FAILED, TIMEOUT, UNREACHABLE, REJECTED)
CHECK_ORDER = {"pass": 0, "warn": 1, "fail": 2, "error": 3}
MAX_OUTPUT = 64 * 1024  # stored per stream per step: enough to read, bounded for a 1,000-host run


@dataclass
class CheckResult:
    status: str  # pass | warn | fail | error (the assertion itself could not be evaluated)
    message: str = ""
    value: str | None = None
    threshold: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, "value": self.value, "threshold": self.threshold}


@dataclass
class StepResult:
    path: str
    type: str
    status: str
    started_at: datetime
    command: str | None = None
    stdout: str = ""
    stderr: str = ""
    rc: int | None = None
    attempts: int = 1
    duration: float = 0.0
    message: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    data: Any = None  # structured output (rows, JSON, varbinds): registered, not stored
    ignored: bool = False

    @property
    def failed(self) -> bool:
        return self.status in FAILING

    @property
    def check_status(self) -> str | None:
        if not self.checks:
            return None
        return max((c.status for c in self.checks), key=lambda s: CHECK_ORDER[s])

    def registered(self) -> dict[str, Any]:
        """What ``register: name`` exposes to later templates (Ansible's shape)."""
        return {
            "stdout": self.stdout.strip(),
            "stderr": self.stderr.strip(),
            "rc": self.rc,
            "stdout_lines": self.stdout.splitlines(),
            "status": self.status,
            "failed": self.failed,
            "skipped": self.status in (SKIPPED, CHECKED),
            "changed": self.status == CHANGED,
            "msg": self.message,
            "data": self.data,
            "rows": self.data if isinstance(self.data, list) else [],
            "json": self.data if isinstance(self.data, dict | list) else None,
            "command": self.command,
            "attempts": self.attempts,
            "check": self.check_status,
        }


@dataclass
class TargetResult:
    asset: str
    status: str = OK  # ok | failed | unreachable | skipped
    message: str = ""
    steps: list[StepResult] = field(default_factory=list)
    duration: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status in (FAILED, UNREACHABLE, TIMEOUT)

    def check_counts(self) -> dict[str, int]:
        counts = {"pass": 0, "warn": 0, "fail": 0, "error": 0}
        for step in self.steps:
            for check in step.checks:
                counts[check.status] += 1
        return counts


@dataclass
class RunResult:
    run_id: int | None
    runbook: str
    status: str  # succeeded | failed | interrupted | rejected
    targets: dict[str, TargetResult]
    message: str = ""

    @property
    def failed_targets(self) -> list[str]:
        return [name for name, t in self.targets.items() if t.failed]

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        checks = {"pass": 0, "warn": 0, "fail": 0, "error": 0}
        for target in self.targets.values():
            counts[target.status] = counts.get(target.status, 0) + 1
            for key, value in target.check_counts().items():
                checks[key] += value
        return {"targets": len(self.targets), "by_status": counts, "checks": checks, "failed": self.failed_targets}


def bounded(text: str, limit: int = MAX_OUTPUT) -> str:
    if len(text) <= limit:
        return text
    return text[: limit // 2] + f"\n… [{len(text) - limit} characters cut] …\n" + text[-limit // 2 :]
