"""Who says yes: a person at the terminal, a person through the API (triggered runs), or ``--yes``.

Every request and decision is a row in ``runbook_approvals`` whichever the channel, so the audit
trail shows who approved what, and when.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from opsagent.runbooks.context import ApprovalRequest, Decision
from opsagent.store import runbook_repo as runs
from opsagent.store.engine import Store

POLL_SECONDS = 0.5
NO_TERMINAL = "opsagent (no terminal)"  # the system actor of the automatic refusal: no person decided


class AutoApprover:
    """``--yes``: approved in the operator's name, recorded as such."""

    channel = "terminal"

    def __init__(self, store: Store, actor: str) -> None:
        self.store = store
        self.actor = actor

    async def decide(self, request: ApprovalRequest, approval_id: int) -> Decision:
        await asyncio.to_thread(runs.decide, self.store, approval_id, True, self.actor, "--yes")
        return Decision(True, self.actor, "--yes")


class TerminalApprover:
    """Asks at the terminal, one question at a time (targets wait their turn); with no terminal,
    the step is rejected with a reason instead of hanging."""

    channel = "terminal"

    def __init__(self, store: Store, actor: str, ask: Callable[[str], Awaitable[bool]] | None) -> None:
        self.store = store
        self.actor = actor
        self.ask = ask  # async, so Ctrl-C/SIGTERM at the prompt cancels it (no thread left reading stdin)
        self._lock = asyncio.Lock()

    async def decide(self, request: ApprovalRequest, approval_id: int) -> Decision:
        if self.ask is None:
            comment = "no terminal to ask at: rerun with --yes or approve through the API"
            await asyncio.to_thread(runs.decide, self.store, approval_id, False, NO_TERMINAL, comment)
            return Decision(False, NO_TERMINAL, comment)
        async with self._lock:
            where = f"[{request.asset}] " if request.asset else ""
            try:
                answer = await self.ask(f"{where}{request.step}: {request.message}")
            except asyncio.CancelledError:  # interrupted at the prompt: nobody decided
                runs.expire(self.store, approval_id)
                raise
        await asyncio.to_thread(runs.decide, self.store, approval_id, answer, self.actor, "at the terminal")
        return Decision(answer, self.actor, "at the terminal")


class StoreApprover:
    """For runs nobody watches (schedule, incident): wait for a decision made through the API
    (``POST /api/v1/runbooks/approvals/{id}``) or ``opsagent runbook approve``; expire on timeout."""

    channel = "api"

    def __init__(self, store: Store, on_request: Callable[[ApprovalRequest, int], object] | None = None) -> None:
        self.store = store
        self.on_request = on_request

    async def decide(self, request: ApprovalRequest, approval_id: int) -> Decision:
        if self.on_request is not None:
            self.on_request(request, approval_id)
        deadline = time.monotonic() + request.timeout
        while time.monotonic() < deadline:
            row = await asyncio.to_thread(runs.get_approval, self.store, approval_id)
            if row is not None and row["status"] != "pending":
                return Decision(row["status"] == "approved", row["decided_by"] or "?", row["comment"] or "")
            await asyncio.sleep(POLL_SECONDS)
        await asyncio.to_thread(runs.expire, self.store, approval_id)
        return Decision(False, "nobody", f"no decision within {request.timeout:g}s")
