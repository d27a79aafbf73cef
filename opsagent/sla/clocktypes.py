"""The result of an SLA clock, shared by the batch (numpy) path and the reference path."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

# handover (to the responsible team) stops when a person or the team takes the ticket; onsite when an
# engineer arrives (the on_site event)
STOPS = {
    "response": ("acknowledged",),
    "assessment": ("assessed",),
    "resolution": (),
    "handover": ("assigned", "acknowledged"),
    "onsite": ("on_site",),
}
PAUSABLE = ("assessment", "resolution")


class Clock(NamedTuple):
    """Immutable; a named tuple because a tick builds 300,000 of them (a frozen dataclass costs
    several times more to construct)."""

    target: str
    budget: float  # working seconds allowed
    used: float  # working seconds used so far
    due: datetime | None  # when it breaches (or breached) if it keeps running from now
    state: str  # running | paused | stopped
    stopped_at: datetime | None
    breached: bool
    paused_seconds: float  # wall-clock seconds spent paused

    @property
    def met(self) -> bool:
        return self.state == "stopped" and not self.breached

    @property
    def remaining(self) -> float:
        return self.budget - self.used

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "budget_seconds": self.budget,
            "used_seconds": round(self.used, 3),
            "due": self.due.isoformat() if self.due else None,
            "state": self.state,
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            "breached": self.breached,
            "met": self.met,
            "paused_seconds": round(self.paused_seconds, 3),
        }
