"""Roles → permissions: the one table of who may do what.

Users have one role: ``requester`` (submits and follows their own requests), ``engineer`` (works
incidents, runs and approves runbooks, reloads content), ``manager`` (also reads the audit log and edits
content), ``admin`` (also manages users). Read-only tokens of ``web.read_tokens`` act as ``reader``.
Routes ask for a permission (``require_permission(request, "incident.ack")``), never for a role.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["requester", "engineer", "manager", "admin"]
ROLES: tuple[Role, ...] = ("requester", "engineer", "manager", "admin")
READER = "reader"  # web.read_tokens: reads only; never a user's role

_READS = frozenset({"metrics.read", "asset.read", "incident.read", "runbook.read", "report.read"})
_REQUESTER = frozenset({"request.submit", "request.own"})
_ENGINEER = (
    _REQUESTER
    | _READS
    | {
        "incident.ack",  # acknowledge
        "incident.work",  # assign, note, pending/resume, assess, resolve, sign-off, follow-up
        "alert.ingest",  # Alertmanager's webhook
        "silence.manage",
        "runbook.run",
        "runbook.approve",  # further limited by a step's `approvers`
        "content.reload",
    }
)
_MANAGER = _ENGINEER | {"audit.read", "content.edit"}
_ADMIN = _MANAGER | {"user.manage"}

PERMISSIONS: dict[str, frozenset[str]] = {
    "requester": _REQUESTER,
    "engineer": frozenset(_ENGINEER),
    "manager": frozenset(_MANAGER),
    "admin": frozenset(_ADMIN),
    READER: _READS,
}
WRITES = frozenset(_ADMIN - _READS - {"audit.read"})

# Reads of the HTTP API under ``web.read_auth``: the permission a path needs (longest prefix wins).
READ_PATHS: tuple[tuple[str, str], ...] = (
    ("/metrics", "metrics.read"),
    ("/api/v1/assets", "asset.read"),
    ("/api/v1/incidents", "incident.read"),
    ("/api/v1/followups", "incident.read"),
    ("/api/v1/alerts", "incident.read"),
    ("/api/v1/runbooks", "runbook.read"),
    ("/api/v1/reports", "report.read"),
    ("/api/v1/problems", "incident.read"),
    ("/api/v1/kb", "incident.read"),  # internal articles; requesters read theirs in the console (/console/kb)
    ("/api/v1/visits", "incident.read"),
    ("/api/v1/audit", "audit.read"),
)


def permissions_of(role: str) -> frozenset[str]:
    return PERMISSIONS.get(role, frozenset())


def read_permission(path: str) -> str | None:
    """The permission a GET of ``path`` needs; None: any signed-in identity may read it."""
    for prefix, permission in READ_PATHS:
        if path == prefix or path.startswith(prefix + "/") or path.startswith(prefix + "?"):
            return permission
    return None


def rank(role: str) -> int:
    """Order of roles (a user in several mapped LDAP groups gets the highest)."""
    return ROLES.index(role) if role in ROLES else -1
