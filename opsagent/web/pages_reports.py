"""The console's report pages: period statistics (a month, a quarter or any range) with server-rendered
SVG charts, narrowed to one service contract or one team, and the same report to download as PDF, HTML
or Markdown — the very document ``opsagent report period`` builds. ``report.read`` (the role table's)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from opsagent.reports import period as period_report
from opsagent.reports.document import Document, Fields, Figure, Heading, Para, Table, render
from opsagent.web import periods
from opsagent.web.context import CONSOLE_KEY, Viewer, context, refuse, viewer
from opsagent.web.pages import _json, _wants_json
from opsagent.web.render import error_page, page

PREFIX = "/console/reports"
FORMATS = {"pdf": "application/pdf", "html": "text/html", "md": "text/markdown"}


def _scope(query: Any) -> dict[str, str]:
    return {k: str(query[k]).strip()[:255] for k in period_report.SCOPES if str(query.get(k, "")).strip()}


def _period(request: web.Request, who: Viewer) -> tuple[periods.Period, dict[str, str]]:
    console = request.app[CONSOLE_KEY]
    tz = _tz(request)
    try:
        found = periods.parse(request.query, tz, datetime.now(tz).date())
    except (ValueError, OverflowError) as exc:
        ctx = context(request, who, message=str(exc), back=PREFIX)
        raise error_page(web.HTTPBadRequest, console.env, "failed.html", ctx) from None
    return found, _scope(request.query)


def _tz(request: web.Request) -> Any:
    """Periods begin at midnight of the business calendar's zone (as the CLI's and the API's do)."""
    console = request.app[CONSOLE_KEY]
    policy = console.policy
    if console.app.config.timezone or policy is None:
        return console.app.config.zone
    return policy.built_calendars[policy.default_calendar].tz


def _load(request: web.Request, span: periods.Period, scope: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    from opsagent.knowledge.problems import for_period
    from opsagent.store.engine import now

    console = request.app[CONSOLE_KEY]
    assert console.policy is not None
    store = console.app.store
    stats = period_report.load_stats(store, console.policy, span.start, span.end, now(), scope=scope)
    return stats, for_period(store, span.start, span.end)


def _document(
    request: web.Request, who: Viewer, span: periods.Period, scope: dict[str, str]
) -> tuple[Any, Any, Document]:
    from opsagent.store.engine import now

    stats, problems = _load(request, span, scope)
    doc = period_report.build(stats, who.lang, _tz(request), now(), problems, scope)
    return stats, problems, doc


def _blocks(doc: Document) -> list[dict[str, Any]]:
    """The document's blocks for the template: its SVG charts (built by the report's chart code from
    escaped text and numbers) as markup, everything else as text the template escapes."""
    out: list[dict[str, Any]] = []
    for block in doc.blocks:
        if isinstance(block, Figure):
            out.append({"kind": "figure", "caption": block.caption, "svg": Markup(block.svg)})
        elif isinstance(block, Heading):
            out.append({"kind": "heading", "text": block.text, "level": block.level})
        elif isinstance(block, Table):
            out.append({"kind": "table", "headers": block.headers, "rows": block.rows})
        elif isinstance(block, Fields):
            out.append({"kind": "fields", "rows": block.rows})
        elif isinstance(block, Para):
            out.append({"kind": "para", "text": block.text})
    return out


def _missing_policy(request: web.Request, who: Viewer) -> web.Response:
    return page(request.app[CONSOLE_KEY].env, "missing.html", context(request, who), status=404)


async def report_page(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "report.read")
    if request.app[CONSOLE_KEY].policy is None:
        return _missing_policy(request, who)
    span, scope = _period(request, who)
    if _wants_json(request):
        stats, problems = await asyncio.to_thread(_load, request, span, scope)  # long: not the request threads
        body = stats.summary() | {"scope": scope, "problems": period_report.problems_json(problems)}
        return _json(body)
    stats, _, doc = await asyncio.to_thread(_document, request, who, span, scope)  # long, as above
    here = span.query() | scope
    views = {k: sorted(stats.by[k]) for k in period_report.SCOPES}
    ctx = context(request, who, span=span, scope=scope, title=doc.title, blocks=_blocks(doc), views=views,
                  here=urlencode(here), link=lambda **more: urlencode(span.query() | more),
                  formats=list(FORMATS))  # fmt: skip
    return page(request.app[CONSOLE_KEY].env, "reports.html", ctx)


async def report_download(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "report.read")
    if request.app[CONSOLE_KEY].policy is None:
        return _missing_policy(request, who)
    fmt = request.match_info["fmt"]
    span, scope = _period(request, who)

    def build() -> bytes:
        return render(_document(request, who, span, scope)[2], fmt)

    data = await asyncio.to_thread(build)  # a period's statistics and a PDF: long, not the request threads
    name = f"report-{span.start:%Y%m%d}-{span.end:%Y%m%d}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
               "X-Content-Type-Options": "nosniff"}  # fmt: skip
    charset = None if fmt == "pdf" else "utf-8"
    return web.Response(body=data, content_type=FORMATS[fmt], charset=charset, headers=headers)


def add_routes(web_app: web.Application) -> None:
    web_app.router.add_get(PREFIX, report_page)
    web_app.router.add_get(PREFIX + "/period.{fmt:(pdf|html|md)}", report_download)
