"""The console's runbook pages: the catalogue, one runbook with its run form, a run's live progress
(``/console/runbooks/runs/{id}``, which other pages link to), the approvals inbox, the run history and
inspection reports (the pass/warn/fail matrix; the HTML and PDF report ``opsagent.runbooks.report``
renders).

Runs start through :func:`opsagent.runbooks.api.launch` (as ``POST /api/v1/runbooks/{name}/run`` does)
as the signed-in user; decisions go through ``runbook_repo.decide`` (as the API and ``opsagent runbook
approve`` do), which records the approver and enforces a step's ``approvers``. Every route checks its
permission server-side; the auth middleware has checked a form's CSRF token and Origin before."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from opsagent.auth import http as auth
from opsagent.httpd.threads import in_thread
from opsagent.runbooks import report as reports
from opsagent.runbooks.api import SERVICE_KEY, launch
from opsagent.runbooks.context import RunbookError, RunRequest
from opsagent.runbooks.library import Entry, find
from opsagent.runbooks.triggers import RunbookService
from opsagent.store import runbook_repo as runs
from opsagent.web import runbook_views as views
from opsagent.web.context import CONSOLE_KEY, Viewer, context, refuse, viewer
from opsagent.web.pages import _json, _wants_json
from opsagent.web.render import HEADERS, error_page, page
from opsagent.web.words_runbooks import status_word

PREFIX = "/console/runbooks"
REFRESH_RUNNING = 3  # seconds: the run page refreshes itself while the run goes on
REFRESH_WAITING = 30  # … more slowly while a step waits for a decision (a comment is being typed)
MAX_COMMENT = 10_000
MAX_OUTPUTS = 20  # targets whose outputs the run page shows at once
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"  # the report's own inline style, no script


def _service(request: web.Request) -> RunbookService:
    service = request.app.get(SERVICE_KEY)
    if service is None:  # an app without runbooks (tests of other parts)
        raise web.HTTPNotFound()
    return service


def _ctx(request: web.Request, who: Viewer, **data: Any) -> dict[str, Any]:
    return context(request, who, sw=status_word(who.lang), **data)


def _run_id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or not 0 < int(text) < 2**31:
        raise web.HTTPNotFound()
    return int(text)


def _rules(request: web.Request) -> list[Any]:
    from opsagent.server import ENGINE_KEY  # the server imports the console

    engine = request.app.get(ENGINE_KEY)
    return list(engine.rules) if engine is not None else []


async def catalogue(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "runbook.read")
    entries = _service(request).entries
    kind = request.query.get("kind", "")
    rows = views.catalogue(entries, views.linked_alerts(_rules(request), entries), kind if kind in views.KINDS else "")
    if _wants_json(request):
        return _json(rows)
    ctx = _ctx(request, who, rows=rows, kind=kind, kinds=views.KINDS, can_run=who.can("runbook.run"))
    return page(request.app[CONSOLE_KEY].env, "runbooks.html", ctx)


def _entry(request: web.Request) -> Entry | None:
    try:
        return find(_service(request).entries, request.match_info["name"])
    except RunbookError:
        return None


async def runbook_page(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "runbook.read")
    entry = _entry(request)
    env = request.app[CONSOLE_KEY].env
    if entry is None:
        return page(env, "missing.html", _ctx(request, who), status=404)
    return await _form_page(request, who, entry, views.RunForm({}, entry.runbook.targets, False), {})


async def _form_page(request: web.Request, who: Viewer, entry: Entry, form: views.RunForm,
                     errors: dict[str, str], status: int = 200) -> web.Response:  # fmt: skip
    service = _service(request)
    alerts = views.linked_alerts(_rules(request), service.entries).get(entry.runbook.name, [])
    row = views.catalogue({entry.runbook.name: entry}, {entry.runbook.name: alerts})[0]
    inv = await in_thread(service.app.inventory)
    recent = await in_thread(views.history, service.app.store, views.HistoryFilter(entry.runbook.name), 10)
    names = {"assets": sorted(inv.assets)[:500], "groups": sorted(inv.groups)[:200]}  # the targets field's choices
    ctx = _ctx(request, who, rb=row, form=form.shown(), errors=errors, can_run=who.can("runbook.run"),
               secret=views.secret_param, recent=recent, **names)  # fmt: skip
    return page(request.app[CONSOLE_KEY].env, "runbook.html", ctx, status=status)


async def start(request: web.Request) -> web.StreamResponse:
    who = await viewer(request)
    identity = auth.require_permission(request, "runbook.run")  # a requester: 403
    entry = _entry(request)
    if entry is None:
        raise web.HTTPNotFound()
    service = _service(request)
    form = views.RunForm.of(entry.runbook, await request.post())
    inv = await in_thread(service.app.inventory)
    errors = views.form_errors(entry.runbook, form, inv)
    if errors:
        return await _form_page(request, who, entry, form, errors, status=400)
    run_request = RunRequest(entry.runbook, selector=form.targets, params=dict(form.params), check_mode=form.check,
                             actor=identity.name, trigger="console")  # fmt: skip
    run_id = await launch(service, run_request)
    if run_id is None:
        ctx = _ctx(request, who, message="the run did not start (see the agent's log)", back=request.path)
        raise error_page(web.HTTPConflict, request.app[CONSOLE_KEY].env, "failed.html", ctx)
    raise web.HTTPSeeOther(f"{PREFIX}/runs/{run_id}")


async def _stored_run(request: web.Request) -> dict[str, Any] | None:
    store = _service(request).app.store
    await in_thread(runs.reap_interrupted, store)
    return await in_thread(runs.get_run, store, _run_id(request))


async def run_page(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "runbook.read")
    run = await _stored_run(request)
    env = request.app[CONSOLE_KEY].env
    if run is None:
        return page(env, "missing.html", _ctx(request, who), status=404)
    if _wants_json(request):
        return _json(run)
    entry = _service(request).entries.get(run["runbook"])
    matrix = views.run_matrix(run, entry.runbook if entry else None)
    views.limit_outputs(matrix, request.query.get("target", ""), MAX_OUTPUTS)
    refresh = None
    if run["status"] == "running":
        refresh = REFRESH_WAITING if matrix["pending"] else REFRESH_RUNNING
    report = reports.build(run, who.zone) if run["kind"] == "inspection" else None
    ctx = _ctx(request, who, run=run, m=matrix, report=report, refresh=refresh, can_approve=who.can("runbook.approve"))
    return page(env, "runbook_run.html", ctx)


async def report_file(request: web.Request) -> web.Response:
    """The inspection report as ``opsagent runbook show --report`` writes it (HTML), or that HTML as PDF."""
    who = await viewer(request)
    refuse(request, who, "report.read")
    run = await _stored_run(request)
    if run is None:
        raise web.HTTPNotFound()
    html = reports.render(run, "html", who.lang, who.zone)
    name = f"{run['runbook']}-{run['id']}"
    if request.match_info["fmt"] == "html":
        headers = HEADERS | {"Content-Security-Policy": REPORT_CSP}
        return web.Response(text=html, content_type="text/html", charset="utf-8", headers=headers)
    from weasyprint import HTML  # loads pango: only for PDF (as opsagent.reports.document does)

    pdf = await in_thread(lambda: HTML(string=html).write_pdf())
    headers = {"Content-Disposition": f'attachment; filename="{name}.pdf"', "Cache-Control": "no-store"}
    return web.Response(body=pdf, content_type="application/pdf", headers=headers)


async def approvals(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "runbook.read")
    rows = await in_thread(views.pending_approvals, _service(request).app.store)
    if _wants_json(request):
        return _json(rows)
    ctx = _ctx(request, who, rows=rows, can_approve=who.can("runbook.approve"))
    return page(request.app[CONSOLE_KEY].env, "runbook_approvals.html", ctx)


async def decide(request: web.Request) -> web.StreamResponse:
    who = await viewer(request)
    identity = auth.require_permission(request, "runbook.approve")
    approval_id = _run_id(request)
    form = await request.post()
    comment = form.get("comment", "")
    comment = comment.strip()[:MAX_COMMENT] if isinstance(comment, str) else ""
    approve = form.get("decision") == "approve"
    back = form.get("back", "")
    back = back if isinstance(back, str) and back.startswith(PREFIX + "/") and "//" not in back else PREFIX
    env, store = request.app[CONSOLE_KEY].env, _service(request).app.store
    try:
        row = await in_thread(runs.decide, store, approval_id, approve, identity.name, comment)
    except PermissionError as exc:
        ctx = _ctx(request, who, message=str(exc), back=back)
        raise error_page(web.HTTPForbidden, env, "failed.html", ctx) from None
    if row is None:
        message = f"no pending approval #{approval_id} (decided already, or expired)"
        raise error_page(web.HTTPConflict, env, "failed.html", _ctx(request, who, message=message, back=back))
    raise web.HTTPSeeOther(back)


async def history(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "runbook.read")
    store = _service(request).app.store
    wanted = views.HistoryFilter.of(request.query)
    await in_thread(runs.reap_interrupted, store)
    rows = await in_thread(views.history, store, wanted)
    if _wants_json(request):
        return _json({"filter": wanted.as_dict(), "runs": rows})
    names = sorted(_service(request).entries)
    ctx = _ctx(request, who, rows=rows, f=wanted, names=names, statuses=views.RUN_STATUSES, kinds=views.KINDS)
    return page(request.app[CONSOLE_KEY].env, "runbook_runs.html", ctx)


def add_routes(web_app: web.Application) -> None:
    """The runbook pages (the service itself is mounted by ``opsagent.runbooks.api.add_routes``)."""
    r = web_app.router
    r.add_get(PREFIX, catalogue)
    r.add_get(f"{PREFIX}/runs", history)
    r.add_get(PREFIX + "/runs/{id}", run_page)
    r.add_get(PREFIX + "/runs/{id}/report.{fmt:(html|pdf)}", report_file)
    r.add_get(f"{PREFIX}/approvals", approvals)
    r.add_post(PREFIX + "/approvals/{id}", decide)
    r.add_get(PREFIX + "/{name}", runbook_page)
    r.add_post(PREFIX + "/{name}/run", start)
