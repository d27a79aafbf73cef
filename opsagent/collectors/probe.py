"""Probes in the spirit of blackbox_exporter: HTTP(S), TCP connect, TLS certificate.

Modules (how to probe) and probes (what to probe) are content: ``collectors/probe/*.yaml``. Each
probe yields ``probe_success``, ``probe_duration_seconds`` and its prober's series, labelled
``module`` and ``target``. A failed probe is data (``probe_success 0`` plus
``probe_failure_info{reason}`` and a fact with the message), so the poll itself stays ok and alerts
can fire on ``probe_success == 0``.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opsagent.collectors.base import CollectResult, Outcome, Sample
from opsagent.collectors.dbcommon import credential
from opsagent.collectors.httpcheck import HttpOutcome, ProbeFailure, http_get, tcp_connect, tls_handshake
from opsagent.errors import CollectError
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.units import Duration

NAME = "probe"
HELP = {
    "probe_success": "Displays whether or not the probe was a success",
    "probe_duration_seconds": "Returns how long the probe took to complete in seconds",
    "probe_http_status_code": "Response HTTP status code",
    "probe_http_redirects": "The number of redirects",
    "probe_http_ssl": "Indicates if SSL was used for the final redirect",
    "probe_http_content_length": "Length of http content response",
    "probe_failed_due_to_regex": "Indicates if probe failed due to regex",
    "probe_ssl_earliest_cert_expiry": "Returns last SSL chain expiry in unixtime",
    "probe_tls_version_info": "Returns the TLS version used or NaN when unknown",
    "probe_failure_info": "Why the probe failed (opsagent): reason refused, timeout, tls, dns, status, regex, ...",
}


class ProbeModule(BaseModel):
    """How to probe (blackbox_exporter's module)."""

    model_config = ConfigDict(extra="forbid")

    prober: Literal["http", "tcp", "tls"]
    timeout: Duration = 5.0
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    valid_status_codes: list[int] = Field(default_factory=list, description="default: any 2xx")
    follow_redirects: bool = True
    max_redirects: int = 10
    body_regex: list[str] = Field(default_factory=list, description="fail unless the body matches each")
    body_not_regex: list[str] = Field(default_factory=list, description="fail if the body matches any")
    fail_if_ssl: bool = False
    fail_if_not_ssl: bool = False
    tls_verify: bool = True
    ca_file: str | None = None
    server_name: str | None = None

    @model_validator(mode="after")
    def _regexes_compile(self) -> ProbeModule:
        for pattern in [*self.body_regex, *self.body_not_regex]:
            re.compile(pattern)
        return self


class ProbeTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    module: str
    target: str = Field(description="URL (http) or host:port (tcp, tls); {address} and {port} are the asset's")


class ProbeOptions(BaseModel):
    """Options of the ``probe`` collector: named modules (profile) and the asset's probes."""

    model_config = ConfigDict(extra="forbid")

    modules: dict[str, ProbeModule] = Field(default_factory=dict)
    probes: list[ProbeTarget] = Field(default_factory=list)

    @model_validator(mode="after")
    def _modules_exist(self) -> ProbeOptions:
        for probe in self.probes:
            if probe.module not in self.modules:
                raise ValueError(
                    f"probe {probe.target!r}: unknown module {probe.module!r} (known: {sorted(self.modules)})"
                )
        return self


def expand(target: str, asset: Asset) -> str:
    return target.replace("{address}", asset.target).replace("{port}", str(asset.port or ""))


async def run_probe(
    module: ProbeModule, target: str, auth: tuple[str, str] | None
) -> tuple[list[Sample], dict[str, Any]]:
    """One probe → its samples (without the target labels) and a fact entry."""
    started = time.perf_counter()
    samples: list[Sample] = []
    outcome: HttpOutcome | None = None
    failure: ProbeFailure | None = None
    try:
        async with asyncio.timeout(module.timeout):
            if module.prober == "http":
                outcome = await http_get(target, module, auth)
                samples += outcome.samples()
                failure = outcome.failure
            elif module.prober == "tcp":
                await tcp_connect(target, module.timeout)
            else:
                cert = await tls_handshake(target, module)
                samples += cert.samples()
    except ProbeFailure as exc:
        failure = exc
        samples += exc.samples
    except TimeoutError:
        failure = ProbeFailure("timeout", f"no answer within {module.timeout:g}s")
    duration = time.perf_counter() - started
    samples.append(Sample.of("probe_success", 0 if failure else 1))
    samples.append(Sample.of("probe_duration_seconds", duration))
    fact: dict[str, Any] = {"success": failure is None, "duration_seconds": round(duration, 6)}
    if failure is not None:
        samples.append(Sample.of("probe_failure_info", 1, reason=failure.reason))
        fact |= {"reason": failure.reason, "message": str(failure)}
    return samples, fact


class ProbeCollector:
    """Runs an asset's probes concurrently; each is bounded by its module's timeout."""

    name = NAME
    help = HELP
    options_model = ProbeOptions

    async def collect(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> CollectResult:
        options = ProbeOptions.model_validate(spec.options)
        try:
            user, password = credential(asset, "http", "user"), credential(asset, "http", "password")
        except CollectError as exc:
            return CollectResult.failure(asset.name, NAME, Outcome.FAILED, exc.reason, str(exc))
        auth = (user, password or "") if user else None
        targets = [(p, expand(p.target, asset)) for p in options.probes]
        results = await asyncio.gather(*(run_probe(options.modules[p.module], t, auth) for p, t in targets))
        samples: list[Sample] = []
        facts: dict[str, Any] = {}
        for (probe, target), (found, fact) in zip(targets, results, strict=True):
            labels = (("module", probe.module), ("target", target))
            samples += [Sample(s.name, tuple(sorted((*s.labels, *labels))), s.value, s.kind) for s in found]
            facts[f"{probe.module} {target}"] = fact
        stalled = any(fact.get("reason") == "timeout" for fact in facts.values())
        return CollectResult(
            asset=asset.name, collector=NAME, samples=samples, facts={"probes": facts}, stalled=stalled
        )
