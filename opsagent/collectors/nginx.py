"""nginx collector: the ``stub_status`` page, named as nginx-prometheus-exporter names it.

Options: the status URL (``{address}``/``{port}`` are the asset's), timeout, TLS verification.
Optional basic auth: ``asset.credentials.nginx.{user,password}``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict

from opsagent.collectors.base import CollectResult, Sample
from opsagent.collectors.dbcommon import credential, failed
from opsagent.collectors.httpcheck import ProbeFailure, http_failure, ssl_context
from opsagent.collectors.parsers.dbstatus import parse_stub_status
from opsagent.collectors.sqlquery import exposition_kind
from opsagent.errors import CollectError
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.units import Duration

NAME = "nginx"
HELP = {
    "nginx_up": "Status of the last metric scrape",
    "nginx_connections_active": "Active client connections",
    "nginx_connections_reading": "Connections where NGINX is reading the request header",
    "nginx_connections_writing": "Connections where NGINX is writing the response back to the client",
    "nginx_connections_waiting": "Idle client connections",
    "nginx_connections_accepted": "Accepted client connections",
    "nginx_connections_handled": "Handled client connections",
    "nginx_http_requests_total": "Total http requests",
}
_COUNTERS = {"connections_accepted", "connections_handled", "http_requests"}


class NginxOptions(BaseModel):
    """Options of the ``nginx`` collector (profile ``collectors/nginx/default.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    url: str = "http://{address}:{port}/nginx_status"
    timeout: Duration = 5.0
    tls_verify: bool = True
    ca_file: str | None = None


def status_url(asset: Asset, options: NginxOptions) -> str:
    return options.url.replace("{address}", asset.target).replace("{port}", str(asset.port or 80))


def stub_status_samples(fields: dict[str, int]) -> list[Sample]:
    out = [Sample.of("nginx_up", 1)]
    for key, value in fields.items():
        if key in _COUNTERS:
            name = "nginx_http_requests_total" if key == "http_requests" else f"nginx_{key}"
            out.append(Sample.of(name, value, exposition_kind(name, "counter")))
        else:
            out.append(Sample.of(f"nginx_{key}", value))
    return out


async def fetch(url: str, options: NginxOptions, auth: aiohttp.BasicAuth | None) -> str:
    timeout = aiohttp.ClientTimeout(total=options.timeout)
    connector = aiohttp.TCPConnector(ssl=ssl_context(options.tls_verify, options.ca_file), force_close=True)
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.get(url, auth=auth, allow_redirects=False) as resp,
        ):
            text = await resp.text(errors="replace")
    except aiohttp.ClientError as exc:
        raise http_failure(exc) from None
    except TimeoutError:
        raise ProbeFailure("timeout", f"no answer within {options.timeout:g}s") from None
    if resp.status in (401, 403):
        raise ProbeFailure("auth", f"HTTP {resp.status} from {url}")
    if resp.status != 200:
        raise ProbeFailure("status", f"HTTP {resp.status} from {url}")
    return text


class NginxCollector:
    name = NAME
    up_metric = "nginx_up"
    help = HELP
    options_model = NginxOptions

    async def collect(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> CollectResult:
        options = NginxOptions.model_validate(spec.options)
        url = status_url(asset, options)
        try:
            user, password = credential(asset, NAME, "user"), credential(asset, NAME, "password")
            text = await fetch(url, options, aiohttp.BasicAuth(user, password or "") if user else None)
            fields = parse_stub_status(text)
        except CollectError as exc:
            return failed(asset.name, NAME, exc.reason, str(exc))
        except ProbeFailure as exc:
            return failed(asset.name, NAME, exc.reason, str(exc))
        except ValueError as exc:
            return failed(asset.name, NAME, "parse", f"{url}: {exc}")
        facts = {"status_url": url}
        return CollectResult(asset=asset.name, collector=NAME, samples=stub_status_samples(fields), facts=facts)
