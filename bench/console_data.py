"""A store the size of a real site, filled fast: bulk inserts through the store's own tables (SQLAlchemy
Core), not the API. Tickets of every source, type and status with their event logs (desk tickets with a
requester and the desk's record), assets with facts, runbook runs with targets, steps and a few approvals
waiting. Deterministic (one seed), so two runs and two databases hold the same data.

    from bench.console_data import fill
    sample = fill(store, tickets=100_000, assets=10_000, runs=1_000)

Used by bench/bench_console.py; reusable by any bench that needs a full store.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, insert

from opsagent.store import Store, schema

START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=330)
BATCH = 5_000
KINDS = ("host", "host", "host", "network", "database", "middleware", "storage")
GROUPS = ("web", "db", "erp", "oa", "core", "branch", "dmz", "backup")
SITES = ("北京机房", "上海机房", "广州分部", "成都分部")
PLACES = ("三楼财务室", "五楼会议室", "营业厅", "机房A区", "二楼行政部", "仓库", "研发中心")
DEVICES = ("打印机", "交换机", "服务器", "数据库", "VPN", "笔记本", "显示器", "存储阵列", "防火墙", "邮箱")
PROBLEMS = ("无法打印", "端口不通", "磁盘空间不足", "连接超时", "无法登录", "响应很慢", "频繁重启", "告警", "蓝屏")
ALERTS = ("NodeDown", "DiskFull", "LinkDown", "HighLoad", "FanFailure", "TablespaceFull", "CertExpiring")
ENGINEERS = ("lisi", "zhangsan", "wangwu", "zhaoliu", "chenqi", "liuba", None, None)
CATEGORIES = ("software", "hardware", "network", "other")


@dataclass
class Sample:
    """What a bench asks for afterwards: ids and names known to exist, and the values filters use."""

    tickets: int = 0
    assets: list[str] = field(default_factory=list)
    ticket_ids: list[int] = field(default_factory=list)
    searches: tuple[str, ...] = ("打印机", "端口不通", "VPN")
    assignees: tuple[str, ...] = tuple(e for e in ENGINEERS if e)


def _in_batches(conn: Connection, table: Table, rows: Iterator[dict[str, Any]]) -> int:
    batch: list[dict[str, Any]] = []
    done = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            conn.execute(insert(table), batch)
            done, batch = done + len(batch), []
    if batch:
        conn.execute(insert(table), batch)
        done += len(batch)
    return done


def _asset_rows(n: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for k in range(n):
        kind = rng.choice(KINDS)
        yield {
            "name": f"{kind[:3]}-{k:05d}", "kind": kind, "address": f"10.{k // 65536}.{k // 256 % 256}.{k % 256}",
            "port": None, "description": "", "groups": rng.sample(GROUPS, 2),
            "tags": {"site": rng.choice(SITES), "env": rng.choice(("prod", "test"))}, "vars": {},
            "credentials": {}, "collectors": [], "source": "bench", "created_at": START, "updated_at": START,
        }  # fmt: skip


def _fact_rows(n: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for k in range(n):
        at = START + timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))
        facts: dict[str, Any] = {
            "os.name": rng.choice(("Debian", "CentOS", "Kylin", "UOS", "Windows Server")),
            "os.version": rng.choice(("12", "7.9", "V10", "20", "2019")),
            "cpu.count": rng.choice((2, 4, 8, 16, 32)),
            "memory.total_bytes": rng.choice((8, 16, 32, 64, 128)) * 2**30,
            "uptime_seconds": rng.randrange(10**7),
            "hostname": f"h{k:05d}.corp.example",
            "vendor": rng.choice(("Huawei", "H3C", "Inspur", "Dell", "Lenovo")),
            "serial": f"SN{rng.randrange(10**9):09d}",
        }
        for disk in range(rng.randrange(1, 4)):
            facts[f"disks.{disk}.size_bytes"] = rng.randrange(1, 4) * 500 * 10**9
            facts[f"disks.{disk}.mount"] = "/" if disk == 0 else f"/data{disk}"
        for key, value in facts.items():
            yield {"asset_id": k + 1, "key": key, "value": value, "collector": "ssh", "updated_at": at}


def _requesters(n: int, orgs: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    organisations = [
        {"id": o + 1, "name": f"单位{o:02d}", "kind": "external" if o % 3 else "internal", "notes": "",
         "created_at": START, "address": ""} for o in range(orgs)
    ]  # fmt: skip
    people = [
        {"id": p + 1, "name": f"报修人{p:04d}", "organisation_id": p % orgs + 1, "department": "行政部",
         "phone": f"138{p:08d}", "email": f"user{p:04d}@example.com", "type": "internal" if p % 3 else "external",
         "language": "zh", "preferred_channel": "phone", "notes": "", "created_at": START, "updated_at": START,
         "timezone": None} for p in range(n)
    ]  # fmt: skip
    return organisations, people


@dataclass
class _Ticket:
    row: dict[str, Any]
    events: list[dict[str, Any]]
    details: dict[str, Any] | None
    service: dict[str, Any] | None  # the service record of an archived ticket


def _lifecycle(rng: random.Random, opened: datetime, active_share: float) -> tuple[str, list[tuple[datetime, str]]]:
    events = [(opened, "opened")]
    at = opened
    if rng.random() < active_share:
        if rng.random() < 0.5:
            return "open", events
        at += timedelta(minutes=rng.randrange(1, 120))
        return "acknowledged", [*events, (at, "acknowledged")]
    at += timedelta(minutes=rng.randrange(1, 120))
    events.append((at, "acknowledged"))
    for _ in range(rng.randrange(0, 3)):
        at += timedelta(minutes=rng.randrange(5, 600))
        events.append((at, "note"))
    at += timedelta(hours=rng.randrange(1, 72))
    events.append((at, "resolved"))
    if rng.random() < 0.6:
        at += timedelta(days=rng.randrange(1, 7))
        events += [(at, "closed"), (at, "archived")]  # the shipped policy archives at closure
        return "closed", events
    return "resolved", events


def _ticket(i: int, rng: random.Random, asset_names: list[str], people: int, active_share: float) -> _Ticket:
    opened = START + SPAN * (i / 100_000 % 1) + timedelta(seconds=rng.randrange(600))
    source = rng.choice(("rule", "rule", "alertmanager", "desk", "desk", "desk", "trap"))
    status, lifecycle = _lifecycle(rng, opened, active_share)
    by_people = source == "desk"
    title = f"{rng.choice(PLACES)}{rng.choice(DEVICES)}{rng.choice(PROBLEMS)}"
    at_of = dict((kind, at) for at, kind in lifecycle)
    row = {
        "id": i + 1, "fingerprint": f"fp{i}", "alertname": "" if by_people else rng.choice(ALERTS),
        "source": source, "status": status, "title": title if by_people else f"{rng.choice(ALERTS)} {title}",
        "description": f"用户来电：{title}，请尽快处理。" if by_people else "", "severity": "",
        "priority": rng.choice(("P1", "P2", "P2", "P3", "P3", "P3", "P4")), "category": rng.choice(CATEGORIES),
        "requester_type": rng.choice(("internal", "external")), "asset": rng.choice(asset_names),
        "assignee": rng.choice(ENGINEERS) if status != "open" else None, "cause": None, "resolution_steps": None,
        "resolve_policy": "manual" if by_people else "auto", "labels": {}, "annotations": {}, "value": None,
        "count": 1, "flapping": False, "suppressed": [], "opened_at": opened, "last_fired_at": opened,
        "acknowledged_at": at_of.get("acknowledged"), "resolved_at": at_of.get("resolved"),
        "closed_at": at_of.get("closed"), "updated_at": lifecycle[-1][0],
        "type": "service_request" if by_people and rng.random() < 0.4 else "incident",
        "team": rng.choice(("network", "server", "desktop")), "contract": None,
    }  # fmt: skip
    events = [
        {"incident_id": i + 1, "at": at, "kind": kind, "actor": "opsagent" if kind == "opened" else "lisi",
         "message": "已电话联系用户" if kind == "note" else "", "detail": {}} for at, kind in lifecycle
    ]  # fmt: skip
    details = None
    if by_people:
        details = {
            "incident_id": i + 1,
            "requester_id": rng.randrange(people) + 1,
            "channel": "phone",
            "subcategory": "",
            "request": title,
            "promises": "",
            "assets": [row["asset"]],
            "flags": {},
        }
    service = None
    if status == "closed":
        service = {"incident_id": i + 1, "archived_at": row["closed_at"], "sla": {}, "breached": False,
                   "updated_at": row["closed_at"]}  # fmt: skip
    return _Ticket(row, events, details, service)


def _fill_tickets(
    conn: Connection, n: int, rng: random.Random, asset_names: list[str], people: int, active_share: float
) -> None:
    tickets: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []

    def flush() -> None:
        for table, rows in ((schema.incidents, tickets), (schema.incident_events, events),
                            (schema.ticket_details, details), (schema.incident_service, services)):  # fmt: skip
            if rows:
                conn.execute(insert(table), rows)
            rows.clear()

    for i in range(n):
        made = _ticket(i, rng, asset_names, people, active_share)
        tickets.append(made.row)
        events.extend(made.events)
        details += [made.details] if made.details is not None else []
        services += [made.service] if made.service is not None else []
        if len(tickets) >= BATCH:
            flush()
    flush()


def _run_rows(n: int, rng: random.Random, asset_names: list[str], tickets: int) -> Iterator[_RunRows]:
    for r in range(n):
        started = START + SPAN * (r / max(n, 1)) + timedelta(seconds=rng.randrange(600))
        waiting = r % 100 == 0
        targets = rng.sample(asset_names, rng.randrange(1, 6))
        status = "running" if waiting else rng.choice(("succeeded", "succeeded", "failed"))
        run = {
            "id": r + 1, "runbook": rng.choice(("inspection/linux-daily", "emergency/restart-service",
                                                 "inspection/network-weekly", "emergency/clear-disk")),
            "kind": "inspection", "status": status, "actor": "lisi", "trigger": rng.choice(("cli", "schedule")),
            "incident_id": rng.randrange(tickets) + 1 if tickets and r % 4 == 0 else None, "parameters": {},
            "selector": ",".join(targets), "check_mode": False, "retry_of": None, "pid": None, "hostname": "bench",
            "started_at": started, "finished_at": None if waiting else started + timedelta(minutes=2),
            "summary": {"ok": len(targets)}, "message": "", "lease_until": None,
        }  # fmt: skip
        yield _RunRows(run, targets, waiting)


@dataclass
class _RunRows:
    run: dict[str, Any]
    targets: list[str]
    waiting: bool


def _fill_runs(conn: Connection, n: int, rng: random.Random, asset_names: list[str], tickets: int) -> None:
    runs, targets, steps, approvals = [], [], [], []
    for made in _run_rows(n, rng, asset_names, tickets):
        run_id, started = made.run["id"], made.run["started_at"]
        runs.append(made.run)
        for asset in made.targets:
            targets.append(
                {
                    "run_id": run_id,
                    "asset": asset,
                    "status": "ok",
                    "message": "",
                    "checks": {"pass": 3, "warn": 0, "fail": 0},
                    "duration": 1.5,
                    "finished_at": started,
                }
            )
            for seq, step in enumerate(("uptime", "df -h", "systemctl --failed")):
                steps.append(
                    {
                        "run_id": run_id,
                        "asset": asset,
                        "seq": seq,
                        "path": step,
                        "type": "command",
                        "status": "ok",
                        "command": step,
                        "stdout": "ok\n",
                        "stderr": "",
                        "rc": 0,
                        "attempts": 1,
                        "duration": 0.2,
                        "message": "",
                        "checks": [],
                        "started_at": started,
                    }
                )
        if made.waiting:
            approvals.append({"run_id": run_id, "asset": made.targets[0], "step": "restart", "message": "重启服务？",
                              "approvers": ["admin"], "status": "pending", "requested_at": started,
                              "decided_at": None, "decided_by": None, "comment": "", "channel": "api"})  # fmt: skip
    for table, rows in ((schema.runbook_runs, runs), (schema.runbook_targets, targets),
                        (schema.runbook_steps, steps), (schema.runbook_approvals, approvals)):  # fmt: skip
        _in_batches(conn, table, iter(rows))


def fill(
    store: Store,
    tickets: int = 100_000,
    assets: int = 10_000,
    runs: int = 1_000,
    requesters: int = 2_000,
    active_share: float = 0.05,
    seed: int = 23,
) -> Sample:
    """Fill an empty, migrated store. ``active_share``: the part of tickets still open or acknowledged."""
    rng = random.Random(seed)
    asset_rows = list(_asset_rows(assets, rng))
    names = [a["name"] for a in asset_rows]
    organisations, people = _requesters(requesters, 20)
    with store.transaction() as conn:
        _in_batches(conn, schema.assets, iter(asset_rows))
        _in_batches(conn, schema.facts, _fact_rows(assets, rng))
        _in_batches(conn, schema.organisations, iter(organisations))
        _in_batches(conn, schema.requesters, iter(people))
        _fill_tickets(conn, tickets, rng, names, requesters, active_share)
        _fill_runs(conn, runs, rng, names, tickets)
    if store.engine.dialect.name == "postgresql":
        _advance_sequences(store)
        with store.transaction() as conn:  # committed: statistics gathered in a rolled-back transaction are lost
            conn.exec_driver_sql("ANALYZE")  # (and autovacuum would not run it again: no rows changed since)
    pick = random.Random(seed + 1)
    return Sample(tickets=tickets, assets=pick.sample(names, min(50, len(names))),
                  ticket_ids=pick.sample(range(1, tickets + 1), min(200, tickets)))  # fmt: skip


def settle(store: Store, roots: list[Path]) -> int:
    """What a serve running for a while leaves in the store: every ticket's SLA projection current
    (serve's own tick, run here until nothing is left to bring up to date). Returns the ticks run."""
    from opsagent.sla import service
    from opsagent.sla.policy import load_policy

    policy, state, ticks = load_policy(roots), service.TickState(), 0
    while state.settling != [] and ticks < 1000:
        service.tick(store, policy, None, state)
        ticks += 1
    return ticks


def _advance_sequences(store: Store) -> None:
    """Explicit ids leave PostgreSQL's serial sequences behind: move them past the rows inserted."""
    with store.transaction() as conn:
        for table in (schema.organisations, schema.requesters, schema.incidents, schema.runbook_runs):
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), (SELECT max(id) FROM {table.name}))"
            )
