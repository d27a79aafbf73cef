"""Where the writes of the running command or request come from: ``cli root@host`` (set once by the CLI),
``http 10.0.0.5 (session)`` (set per request by the HTTP server). Every audit row written meanwhile
carries it; threads started with ``asyncio.to_thread`` and new tasks inherit it."""

from __future__ import annotations

import getpass
import socket
from contextvars import ContextVar

AUDIT_ORIGIN: ContextVar[str] = ContextVar("opsagent_audit_origin", default="")


def cli_origin(program: str = "cli") -> str:
    """``cli root@bastion``: the OS user and host a command runs as (``serve …`` for the daemon's own writes)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{program} {user}@{socket.gethostname()}"
