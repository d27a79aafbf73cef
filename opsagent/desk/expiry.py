"""Warnings before a service contract's validity, or an asset's warranty or maintenance period, ends
(``desk.expiry_warnings``: days before, e.g. ``[30, 7]``).

:func:`expiring` is pure (contracts, a selector resolver and a day in, what ends within N days out);
:func:`warn_expiring` sends each due warning once per contract / asset, end date and threshold — the
``desk_expiry_notices`` table remembers what went out (its unique key also keeps two agents from both
sending it) — through the receivers of ``alerts/notifications.yaml``. A renewed contract (a new end
date) is warned about again when its time comes. ``opsagent desk contracts --expiring`` lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from opsagent.alerts.notify import senders
from opsagent.alerts.notify.formats import Group, NotifyAlert, Style
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.desk.contracts import Contract
from opsagent.errors import OpsAgentError
from opsagent.store import schema
from opsagent.store.engine import Store

log = logging.getLogger(__name__)

# selector → asset names (the inventory's)
Resolver = Callable[[str], list[str]]


@dataclass(frozen=True)
class Expiry:
    kind: str  # contract | warranty | maintenance
    contract: str
    organisation: str
    asset: str | None
    until: date
    days_left: int

    @property
    def subject(self) -> str:
        return self.contract if self.asset is None else f"{self.contract}/{self.asset}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "contract": self.contract, "organisation": self.organisation, "asset": self.asset,
                "until": self.until.isoformat(), "days_left": self.days_left}  # fmt: skip


def expiring(contracts: Mapping[str, Any], resolve: Resolver | None, today: date, within: int) -> list[Expiry]:
    """Contracts and warranty/maintenance periods ending within ``within`` days of ``today`` (ended
    ones are not listed: an expired contract flags its tickets instead), soonest first."""
    out: list[Expiry] = []
    for name, c in contracts.items():
        if not isinstance(c, Contract):
            continue
        if 0 <= (c.valid_until - today).days <= within:
            out.append(Expiry("contract", name, c.organisation, None, c.valid_until, (c.valid_until - today).days))
        for period in c.warranty:
            left = (period.until - today).days
            if not 0 <= left <= within:
                continue
            assets = _assets(resolve, period.assets)
            out += [Expiry(period.kind, name, c.organisation, a, period.until, left) for a in assets]
    return sorted(out, key=lambda e: (e.until, e.contract, e.kind, e.asset or ""))


def _assets(resolve: Resolver | None, selector: str) -> list[str]:
    if resolve is None:
        return [selector]
    try:
        return sorted(set(resolve(selector))) or [selector]
    except OpsAgentError:  # a selector the inventory cannot answer: warn about the period as written
        return [selector]


def threshold_for(days_left: int, thresholds: list[int]) -> int | None:
    """The smallest threshold the period has reached (``days_left`` at or under it), if any."""
    reached = [t for t in thresholds if days_left <= t]
    return min(reached) if reached else None


def due(store: Store, items: list[Expiry], thresholds: list[int]) -> list[tuple[Expiry, int]]:
    """The warnings not sent yet: each item with the threshold it has reached."""
    n = schema.desk_expiry_notices.c
    with store.engine.connect() as conn:
        sent = {(r.kind, r.subject, r.until, r.threshold) for r in conn.execute(select(n.kind, n.subject, n.until,
                                                                                      n.threshold))}  # fmt: skip
    out = []
    for item in items:
        reached = threshold_for(item.days_left, thresholds)
        if reached is not None and (item.kind, item.subject, item.until, reached) not in sent:
            out.append((item, reached))
    return out


def record(store: Store, sent: list[tuple[Expiry, int]], at: datetime) -> int:
    """Remember warnings as sent; one another agent recorded first is left as it is."""
    done = 0
    for item, threshold in sent:
        try:
            with store.transaction() as conn:
                conn.execute(insert(schema.desk_expiry_notices).values(
                    kind=item.kind, subject=item.subject[:512], until=item.until, threshold=threshold, sent_at=at,
                ))  # fmt: skip
            done += 1
        except IntegrityError:
            continue
    return done


_WORDS = {
    "contract": {"zh": "服务协议 {contract}（{organisation}）将于 {until} 到期，还剩 {days} 天",
                 "en": "Service contract {contract} ({organisation}) ends on {until}: {days} day(s) left"},
    "warranty": {"zh": "{asset} 的保修期（服务协议 {contract}，{organisation}）将于 {until} 到期，还剩 {days} 天",
                 "en": "Warranty of {asset} (contract {contract}, {organisation}) ends on {until}: {days} day(s) left"},
    "maintenance": {"zh": "{asset} 的维保期（服务协议 {contract}，{organisation}）将于 {until} 到期，还剩 {days} 天",
                    "en": "Maintenance of {asset} (contract {contract}, {organisation}) ends on {until}: "
                          "{days} day(s) left"},
}  # fmt: skip


def message(item: Expiry, lang: str) -> str:
    words = _WORDS[item.kind]
    return words.get(lang, words["en"]).format(contract=item.contract, organisation=item.organisation,
                                               asset=item.asset or "", until=item.until.isoformat(),
                                               days=item.days_left)  # fmt: skip


def group(items: list[tuple[Expiry, int]], receiver: str, style: Style, at: datetime) -> Group:
    """The warnings as one notification: each an alert (``ContractExpiring`` / ``WarrantyExpiring``)."""
    alerts = []
    for item, threshold in items:
        name = "ContractExpiring" if item.kind == "contract" else "WarrantyExpiring"
        labels = {"alertname": name, "contract": item.contract, "organisation": item.organisation,
                  "kind": item.kind, "severity": "warning", "until": item.until.isoformat(),
                  "threshold_days": str(threshold)}  # fmt: skip
        if item.asset is not None:
            labels["asset"] = item.asset
        text = message(item, style.lang)
        alerts.append(NotifyAlert(
            fingerprint=f"expiry-{item.kind}-{item.subject}-{item.until}-{threshold}", labels=labels,
            annotations={"summary": text, "description": text}, status="firing", starts_at=at.timestamp(),
        ))  # fmt: skip
    return Group(receiver=receiver, key=f"desk-expiry:{at.date()}", group_labels={"alertname": "DeskExpiry"},
                 firing=alerts)  # fmt: skip


async def warn_expiring(
    store: Store,
    contracts: Mapping[str, Any],
    resolve: Resolver | None,
    notify: NotifyConfig,
    names: list[str] | None,
    thresholds: list[int],
    style: Style,
    at: datetime,
) -> list[tuple[Expiry, int]]:
    """Send the warnings due on ``at``'s day (in ``style``'s zone) to the named receivers (default:
    all); the ones at least one receiver took are recorded as sent and returned."""
    if not thresholds:
        return []
    today = at.astimezone(style.zone).date()
    pending = due(store, expiring(contracts, resolve, today, max(thresholds)), thresholds)
    receivers = [r for r in notify.receivers if names is None or r.name in names]
    if not pending:
        return []
    if not receivers:
        log.warning("desk expiry: %d warning(s) due but no notification receiver to send them to", len(pending))
        return []
    results = [await senders.send(r, group(pending, r.name, style, at), notify.evaluation.external_url, style)
               for r in receivers]  # fmt: skip
    for receiver, (ok, error) in zip(receivers, results, strict=True):
        if not ok:
            log.warning("desk expiry warnings to %s failed: %s", receiver.name, error)
    if not any(ok for ok, _ in results):
        return []
    record(store, pending, at)
    return pending


async def run_warnings(app: Any, at: datetime) -> list[tuple[Expiry, int]]:
    """The periodic job's work over the agent's content, inventory and settings."""
    import asyncio

    from opsagent.alerts.notifyconfig import load_notify_config
    from opsagent.desk.intake import inventory_resolver
    from opsagent.sla.policy import load_policy

    roots = app.config.roots
    settings = app.config.desk
    policy = load_policy(roots)
    inventory = await asyncio.to_thread(app.inventory)
    assets = inventory_resolver(inventory)

    def resolve(selector: str) -> list[str]:
        return [name for name, _ in assets(selector)]

    style = Style(app.config.lang, app.config.zone)
    return await warn_expiring(app.store, policy.contracts, resolve, load_notify_config(roots),
                               settings.expiry_receivers, settings.expiry_warnings, style, at)  # fmt: skip
