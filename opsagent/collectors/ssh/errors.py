"""The one exception of the SSH transport's blocking code; the collector turns it into a result."""

from __future__ import annotations

from opsagent.collectors.base import Outcome


class SshFailure(Exception):
    """A failed poll step: ``reason`` is the label of ``opsagent_collect_errors_total``."""

    def __init__(self, reason: str, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.outcome = outcome
