"""The polling process's GC settings: the young generation is raised, never lowered."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from opsagent.gctune import YOUNG_THRESHOLD, tune_for_polling


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
