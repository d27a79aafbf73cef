"""What a ``GET /metrics`` asks for, and the answer (pure: no HTTP here).

- ``/metrics``: every collected series (with its ``asset`` label) and the agent's own series.
- ``/metrics?scope=agent``: the agent's own series only (its process, per-target health, rules,
  traps, backups) — the scrape job of the agent itself when the assets are scraped per target.
- ``/metrics?target=ASSET[&collector=NAME…]``: one asset's collected series, of the named
  collectors only (repeatable or comma-separated), as snmp_exporter and blackbox_exporter answer
  ``?target=``; Prometheus relabels ``instance`` to the asset, so dashboards selecting by
  ``instance``/``job`` work. An asset the agent has not polled (or lacks the collectors) is 404.
  A host or device whose last poll failed is 503, so Prometheus records ``up 0`` as it does when
  node_exporter's host is down or snmp_exporter cannot reach the device; a database, nginx or probe
  whose poll failed answers its exporter-style ``pg_up 0`` / ``redis_up 0`` / ``probe_success 0``
  with ``up 1``, as postgres_exporter, redis_exporter and blackbox_exporter do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opsagent.metrics import Exposition

PLAIN = "text/plain; charset=utf-8"
MAX_NAME = 256
# Collectors standing in for an exporter that runs on (node_exporter) or talks to (snmp_exporter)
# the target and fails the scrape when that is down; the others report the failure as data.
FAILED_POLL_FAILS_SCRAPE = frozenset({"local", "ssh", "snmp"})


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str


def _error(status: int, message: str) -> Answer:
    return Answer(status, (message + "\n").encode(), PLAIN)


def _shown(name: str) -> str:
    return repr(name[:MAX_NAME])


def collectors_of(values: Sequence[str]) -> frozenset[str] | None:
    """``collector=a&collector=b,c`` -> {a, b, c}; None when none is given (every collector)."""
    names = frozenset(n.strip() for v in values for n in v.split(",") if n.strip())
    return names or None


def answer(
    exposition: Exposition, query: Mapping[str, str], collector_values: Sequence[str], accept: str | None
) -> Answer:
    """The response to ``GET /metrics`` with ``query`` (first value of each parameter) and every
    ``collector`` value."""
    scope = query.get("scope")
    target = query.get("target")
    if scope not in (None, "", "all", "agent"):
        return _error(400, f"scope: {_shown(scope)} is not one of all, agent")
    if target is None:
        if collector_values:
            return _error(400, "collector: only with target=ASSET")
        body, content_type = exposition.render(accept, collected=scope != "agent")
        return Answer(200, body, content_type)
    if scope == "agent" or not target:
        return _error(400, "target: give an asset name (and no scope=agent)")
    collectors = collectors_of(collector_values)
    counts = exposition.metrics.target_batches(target, collectors)
    if not counts:
        wanted = f" with collector {', '.join(sorted(collectors))}" if collectors else ""
        return _error(404, f"target {_shown(target)}: no asset{wanted} polled by this agent")
    failures = exposition.metrics.failures(target, collectors)
    live = {c for c, n in counts.items() if n and not (c in failures and c in FAILED_POLL_FAILS_SCRAPE)}
    if not live:
        why = "; ".join(f"{c}: {failures.get(c, 'no series')}" for c in sorted(counts))
        return _error(503, f"target {_shown(target)}: last poll failed ({why})")
    body, content_type = exposition.render_target(accept, target, live)
    return Answer(200, body, content_type)
