"""What the console's runbook pages show, as plain data: the catalogue with the alert rules that link
each runbook, the run form's values and errors, a run's step × target matrix, the run history.

Pure functions over the library, the stored run (``runbook_repo.get_run``: outputs already redacted by
the executor's redactor, as the API and the reports show them) and the store's run table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from opsagent.errors import OpsAgentError
from opsagent.inventory.model import Inventory
from opsagent.inventory.selectors import select as select_assets
from opsagent.runbooks.context import parameter_errors
from opsagent.runbooks.library import Entry, find
from opsagent.runbooks.model import Runbook
from opsagent.secrets import is_credential_key, is_sensitive
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc
from opsagent.store.runbook_repo import STEP_PREFIX

MAX_FIELD = 10_000
RUN_STATUSES = ("running", "succeeded", "failed", "interrupted", "rejected")
KINDS = ("inspection", "emergency", "task")
HISTORY_LIMIT = 200


def secret_param(name: str) -> bool:
    """A parameter whose value is never shown again (a password field, no value echoed back)."""
    return is_sensitive(name) or is_credential_key(name)


# -- catalogue ------------------------------------------------------------------------------------
def linked_alerts(rules: Iterable[Any], entries: dict[str, Entry]) -> dict[str, list[str]]:
    """runbook name → the alert rules naming it (``opsagent_runbook`` or ``runbook_url`` annotations)."""
    out: dict[str, set[str]] = {}
    for rule in rules:
        for key in ("opsagent_runbook", "runbook_url"):
            template = (getattr(rule, "annotations", None) or {}).get(key)
            text = getattr(template, "text", template)
            if not isinstance(text, str) or not text:
                continue
            try:
                entry = find(entries, text.strip())
            except OpsAgentError:
                continue  # a wiki URL, or a runbook not in the library
            out.setdefault(entry.runbook.name, set()).add(rule.name)
    return {name: sorted(rules) for name, rules in out.items()}


def catalogue(entries: dict[str, Entry], alerts: dict[str, list[str]], kind: str = "") -> list[dict[str, Any]]:
    rows = []
    for entry in sorted(entries.values(), key=lambda e: (e.runbook.kind.value, e.runbook.name)):
        rb = entry.runbook
        if kind and rb.kind.value != kind:
            continue
        params = [{"name": n, **p.model_dump()} for n, p in rb.parameters.items()]
        rows.append({"name": rb.name, "ref": entry.ref, "kind": rb.kind.value, "description": rb.description,
                     "targets": rb.targets, "schedule": rb.schedule, "approval": rb.approval, "parameters": params,
                     "alerts": alerts.get(rb.name, []), "steps": [s.name for s in rb.steps]})  # fmt: skip
    return rows


# -- the run form ---------------------------------------------------------------------------------
@dataclass
class RunForm:
    """What the form posted: parameter values as typed (empty: not given, the default applies)."""

    params: dict[str, str]
    targets: str
    check: bool

    @classmethod
    def of(cls, runbook: Runbook, form: Mapping[str, Any]) -> RunForm:
        params = {}
        for name in runbook.parameters:
            value = form.get(f"p.{name}", "")
            if isinstance(value, str) and value.strip():
                params[name] = value.strip()[:MAX_FIELD]
        targets = form.get("targets", "")
        targets = targets.strip()[:MAX_FIELD] if isinstance(targets, str) else ""
        return cls(params, targets or runbook.targets, form.get("check") == "on")

    def shown(self) -> dict[str, Any]:
        """The values to show again in the form: never a secret's."""
        return asdict(self) | {"params": {k: v for k, v in self.params.items() if not secret_param(k)}}


def form_errors(runbook: Runbook, form: RunForm, inventory: Inventory) -> dict[str, str]:
    """Field → message: the parameters by the checks a run makes when it starts, the targets by the
    inventory selector the executor uses (a run with no target would not start)."""
    errors = {f"p.{name}": message for name, message in parameter_errors(runbook, form.params).items()}
    try:
        if not select_assets(inventory, form.targets):
            errors["targets"] = f"no asset matches {form.targets!r}"
    except (OpsAgentError, ValueError) as exc:
        errors["targets"] = str(exc)
    return errors


