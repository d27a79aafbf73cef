"""paramiko's own logging, made quiet: every failure it logs also reaches us as an exception that
becomes a result with a reason (and one warning line from the agent), so its ERROR tracebacks
(e.g. "Exception (client): Error reading SSH protocol banner" from its transport thread) are noise.
Turning the ``paramiko`` logger to DEBUG brings them all back for troubleshooting."""

from __future__ import annotations

import logging


class _DropUnlessDebugging(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Kept when someone asked for paramiko's debug output; dropped otherwise.
        return logging.getLogger("paramiko").getEffectiveLevel() <= logging.DEBUG


_FILTER = _DropUnlessDebugging()


def quiet_paramiko() -> None:
    """Idempotent: installs the filter on paramiko's transport logger once."""
    logger = logging.getLogger("paramiko.transport")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
