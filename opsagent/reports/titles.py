"""The period report's title follows the period: 季度统计报告 only for a calendar quarter; a month,
a half-year and a year have their own names; any other range is a 服务统计报告 with its dates."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

_ZH_QUARTERS = ("第一季度", "第二季度", "第三季度", "第四季度")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")  # fmt: skip


def period_kind(start: datetime, end: datetime, tz: tzinfo) -> tuple[str, date, date]:
    """("month" | "quarter" | "half" | "year" | "custom", first local day, last local day)."""
    lo, hi = start.astimezone(tz), end.astimezone(tz)
    first, last = lo.date(), (hi - timedelta(microseconds=1)).date()
    if not (_midnight(lo) and _midnight(hi)) or first.day != 1 or hi.day != 1:
        return "custom", first, last
    months = (hi.year - lo.year) * 12 + hi.month - lo.month
    if months == 1:
        return "month", first, last
    if months == 3 and lo.month in (1, 4, 7, 10):
        return "quarter", first, last
    if months == 6 and lo.month in (1, 7):
        return "half", first, last
    if months == 12 and lo.month == 1:
        return "year", first, last
    return "custom", first, last


def _midnight(moment: datetime) -> bool:
    return (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0)


def period_title(start: datetime, end: datetime, tz: tzinfo, lang: str) -> str:
    kind, first, last = period_kind(start, end, tz)
    y = first.year
    if lang == "zh":
        return {
            "month": f"{y}年{first.month}月 月度统计报告",
            "quarter": f"{y}年{_ZH_QUARTERS[(first.month - 1) // 3]} 季度统计报告",
            "half": f"{y}年{'上' if first.month == 1 else '下'}半年 半年度统计报告",
            "year": f"{y}年 年度统计报告",
        }.get(kind, f"服务统计报告（{first.isoformat()} 至 {last.isoformat()}）")
    return {
        "month": f"Monthly Service Statistics Report — {_EN_MONTHS[first.month - 1]} {y}",
        "quarter": f"Quarterly Service Statistics Report — {y} Q{(first.month - 1) // 3 + 1}",
        "half": f"Half-Yearly Service Statistics Report — {y} H{1 if first.month == 1 else 2}",
        "year": f"Annual Service Statistics Report — {y}",
    }.get(kind, f"Service Statistics Report — {first.isoformat()} to {last.isoformat()}")
