"""Pure parts of the console's report, admin and asset pages: the period a query names, the sparkline's
points, which series belong to an asset, the diff lines' kinds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from opsagent.series import SeriesHistory
from opsagent.web import asset_extras, periods

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 6)


def test_a_quarter_a_month_and_a_custom_range_begin_at_local_midnight() -> None:
    q = periods.parse({}, SHANGHAI, TODAY)  # default: this quarter
    assert (q.kind, q.quarter) == ("quarter", "2026Q4")
    assert q.start == datetime(2026, 9, 30, 16, tzinfo=UTC) and q.end == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert periods.parse({"kind": "quarter", "quarter": "2026q1"}, UTC, TODAY).end == datetime(2026, 4, 1, tzinfo=UTC)
    m = periods.parse({"kind": "month", "month": "2026-12"}, UTC, TODAY)
    assert (m.start, m.end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    c = periods.parse({"kind": "custom", "from": "2026-03-01", "to": "2026-03-08"}, UTC, TODAY)
    assert (c.end - c.start).days == 7 and c.query() == {"kind": "custom", "from": "2026-03-01", "to": "2026-03-08"}


@pytest.mark.parametrize(
    ("query", "field"),
    [({"kind": "year"}, "kind"), ({"kind": "quarter", "quarter": "2026Q5"}, "quarter"),
     ({"kind": "month", "month": "2026-13"}, "month"), ({"kind": "month", "month": "<b>"}, "month"),
     ({"kind": "custom", "from": "2026-03-08", "to": "2026-03-01"}, "to"),
     ({"kind": "custom", "from": "x"}, "from"), ({"kind": "custom", "from": "1990-01-01", "to": "2026-01-01"}, "to"),
     ({"kind": "quarter", "quarter": "0001Q1"}, "quarter"), ({"kind": "quarter", "quarter": "9999Q4"}, "quarter"),
     ({"kind": "custom", "from": "0001-01-01", "to": "0001-02-01"}, "from"),
     ({"kind": "custom", "from": "2026-01-01", "to": "9999-12-31"}, "to")],
)  # fmt: skip
def test_a_bad_period_names_its_field(query: dict[str, str], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        periods.parse(query, UTC, TODAY)


def test_sparkline_points_are_numbers_scaled_into_the_box() -> None:
    assert asset_extras.sparkline([]) == "" and asset_extras.sparkline([1.0]) == ""
    assert asset_extras.sparkline([float("nan"), 2.0]) == ""
    points = asset_extras.sparkline([0.0, 5.0, 10.0])
    assert points == "0.0,23.0 60.0,12.0 120.0,1.0"
    flat = asset_extras.sparkline([3.0] * 500)  # a constant series: a line, bounded in points
    pairs = [tuple(map(float, p.split(","))) for p in flat.split()]
    assert len(pairs) <= asset_extras.SPARK_POINTS + 1 and pairs[-1][0] == 120.0
    assert all(0 <= x <= 120 and 0 <= y <= 24 for x, y in pairs)


def test_an_assets_series_are_those_of_its_collectors_and_its_health() -> None:
    history = SeriesHistory()
    history.ingest(("db1", "postgres"), [("pg_up", {"asset": "db1"}, 1.0, "gauge")], 1.0, replace=True)
    history.ingest(("self", "db1", "postgres"), [("opsagent_up", {"asset": "db1"}, 1.0, "gauge")], 1.0, replace=True)
    history.ingest(("db10", "postgres"), [("pg_up", {"asset": "db10"}, 1.0, "gauge")], 1.0, replace=True)
    found = history.of_producers(asset_extras._owned_by("db1"))
    assert sorted((s.name, s.labels["asset"]) for s in found) == [("opsagent_up", "db1"), ("pg_up", "db1")]


def test_diff_lines_are_classified_not_interpreted() -> None:
    lines = asset_extras._diff_lines("--- rev 1\n+++ rev 2\n@@ -1 +1 @@\n-a\n+<b>\n same")
    assert [k for k, _ in lines] == ["file", "file", "hunk", "del", "add", "same"]
    assert lines[4][1] == "+<b>"  # the template escapes it
