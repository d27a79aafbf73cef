"""The period report's title follows the period (zh and en)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from opsagent.reports.titles import period_title

SH = ZoneInfo("Asia/Shanghai")
R = "Service Statistics Report"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH).astimezone(UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("start", "end", "zh", "en"),
    [
        (local(2026, 7, 1), local(2026, 10, 1), "2026年第三季度 季度统计报告", f"Quarterly {R} — 2026 Q3"),
        (local(2026, 10, 1), local(2027, 1, 1), "2026年第四季度 季度统计报告", f"Quarterly {R} — 2026 Q4"),
        (local(2026, 2, 1), local(2026, 3, 1), "2026年2月 月度统计报告", f"Monthly {R} — February 2026"),
        (local(2026, 12, 1), local(2027, 1, 1), "2026年12月 月度统计报告", f"Monthly {R} — December 2026"),
        (local(2026, 1, 1), local(2027, 1, 1), "2026年 年度统计报告", f"Annual {R} — 2026"),
        (local(2026, 7, 1), local(2027, 1, 1), "2026年下半年 半年度统计报告", f"Half-Yearly {R} — 2026 H2"),
        # three months that are not a calendar quarter, a range of days, a quarter not at midnight
        (local(2026, 2, 1), local(2026, 5, 1), "服务统计报告（2026-02-01 至 2026-04-30）",
         f"{R} — 2026-02-01 to 2026-04-30"),
        (local(2026, 7, 1), local(2026, 8, 16), "服务统计报告（2026-07-01 至 2026-08-15）",
         f"{R} — 2026-07-01 to 2026-08-15"),
        (local(2026, 7, 1, 8), local(2026, 10, 1, 8), "服务统计报告（2026-07-01 至 2026-10-01）",
         f"{R} — 2026-07-01 to 2026-10-01"),
    ],
)  # fmt: skip
def test_title_follows_the_period(start: datetime, end: datetime, zh: str, en: str) -> None:
    assert period_title(start, end, SH, "zh") == zh
    assert period_title(start, end, SH, "en") == en


def test_a_quarter_in_utc_is_not_a_quarter_in_beijing() -> None:
    """The report's time zone decides: UTC midnight is 08:00 in Beijing."""
    start, end = datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    assert period_title(start, end, UTC, "zh") == "2026年第三季度 季度统计报告"
    assert "季度统计报告" not in period_title(start, end, SH, "zh")