# -- one run --------------------------------------------------------------------------------------
def _step_order(run: dict[str, Any], runbook: Runbook | None) -> list[str]:
    """Step paths in the order they ran (first seen by seq), then the runbook's steps not reached yet."""
    first: dict[str, tuple[int, int]] = {}
    for n, step in enumerate(run["steps"]):
        key = (int(step["seq"]), n)
        if step["path"] not in first or key < first[step["path"]]:
            first[step["path"]] = key
    order = sorted(first, key=lambda p: first[p])
    if runbook is not None:
        order += [s.name for s in runbook.steps if s.name not in first]
    return order


def run_matrix(run: dict[str, Any], runbook: Runbook | None) -> dict[str, Any]:
    """Step × target: each cell the step's status on that target (``running``: it is in it now,
    ``waiting``: it waits for an approval, None: not reached), with the pending approvals by cell."""
    steps = _step_order(run, runbook)
    cells: dict[tuple[str, str], str] = {(s["path"], s["asset"]): s["status"] for s in run["steps"]}
    pending = {(a["step"], a["asset"]): a for a in run["approvals"] if a["status"] == "pending"}
    for target in run["targets"]:
        message = target.get("message") or ""
        if target["status"] == "running" and message.startswith(STEP_PREFIX):
            path = message.removeprefix(STEP_PREFIX)
            cells.setdefault((path, target["asset"]), "running")
    for step, asset in pending:
        cells[(step, asset)] = "waiting"
    assets = [t["asset"] for t in run["targets"]]
    return {
        "steps": steps,
        "assets": assets,
        "cells": {step: {asset: cells.get((step, asset)) for asset in assets} for step in steps},
        "pending": list(pending.values()),
        "outputs": {asset: [s for s in run["steps"] if s["asset"] == asset] for asset in assets},
    }


def limit_outputs(matrix: dict[str, Any], chosen: str, limit: int) -> None:
    """A run of more than ``limit`` targets shows one target's outputs at a time (the one ``chosen``)."""
    if len(matrix["assets"]) > limit:
        matrix["outputs"] = {a: o for a, o in matrix["outputs"].items() if a == chosen}


# -- history --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryFilter:
    runbook: str = ""
    status: str = ""
    kind: str = ""
    actor: str = ""
    asset: str = ""

    @classmethod
    def of(cls, query: Mapping[str, str]) -> HistoryFilter:
        def pick(name: str, allowed: tuple[str, ...] = ()) -> str:
            value = str(query.get(name, "")).strip()[:255]
            return value if not allowed or value in allowed else ""

        return cls(pick("runbook"), pick("status", RUN_STATUSES), pick("kind", KINDS), pick("actor"), pick("asset"))

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


def history(store: Store, wanted: HistoryFilter, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    r = schema.runbook_runs.c
    query = select(schema.runbook_runs).order_by(r.id.desc()).limit(limit)
    for column, value in (("runbook", wanted.runbook), ("status", wanted.status), ("kind", wanted.kind),
                          ("actor", wanted.actor)):  # fmt: skip
        if value:
            query = query.where(getattr(r, column) == value)
    if wanted.asset:
        t = schema.runbook_targets.c
        query = query.where(r.id.in_(select(t.run_id).where(t.asset == wanted.asset)))
    rows = []
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            data = dict(row._mapping)
            for key in ("started_at", "finished_at"):
                data[key] = as_utc(data[key]) if data[key] is not None else None
            rows.append(data)
    return rows


def pending_approvals(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    """The approvals inbox: pending approvals with their run's runbook, kind and starter, oldest first."""
    a, r = schema.runbook_approvals.c, schema.runbook_runs.c
    query = (
        select(schema.runbook_approvals, r.runbook, r.kind, r.actor.label("started_by"), r.trigger)
        .select_from(schema.runbook_approvals.join(schema.runbook_runs, r.id == a.run_id))
        .where(a.status == "pending")
        .order_by(a.id)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [dict(row._mapping) | {"requested_at": as_utc(row.requested_at)} for row in conn.execute(query)]
