"""Prometheus scrape configuration for an inventory: the multi-target exporter pattern.

One scrape job per kind of collector (``node`` for local and ssh, ``snmp``, ``postgres``, ``mysql``,
``redis``, ``nginx``, ``blackbox`` for probes) whose targets are asset names; relabelling turns each
into ``/metrics?target=ASSET&collector=…`` on the agent and sets ``instance`` to the asset, as the
snmp_exporter and blackbox_exporter documentation does. Dashboards and rules written for
node_exporter (``node_load1{job="node", instance="web01"}``) then work unchanged. A job
``opsagent`` scrapes the agent's own series (``?scope=agent``). Pure: data in, data out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# collector type -> job, named as the exporter whose series the collector produces is usually named
JOBS: dict[str, str] = {
    "local": "node",
    "ssh": "node",
    "snmp": "snmp",
    "postgres": "postgres",
    "mysql": "mysql",
    "redis": "redis",
    "nginx": "nginx",
    "probe": "blackbox",
}
AGENT_JOB = "opsagent"
DEFAULT_TIMEOUT = 10.0  # Prometheus' default scrape_timeout


def job_of(collector: str) -> str:
    """The job of a collector type (a type not in :data:`JOBS` is its own job)."""
    return JOBS.get(collector, collector)


@dataclass
class Job:
    """One scrape job: its collector types, its targets (asset names) and their poll intervals."""

    name: str
    collectors: set[str] = field(default_factory=set)
    targets: set[str] = field(default_factory=set)
    intervals: set[float] = field(default_factory=set)

    def scrape_interval(self, override: float | None) -> float:
        """``override``, else the shortest poll interval of the job's targets (a scrape then never
        misses a poll; scraping an unchanged value again costs Prometheus nothing)."""
        return override if override is not None else min(self.intervals)


def jobs_for(targets: Iterable[tuple[str, str, float]]) -> list[Job]:
    """Jobs for (asset, collector type, poll interval) triples, by job name."""
    jobs: dict[str, Job] = {}
    for asset, collector, interval in targets:
        name = job_of(collector)
        job = jobs.setdefault(name, Job(name))
        job.collectors.add(collector)
        job.targets.add(asset)
        job.intervals.add(interval)
    return [jobs[name] for name in sorted(jobs)]


def duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (``15s``, ``1m``, ``1m30s``, ``500ms``)."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    minutes, secs = divmod(ms // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


def relabel(agent: str) -> list[dict[str, Any]]:
    """The multi-target relabelling: target -> ?target=, instance = asset, address = the agent."""
    return [
        {"source_labels": ["__address__"], "target_label": "__param_target"},
        {"source_labels": ["__param_target"], "target_label": "instance"},
        {"target_label": "__address__", "replacement": agent},
    ]


def _timing(interval: float) -> dict[str, str]:
    return {"scrape_interval": duration(interval), "scrape_timeout": duration(min(interval, DEFAULT_TIMEOUT))}


def scrape_configs(
    jobs: Iterable[Job],
    agent: str,
    *,
    interval: float | None = None,
    file_sd: Mapping[str, str] | None = None,
    metrics_path: str = "/metrics",
) -> list[dict[str, Any]]:
    """``scrape_configs`` entries: the agent's own job, then one job per collector kind.
    ``file_sd``: job name -> path of its file_sd targets file (else static targets)."""
    out: list[dict[str, Any]] = [
        {
            "job_name": AGENT_JOB,
            **(_timing(interval) if interval is not None else {}),
            "metrics_path": metrics_path,
            "params": {"scope": ["agent"]},
            "static_configs": [{"targets": [agent]}],
        }
    ]
    for job in jobs:
        entry: dict[str, Any] = {
            "job_name": job.name,
            **_timing(job.scrape_interval(interval)),
            "metrics_path": metrics_path,
            "params": {"collector": sorted(job.collectors)},
        }
        if file_sd is not None:
            entry["file_sd_configs"] = [{"files": [file_sd[job.name]]}]
        else:
            entry["static_configs"] = [{"targets": sorted(job.targets)}]
        entry["relabel_configs"] = relabel(agent)
        out.append(entry)
    return out


def file_sd_targets(job: Job) -> list[dict[str, Any]]:
    """The job's targets as a file_sd document (Prometheus re-reads it when it changes)."""
    return [{"targets": sorted(job.targets), "labels": {}}]
