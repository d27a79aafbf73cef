"""The polling process's GC settings: the young generation is raised, never lowered; survivors are settled."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from opsagent.gctune import SETTLE_EVERY_SECONDS, YOUNG_THRESHOLD, schedule_settle, settle, tune_for_polling


@pytest.fixture
def restore_gc() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("restore_gc")
def test_raises_the_young_threshold_and_keeps_the_older_ones() -> None:
    gc.set_threshold(700, 11, 12)
    tune_for_polling()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 11, 12)
    tune_for_polling()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 11, 12)


@pytest.mark.usefixtures("restore_gc")
def test_never_lowers_a_higher_setting() -> None:
    gc.set_threshold(YOUNG_THRESHOLD * 5, 10, 10)
    tune_for_polling()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD * 5


class _Node:
    """An object in a reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("thawed")
def test_settle_keeps_survivors_out_of_later_passes_and_frees_their_dead_cycles_at_the_next() -> None:
    node = _Node()
    dead = weakref.ref(node)
    settle()
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()  # a full pass: the frozen cycle is not walked, so it stays
    assert dead() is not None
    settle()  # the next settle unfreezes first: the dead cycle goes
    assert dead() is None


def test_schedule_settle_first_runs_after_the_first_polls_then_hourly() -> None:
    scheduler = BackgroundScheduler(timezone=UTC)
    before = datetime.now(UTC)
    schedule_settle(scheduler, 120.0)
    scheduler.start(paused=True)
    try:
        (job,) = scheduler.get_jobs()
        assert job.func is settle
        assert job.trigger.interval == timedelta(seconds=SETTLE_EVERY_SECONDS)
        assert before + timedelta(seconds=119) <= job.next_run_time <= datetime.now(UTC) + timedelta(seconds=121)
    finally:
        scheduler.shutdown(wait=False)
