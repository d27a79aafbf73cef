"""Store side of the console's report and admin pages (SQLite and PostgreSQL): a period report narrowed
to one team or contract counts only its tickets (with the projections' shortcut as without), and a
user change that would leave no enabled admin is undone with its audit row."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from opsagent.auth import accounts
from opsagent.reports import period
from opsagent.store import Store, schema, user_repo
from tests.sla.policies import policy
from tests.store.test_sla_report_projections import END, REPORT, START, _fill


def test_a_period_report_narrowed_to_a_team_or_contract(store: Store) -> None:
    _fill(store, 60)
    i = schema.incidents
    with store.transaction() as conn:
        conn.execute(update(i).where(i.c.id <= 20).values(team="网络组", contract="C-ACME"))
        conn.execute(update(i).where(i.c.id > 50).values(team="桌面组"))
    p = policy()
    whole = period.load_stats(store, p, START, END, REPORT)
    assert whole.by["team"] == {"网络组": 20, "桌面组": 10} and whole.by["contract"] == {"C-ACME": 20}
    for scope, total in (({"team": "网络组"}, 20), ({"team": "桌面组"}, 10), ({"contract": "C-ACME"}, 20),
                         ({"team": "桌面组", "contract": "C-ACME"}, 0), ({"team": "<none>"}, 0)):  # fmt: skip
        fast = period.load_stats(store, p, START, END, REPORT, scope=scope)
        slow = period.load_stats(store, p, START, END, REPORT, projections=False, scope=scope)
        assert fast.total == total and fast.summary() == slow.summary(), scope
    with pytest.raises(ValueError, match="scope"):
        period.load_stats(store, p, START, END, REPORT, scope={"status": "open"})
    doc = period.build(whole, "en", START.tzinfo, REPORT, None, {"team": "网络组"})
    assert ("Responsible team", "网络组") in doc.blocks[1].rows  # type: ignore[union-attr]


def _audits(store: Store, action: str) -> int:
    a = schema.audit.c
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(a.action == action)).scalar_one())


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(store: Store) -> None:
    for name in ("root", "second"):
        user_repo.add_user(store, name, {"role": "admin"}, None, "setup")
    user_repo.add_user(store, "eng", {"role": "engineer"}, None, "setup")

    def change(name: str, values: dict[str, object], action: str) -> bool:
        guard = accounts.admin_guard(user_repo.get_user(store, name))
        return user_repo.update_user(store, name, values, "root", action, guard)

    assert change("second", {"disabled": True}, "user.disable")
    with pytest.raises(accounts.LastAdminError):
        change("root", {"role": "engineer"}, "user.role")
    with pytest.raises(accounts.LastAdminError):
        change("root", {"disabled": True}, "user.disable")
    found = user_repo.get_user(store, "root")
    assert found is not None and found["role"] == "admin" and not found["disabled"]
    assert _audits(store, "user.role") == 0 and _audits(store, "user.disable") == 1  # undone with its audit row
    assert change("second", {"disabled": False}, "user.enable")
    assert change("root", {"role": "engineer"}, "user.role")
    with pytest.raises(accounts.LastAdminError):
        change("second", {"disabled": True}, "user.disable")
    assert change("eng", {"disabled": True}, "user.disable")  # not an admin: no rule to keep
    assert _audits(store, "user.disable") == 2


def test_a_store_without_any_admin_still_disables_an_engineer(store: Store) -> None:
    user_repo.add_user(store, "eng", {"role": "engineer"}, None, "setup")
    assert accounts.admin_guard(user_repo.get_user(store, "eng")) is None
    assert user_repo.update_user(store, "eng", {"disabled": True}, "cli", "user.disable", accounts.admin_guard(None))
