"""One exception root, used at the edges only (CLI, server, loaders).

Across asset boundaries the engine returns results, never raises these.
"""

from __future__ import annotations

from dataclasses import dataclass


class OpsAgentError(Exception):
    """Root of every error opsagent raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one content file: rendered as ``path:line: field: message``."""

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(OpsAgentError):
    """Invalid content. Carries every issue found in the file(s), not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class UsageError(OpsAgentError):
    """A value a person gave (an argument, a runbook parameter) is invalid: exit 2, like a bad flag."""


class SelectorError(OpsAgentError):
    """A selector term that names nothing known (never silently an empty match)."""


class SecretError(OpsAgentError):
    """A credential reference could not be resolved (message never holds the secret)."""


class ConnectError(OpsAgentError):
    """A transport could not reach or log in to an asset."""


class CollectError(OpsAgentError):
    """A collector could not produce a result (carries a short reason code)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class StoreError(OpsAgentError):
    """The store is unreachable or its schema is not what this release expects."""
