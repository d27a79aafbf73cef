"""Business calendars take China's public holidays and 调休 make-up days from chinese-calendar, with
site overrides on top; `opsagent check` warns when a calendar has no data for this year or next."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from click.testing import CliRunner

from opsagent.cli import cli
from opsagent.sla.policy import calendar_warnings, load_policy

ROOT = Path(__file__).resolve().parents[2]
CST = ZoneInfo("Asia/Shanghai")


def worked_hours(policy_root: list[Path], day: date) -> float:
    calendar = load_policy(policy_root).built_calendars["business"]
    start = datetime(day.year, day.month, day.day, tzinfo=CST)
    return calendar.between(start, datetime(day.year, day.month, day.day, 23, 59, tzinfo=CST)) / 3600


def test_shipped_business_calendar_knows_the_holidays_the_hand_kept_list_missed() -> None:
    assert worked_hours([ROOT], date(2026, 1, 2)) == 0  # Friday, New Year holiday (was a working day)
    assert worked_hours([ROOT], date(2026, 1, 4)) == 8  # Sunday, a make-up working day (调休)
    assert worked_hours([ROOT], date(2026, 10, 1)) == 0  # National Day
    assert worked_hours([ROOT], date(2026, 12, 7)) == 8  # an ordinary Monday


def _site(tmp_path: Path, business: dict[str, object]) -> Path:
    shipped = yaml.safe_load((ROOT / "alerts" / "service-levels.yaml").read_text())
    shipped["calendars"]["business"] |= business
    (tmp_path / "alerts").mkdir(parents=True, exist_ok=True)
    (tmp_path / "alerts" / "service-levels.yaml").write_text(yaml.safe_dump(shipped, allow_unicode=True))
    return tmp_path


def test_site_overrides_win_over_the_package(tmp_path: Path) -> None:
    site = _site(tmp_path, {"holidays": [date(2026, 3, 2)], "workdays": [date(2026, 1, 2)]})
    assert worked_hours([ROOT, site], date(2026, 1, 2)) == 8  # the site works that day
    assert worked_hours([ROOT, site], date(2026, 3, 2)) == 0  # a company holiday
    assert worked_hours([ROOT, site], date(2026, 1, 4)) == 8  # the package's make-up day still counts


def test_check_warns_for_years_without_holiday_data(tmp_path: Path) -> None:
    warnings = calendar_warnings([ROOT], date(2031, 6, 1))
    assert [w.field for w in warnings] == ["calendars.business"]  # 24x7 needs no holidays
    assert "2031 and 2032" in warnings[0].message and warnings[0].line
    site = _site(tmp_path, {"holidays": [date(2031, 10, 1), date(2032, 10, 1)]})
    assert calendar_warnings([ROOT, site], date(2031, 6, 1)) == []
    assert calendar_warnings([ROOT], date(2020, 6, 1)) == []  # the package has 2020 and 2021


def test_check_command_prints_the_warning_and_still_passes(tmp_path: Path) -> None:
    site = _site(tmp_path / "site", {"public_holidays": None, "holidays": [date(2019, 10, 1)]})
    (tmp_path / "opsagent.yaml").write_text(yaml.safe_dump({"content_roots": [str(site)]}))
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "opsagent.yaml"), "check"])
    assert result.exit_code == 0, result.output
    assert f"no public-holiday data for {date.today().year}" in result.output
    assert "set public_holidays: CN" in result.output
