"""Garbage-collector settings for a long-running polling process.

Every poll builds hundreds of short-lived tuples (samples, label pairs, parsed rows) that
reference counting frees at once; with CPython's default young-generation threshold (700
allocations) the cycle collector still runs every few hundred of them and walks them for nothing.
A larger threshold keeps cycle collection (cycles are still collected) at a fraction of the cost.
Measured in bench/bench_ssh.py: about 12 % less CPU per persistent SSH poll.

What a long-running agent keeps (modules, content, the inventory, every target's series and
layouts: some 360,000 objects at 100 SSH hosts) outlives every poll, yet each full pass walks all of
it again: ~180 ms of CPU at 100 hosts, and CPython's first one comes a few minutes after the start,
when the start-up's many young passes have added up. :func:`settle` runs that pass once the first
polls have built those objects, then keeps them out of later passes (``gc.freeze``), which then walk
only what changed since. A cycle among frozen objects that later dies waits for the next settle
(hourly) instead of leaking: each settle unfreezes everything first.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (the SNMP worker processes import this module, not APScheduler)
    from apscheduler.schedulers.base import BaseScheduler

YOUNG_THRESHOLD = 10_000  # allocations between young-generation passes (CPython default: 700)
SETTLE_EVERY_SECONDS = 3600.0


def tune_for_polling() -> None:
    """Raise the young-generation threshold (never lowers one set higher); idempotent."""
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), older, oldest)


def settle() -> None:
    """One full pass over everything (frozen objects included), then what survived is left out of
    the passes to come until the next settle."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def schedule_settle(scheduler: BaseScheduler, first_after: float) -> None:
    """Settle ``first_after`` seconds from now (once the first polls have run: serve passes two of the
    longest poll intervals), then every SETTLE_EVERY_SECONDS."""
    first = datetime.now(UTC) + timedelta(seconds=first_after)  # an interval job's first run is its start
    scheduler.add_job(settle, "interval", seconds=SETTLE_EVERY_SECONDS, start_date=first, id="gc-settle")
