"""paramiko's own logging, made quiet: every failure it logs also reaches us as an exception that
becomes a result with a reason (and one warning line from the agent), so its ERROR tracebacks
(e.g. "Exception (client): Error reading SSH protocol banner" from its transport thread) are noise.
Setting the ``paramiko`` logger itself to DEBUG brings them all back for troubleshooting."""

from __future__ import annotations

import logging


class _DropUnlessDebugging(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Kept when someone set the `paramiko` logger itself to DEBUG (an agent-wide debug level
        # alone does not: paramiko's packet-level chatter would drown everything else).
        level = logging.getLogger("paramiko").level
        return level != logging.NOTSET and level <= logging.DEBUG


_FILTER = _DropUnlessDebugging()


def quiet_paramiko() -> None:
    """Idempotent: installs the filter on paramiko's transport logger once."""
    logger = logging.getLogger("paramiko.transport")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
