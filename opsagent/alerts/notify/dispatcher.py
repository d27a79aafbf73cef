"""Grouping, group_wait/group_interval/repeat_interval and resolution notices, as Alertmanager does.

``plan`` is pure: given the alerts to notify and what each group last sent, it returns the groups
to send now. The dispatcher sends them concurrently (each with its own timeout), logs every
attempt in the store's notification log and restores its memory from that log after a restart, so
a restart neither repeats a notification nor loses a pending resolution notice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select

from opsagent.alerts.matchers import matches_all
from opsagent.alerts.notify import senders
from opsagent.alerts.notify.formats import Group, NotifyAlert, Style
from opsagent.alerts.notifyconfig import NotifyConfig, Route
from opsagent.cluster import claims
from opsagent.knowledge.notice import annotate
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now

log = logging.getLogger(__name__)


@dataclass
class GroupMemory:
    created_at: float
    last_sent: float | None = None
    sent_firing: set[str] = field(default_factory=set)
    resolved_waiting: dict[str, NotifyAlert] = field(default_factory=dict)


def group_key(route_index: int, route: Route, labels: dict[str, str]) -> tuple[str, dict[str, str]]:
    if route.group_by == ["..."]:
        group_labels = dict(labels)
    else:
        group_labels = {k: labels[k] for k in route.group_by if labels.get(k)}
    body = ",".join(f'{k}="{v}"' for k, v in sorted(group_labels.items()))
    return f"{route_index}:{route.receiver}:{{{body}}}", group_labels


def plan(  # noqa: C901 - Alertmanager's timing rules in one place
    route_index: int,
    route: Route,
    memory: dict[str, GroupMemory],
    firing: list[NotifyAlert],
    resolved: list[NotifyAlert],
    t: float,
) -> list[Group]:
    """Groups of this route due now. ``resolved`` are alerts that cleared since the last tick."""
    matchers = route.parsed_matchers()
    current: dict[str, Group] = {}
    for alert in firing:
        if matches_all(matchers, alert.labels):
            key, labels = group_key(route_index, route, alert.labels)
            current.setdefault(key, Group(route.receiver, key, labels)).firing.append(alert)
    for alert in resolved:
        if not matches_all(matchers, alert.labels):
            continue
        key, labels = group_key(route_index, route, alert.labels)
        mem = memory.get(key)
        if mem is not None and alert.fingerprint in mem.sent_firing and route.send_resolved:
            mem.resolved_waiting[alert.fingerprint] = alert
    due: list[Group] = []
    for key in set(current) | {k for k, m in memory.items() if m.resolved_waiting}:
        group = current.get(key)
        mem = memory.get(key)
        if mem is None:
            mem = memory[key] = GroupMemory(created_at=t)
        if group is None:
            group = Group(
                route.receiver, key, group_key(route_index, route, next(iter(mem.resolved_waiting.values())).labels)[1]
            )
        group.resolved = list(mem.resolved_waiting.values())
        firing_fps = {a.fingerprint for a in group.firing}
        changed = bool(firing_fps - mem.sent_firing) or bool(group.resolved)
        if mem.last_sent is None:
            send = changed and t - mem.created_at >= route.group_wait
        elif changed:
            send = t - mem.last_sent >= route.group_interval
        else:
            send = bool(group.firing) and t - mem.last_sent >= route.repeat_interval
        if send:
            due.append(group)
    return due


class Dispatcher:
    def __init__(self, store: Store, config: NotifyConfig) -> None:
        self.store = store
        self.config = config
        self.receivers = {r.name: r for r in config.receivers}
        self.memory: dict[str, GroupMemory] = {}
        self.sent = 0
        self.failed = 0
        self.style = Style()  # language and zone of messages people read (serve sets the agent's)
        self.agent: str | None = None  # cluster: sends are claimed in the store (sent once by all agents)

    def restore(self) -> None:
        """Rebuild each group's memory from its last successful notification."""
        t = schema.notification_log.c
        latest = select(func.max(t.id)).where(t.ok.is_(True)).group_by(t.receiver, t.group_key).scalar_subquery()
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(schema.notification_log).where(t.id.in_(latest))).all()
        for row in rows:
            at = as_utc(row.at).timestamp()
            self.memory[row.group_key] = GroupMemory(created_at=at, last_sent=at, sent_firing=set(row.firing))

    def plan_all(self, firing: list[NotifyAlert], resolved: list[NotifyAlert], t: float) -> list[Group]:
        due: list[Group] = []
        for index, route in enumerate(self.config.routes):
            due += plan(index, route, self.memory, firing, resolved, t)
        return due

    async def dispatch(self, groups: list[Group], t: float) -> list[tuple[Group, bool, str]]:
        if self.agent is not None:
            groups = await asyncio.to_thread(self._claimed, groups, t)
        # the articles suggested to each alert's incident go with it (title + console link)
        await asyncio.to_thread(annotate, self.store, groups, self.style.lang, self.config.evaluation.external_url)
        results = await asyncio.gather(*(self._send(g) for g in groups))
        out = []
        for group, (ok, error) in zip(groups, results, strict=True):
            mem = self.memory[group.key]
            if not ok and self.agent is not None:
                await asyncio.to_thread(claims.unclaim, self.store, group.key, self.agent, t)
            if ok:
                mem.last_sent = t
                mem.sent_firing = {a.fingerprint for a in group.firing}
                mem.resolved_waiting.clear()
                self.sent += 1
            else:
                self.failed += 1
                log.warning("notification to %s failed: %s", group.receiver, error)
            out.append((group, ok, error))
        if out:
            await asyncio.to_thread(self._log, out)
        return out

    def _claimed(self, groups: list[Group], t: float) -> list[Group]:
        """The groups this agent won the send of; a lost one takes the winner's memory."""
        assert self.agent is not None
        won: list[Group] = []
        for group in groups:
            route = self.config.routes[int(group.key.split(":", 1)[0])]
            firing = frozenset(a.fingerprint for a in group.firing)
            resolved = frozenset(a.fingerprint for a in group.resolved)
            got = claims.claim(self.store, group.key, self.agent, firing, resolved, t, route.repeat_interval)
            if got.won:
                won.append(group)
                continue
            mem = self.memory[group.key]
            mem.last_sent, mem.sent_firing = got.last_sent, set(got.sent_firing)
            mem.resolved_waiting.clear()
        return won

    async def _send(self, group: Group) -> tuple[bool, str]:
        receiver = self.receivers[group.receiver]
        return await senders.send(receiver, group, self.config.evaluation.external_url, self.style)

    def _log(self, results: list[tuple[Group, bool, str]]) -> None:
        rows: list[dict[str, Any]] = [
            {
                "at": now(),
                "receiver": g.receiver,
                "group_key": g.key,
                "status": g.status,
                "firing": [a.fingerprint for a in g.firing],
                "resolved": [a.fingerprint for a in g.resolved],
                "ok": ok,
                "error": error or None,
            }
            for g, ok, error in results
        ]
        with self.store.transaction() as conn:
            conn.execute(insert(schema.notification_log), rows)
