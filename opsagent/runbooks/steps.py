"""Running the steps of one target: when, retries/until, timeout, register, check, on_failure,
ignore_errors, and blocks with rescue / always and retry of the whole block."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.collectors.ssh.connection import Pool
from opsagent.incidents import repo as incident_repo
from opsagent.inventory.model import Asset
from opsagent.runbooks import steptypes as st
from opsagent.runbooks.asyncsteps import run_http, run_notify, run_shell, run_snmp
from opsagent.runbooks.context import ApprovalRequest, Approver, Observer, RunRequest
from opsagent.runbooks.model import Runbook, RunbookKind, Step
from opsagent.runbooks.notify import send_to_receivers
from opsagent.runbooks.results import (
    CHECK_ORDER,
    CHECKED,
    FAILED,
    OK,
    REJECTED,
    SKIPPED,
    TIMEOUT,
    UNREACHABLE,
    CheckResult,
    StepResult,
    TargetResult,
    bounded,
)
from opsagent.runbooks.templating import RenderError, Templar
from opsagent.runbooks.transports import (
    Output,
    is_local,
    local_command,
    run_cli,
    run_sql,
    run_ssh,
    sql_driver,
    ssh_options,
)
from opsagent.secrets import Redactor
from opsagent.store import runbook_repo as runs
from opsagent.store.engine import Store

DEFAULT_TIMEOUT = 300.0
WAIT_TIMEOUT = 60.0
APPROVAL_TIMEOUT = 3600.0
MAX_BYTES = 16 * 1024 * 1024
SEP = " ▸ "
# What a local ``shell`` step inherits from the agent's environment: nothing that could hold a secret.
# File paths are fine (PGPASSFILE names where libpq finds a password; the file is not in the environment).
SHELL_ENV_ALLOW = (
    *("PATH", "LANG", "LANGUAGE", "HOME", "TZ", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR", "PWD"),
    *("PGPASSFILE", "PGSERVICEFILE", "SSL_CERT_FILE", "SSL_CERT_DIR"),
)


def _visible(text: str) -> str:
    return "".join(repr(c)[1:-1] if ord(c) < 32 or ord(c) == 127 else c for c in text)


def shell_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed part of the agent's environment (plus every ``LC_*``) for ``shell`` steps."""
    env = dict(os.environ) if environ is None else environ
    return {k: v for k, v in env.items() if k in SHELL_ENV_ALLOW or k.startswith("LC_")}


@dataclass
class TargetState:
    asset: Asset
    variables: dict[str, Any]
    context: dict[str, Any]
    steps: list[StepResult] = field(default_factory=list)
    seq: int = 0


@dataclass
class Prepared:
    """A step's rendered arguments and the command text shown in the audit and in --check."""

    command: str | None
    args: Any


class StepRunner:
    def __init__(
        self,
        *,
        runbook: Runbook,
        request: RunRequest,
        run_id: int,
        store: Store,
        pool: Pool,
        threads: ThreadPoolExecutor,
        session: aiohttp.ClientSession,
        approver: Approver,
        observer: Observer,
        record: Callable[[dict[str, Any]], Awaitable[None]],
        notify: NotifyConfig | None = None,
        redactor: Redactor | None = None,
        started: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.runbook = runbook
        self.request = request
        self.run_id = run_id
        self.store = store
        self.pool = pool
        self.threads = threads
        self.session = session
        self.approver = approver
        self.observer = observer
        self.record = record
        self.notify = notify  # receivers for notify steps that name them
        # Every secret the run may touch, registered before its first step (executor), plus any a step reports.
        self.redactor = redactor or Redactor()
        self.started = started  # a target starts a step (noted in the store: an interrupted run shows it)
        self.templar = Templar()
        self.check_mode = request.check_mode
        self.inspection = runbook.kind == RunbookKind.INSPECTION

    # -- target ---------------------------------------------------------------------------------
    async def run_target(self, state: TargetState) -> TargetResult:
        ok, message = await self.run_steps(self.runbook.steps, state, "")
        result = TargetResult(state.asset.name, OK, message, state.steps)
        if not ok:
            last = next((s for s in reversed(state.steps) if s.failed and not s.ignored), None)
            result.status = UNREACHABLE if last is not None and last.status == UNREACHABLE else FAILED
            result.message = message or (f"{last.path}: {last.message}" if last else "failed")
        elif result.check_counts()["fail"] or result.check_counts()["error"]:
            counts = result.check_counts()
            result.status = FAILED
            result.message = f"{counts['fail'] + counts['error']} check(s) failed"
        return result

    async def run_steps(self, steps: list[Step], state: TargetState, prefix: str) -> tuple[bool, str]:
        for step in steps:
            ok = await self.run_step(step, state, prefix)
            if not ok:
                return False, ""
        return True, ""

    async def run_step(self, step: Step, state: TargetState, prefix: str) -> bool:
        """Run one step with its policy; False when the target must stop."""
        path = prefix + step.name
        ctx = state.context
        if step.vars:
            try:
                ctx = {**ctx, **{k: self.templar.render_data(v, ctx) for k, v in step.vars.items()}}
            except RenderError as exc:
                return await self._finish(state, step, self._result(path, step, FAILED, message=f"vars: {exc}"))
        if step.when is not None:
            try:
                wanted = self.templar.truth(step.when, ctx)
            except RenderError as exc:
                if not self.check_mode:
                    return await self._finish(state, step, self._result(path, step, FAILED, message=f"when: {exc}"))
                wanted = True  # --check shows every command, even behind a condition on runtime output
            if not wanted and not self.check_mode:
                return await self._finish(state, step, self._result(path, step, SKIPPED, message="condition false"))
        if step.type == "block":
            if ctx is state.context:
                return await self._block(step, state, path, ctx)
            outer, state.context = state.context, ctx  # the block's vars are seen by its steps
            try:
                return await self._block(step, state, path, ctx)
            finally:
                inner, state.context = state.context, outer
                outer.update({k: v for k, v in inner.items() if k not in step.vars})
        if self.started is not None:
            self.started(state.asset.name, path)
        result = await self._attempts(step, state, path, ctx)
        return await self._finish(state, step, result, path)

    # -- blocks ---------------------------------------------------------------------------------
    async def _block(self, step: Step, state: TargetState, path: str, ctx: dict[str, Any]) -> bool:
        started, t0 = datetime.now().astimezone(), time.monotonic()
        attempts = 0
        ok = False
        for attempt in range(step.retries + 1):
            attempts = attempt + 1
            ok, _ = await self.run_steps(step.children, state, path + SEP)
            if not ok and step.rescue:
                ok, _ = await self.run_steps(step.rescue, state, path + SEP + "rescue" + SEP)
            if ok or attempt == step.retries:
                break
            await asyncio.sleep(step.delay)
        if step.always:
            always_ok, _ = await self.run_steps(step.always, state, path + SEP + "always" + SEP)
            ok = ok and always_ok
        result = self._result(path, step, OK if ok else FAILED, message="" if ok else "block failed")
        result.started_at, result.duration, result.attempts = started, time.monotonic() - t0, attempts
        return await self._finish(state, step, result, path)

    # -- one step with retries ------------------------------------------------------------------
    async def _attempts(self, step: Step, state: TargetState, path: str, ctx: dict[str, Any]) -> StepResult:
        started, t0 = datetime.now().astimezone(), time.monotonic()
        result = self._result(path, step, FAILED)
        for attempt in range(step.retries + 1):
            result = await self._once(step, state, path, ctx)
            result.attempts = attempt + 1
            if self.check_mode or result.status == REJECTED:
                break
            done = not result.failed
            if done and step.until is not None:
                try:
                    done = self.templar.truth(step.until, {**ctx, "result": result.registered()})
                except RenderError as exc:
                    result.status, result.message, done = FAILED, f"until: {exc}", False
                if not done and attempt == step.retries:
                    result.status = FAILED
                    result.message = result.message or f"until condition not met after {attempt + 1} attempt(s)"
            if done or attempt == step.retries:
                break
            await asyncio.sleep(step.delay)
        result.started_at, result.duration = started, time.monotonic() - t0
        return result

    async def _once(self, step: Step, state: TargetState, path: str, ctx: dict[str, Any]) -> StepResult:
        result = self._result(path, step, FAILED)
        try:
            prepared = self._prepare(step, state, ctx)
        except RenderError as exc:
            result.status = CHECKED if self.check_mode else FAILED
            result.message = f"renders at run time only: {exc}" if self.check_mode else str(exc)
            result.command = self._refused_command(step, ctx)
            return result
        result.command = prepared.command
        if self.check_mode:
            result.status, result.message = CHECKED, "not executed (--check)"
            return result
        timeout = step.timeout or (WAIT_TIMEOUT if step.type == "wait_until" else DEFAULT_TIMEOUT)
        if step.type == "approve":
            timeout = step.timeout or APPROVAL_TIMEOUT
        try:
            out = await asyncio.wait_for(self._execute(step.type, prepared, state, ctx, timeout, path), timeout + 5)
        except TimeoutError:
            out = Output(TIMEOUT, message=f"step timed out after {timeout:g}s")
        self.redactor.add(*out.secrets)
        result.status, result.rc, result.data = out.status, out.rc, out.data
        result.stdout, result.stderr, result.message = out.stdout, out.stderr, out.message
        return result

    # -- rendering ------------------------------------------------------------------------------
    def _prepare(self, step: Step, state: TargetState, ctx: dict[str, Any]) -> Prepared:  # noqa: C901 - one case per type
        args = step.args
        t = self.templar
        match step.type:
            case "shell":
                return Prepared(t.command(args.command, ctx), args)
            case "ssh":
                command = t.command(args.command, ctx)
                return Prepared(("sudo " if args.sudo else "") + command if args.sudo else command, (command, args))
            case "cli":
                commands = [t.cli_command(c, ctx) for c in args.commands]
                config = [t.cli_command(c, ctx) for c in args.config]
                return Prepared("\n".join(commands + [f"(config) {c}" for c in config]), (commands, config, args))
            case "sql":
                params = t.render_data(args.params, ctx)
                if args.driver == "redis":  # a command line, split like a shell's
                    query = t.command(args.query, ctx)
                else:
                    query, params = t.sql_query(args.query, ctx, params)
                database = t.render(args.database, ctx) if args.database else None
                text = (
                    query
                    + (f"  -- params {params}" if params else "")
                    + (f"  -- database {database}" if database else "")
                )
                return Prepared(text, (query, params, args.model_copy(update={"database": database})))
            case "snmp":
                oids = [t.render(o, ctx) for o in args.oids]
                return Prepared("snmpget " + " ".join(oids), (oids, args))
            case "http":
                url = t.render(args.url, ctx)
                rendered = t.render_data(args.model_dump(by_alias=True), ctx)
                return Prepared(f"{args.method} {url}", rendered)
            case "wait_until":
                probe = Step.model_validate({"name": "probe", **args.probe}) if args.probe else None
                text = f"wait until {args.that}"
                if probe is not None:
                    text += " (probe: " + (self._prepare(probe, state, ctx).command or probe.type) + ")"
                return Prepared(text, (args, probe))
            case "approve":
                return Prepared(None, (t.render(args.message, ctx), args.approvers))
            case "notify":
                # Receiver names are safe to show (and --check shows where it would go); a url may hold a token.
                shown = "notify " + ", ".join(args.receiver) if args.receiver else None
                return Prepared(shown, (t.render(args.message, ctx), args))
            case "incident":
                rendered = t.render_data(args.model_dump(), ctx)
                return Prepared(f"incident {args.action}", rendered)
        raise RenderError(f"unknown step type {step.type}")

    def _refused_command(self, step: Step, ctx: dict[str, Any]) -> str | None:
        """The audit keeps what was refused: a ``cli`` command whose value held a line break is
        stored with its control characters made visible (``\\n``), never sent."""
        if step.type != "cli":
            return None
        try:
            lines = [self.templar.render(c, ctx) for c in step.args.commands]
            lines += [f"(config) {self.templar.render(c, ctx)}" for c in step.args.config]
        except RenderError:
            return None
        return "\n".join(_visible(line) for line in lines)

    # -- execution ------------------------------------------------------------------------------
    async def _thread(self, fn: Callable[..., Output], *args: Any) -> Output:
        return await asyncio.get_running_loop().run_in_executor(self.threads, fn, *args)

    async def _execute(  # noqa: C901 - one dispatch over the step types
        self, kind: str, prepared: Prepared, state: TargetState, ctx: dict[str, Any], timeout: float, path: str
    ) -> Output:
        asset = state.asset
        match kind:
            case "shell":
                args = prepared.args
                assert prepared.command is not None
                env = {"OPSAGENT_ASSET": asset.name, "OPSAGENT_TARGET": asset.target, "OPSAGENT_RUN": str(self.run_id)}
                return await run_shell(prepared.command, timeout, {**shell_environment(), **args.env, **env},
                                       args.chdir, MAX_BYTES)  # fmt: skip
            case "ssh":
                command, args = prepared.args
                if is_local(asset, state.variables):  # the agent's own host: no sshd needed
                    env = {**shell_environment(), "OPSAGENT_ASSET": asset.name, "OPSAGENT_RUN": str(self.run_id)}
                    return await run_shell(local_command(command, args.sudo), timeout, env, None, MAX_BYTES)
                try:
                    options = ssh_options(asset, state.variables)
                except ValueError as exc:
                    return Output(FAILED, message=f"ssh options: {exc}")
                return await self._thread(run_ssh, self.pool, asset, options, command, timeout, args.sudo, MAX_BYTES)
            case "cli":
                commands, config, args = prepared.args
                return await self._thread(
                    run_cli,
                    asset,
                    state.variables,
                    args.device_type,
                    commands,
                    config,
                    args.use_textfsm,
                    args.save,
                    timeout,
                )
            case "sql":
                query, params, args = prepared.args
                driver = sql_driver(asset, args.driver)
                if driver is None:
                    return Output(FAILED, message="sql: the asset has no postgres or mysql collector or credentials")
                return await self._thread(run_sql, asset, driver, query, params, args.database, args.read_only, timeout)
            case "snmp":
                oids, args = prepared.args
                return await run_snmp(asset, args.model_copy(update={"oids": oids}), timeout)
            case "http":
                a = prepared.args
                return await run_http(
                    self.session, a["method"], a["url"], a["headers"], a["body"], a["json"], a["status"],
                    a["verify_tls"], timeout, a["max_bytes"],
                )  # fmt: skip
            case "wait_until":
                return await self._wait(prepared.args, state, ctx, timeout)
            case "approve":
                message, approvers = prepared.args
                return await self._approve(asset.name, path, message, timeout, approvers)
            case "notify":
                message, args = prepared.args
                message = self.redactor.redact(message)  # a notification leaves the agent: no secret in it
                context = {"runbook": self.runbook.name, "run": self.run_id, "asset": asset.name}
                if args.receiver:
                    incident = self.request.incident["id"] if self.request.incident else None
                    context |= {"step": path, "incident": incident}
                    return await send_to_receivers(self.notify, args.receiver, message, context, min(timeout, 60))
                url = self.templar.render(args.url, ctx) if args.url else None
                return await run_notify(self.session, url, args.format, message, context, min(timeout, 30))
            case "incident":
                return await self._incident(prepared.args)
        return Output(FAILED, message=f"unknown step type {kind}")

    async def _wait(
        self, parsed: tuple[st.WaitArgs, Step | None], state: TargetState, ctx: dict[str, Any], timeout: float
    ) -> Output:
        args, probe = parsed
        deadline = time.monotonic() + timeout
        last: Output | None = None
        checks = 0
        while True:
            checks += 1
            local = dict(ctx)
            if probe is not None:
                prepared = self._prepare(probe, state, ctx)
                left = max(deadline - time.monotonic(), 0.5)
                last = await self._execute(probe.type, prepared, state, ctx, min(left, probe.timeout or left), "probe")
                self.redactor.add(*last.secrets)
                local["result"] = StepResult("probe", probe.type, last.status, datetime.now(), stdout=last.stdout,
                                             stderr=last.stderr, rc=last.rc, data=last.data).registered()  # fmt: skip
            try:
                if self.templar.truth(args.that, local):
                    out = last or Output(OK)
                    return Output(
                        OK, out.stdout, out.stderr, out.rc, out.data, f"condition met after {checks} check(s)"
                    )
            except RenderError as exc:
                return Output(FAILED, message=f"wait_until: {exc}")
            if time.monotonic() + args.interval > deadline:
                out = last or Output(FAILED)
                return Output(
                    TIMEOUT,
                    out.stdout,
                    out.stderr,
                    out.rc,
                    out.data,
                    f"condition not met within {timeout:g}s ({checks} checks)",
                )
            await asyncio.sleep(args.interval)

    async def _approve(
        self, asset: str, path: str, message: str, timeout: float, approvers: list[str] | None = None
    ) -> Output:
        """``approvers``: the step's list of who may decide through the API, the console or ``opsagent
        runbook approve`` (empty: anyone who may approve), on record with the request so that each of them
        enforces it (``runbook_repo.decide``); the operator at the terminal (or ``--yes``) is the run's own."""
        message = self.redactor.redact(message)
        who = list(approvers or []) if self.approver.channel == "api" else []
        request = ApprovalRequest(self.run_id, asset, path, message, who, timeout)
        approval_id = await asyncio.to_thread(
            runs.request_approval, self.store, self.run_id, asset, path, message, who, self.approver.channel
        )
        decision = await self.approver.decide(request, approval_id)
        verdict = "approved" if decision.approved else "rejected"
        text = f"{verdict} by {decision.by}" + (f": {decision.comment}" if decision.comment else "")
        return Output(OK if decision.approved else REJECTED, message=text)

    async def approve_run(self) -> tuple[bool, str]:
        """A triggered run that needs a person's go-ahead before it touches anything."""
        where = f"incident #{self.request.incident['id']}" if self.request.incident else self.request.trigger
        message = f"Run {self.runbook.kind.value} runbook {self.runbook.name} ({where})?"
        out = await self._approve("", "start run", message, APPROVAL_TIMEOUT)
        return out.status == OK, out.message

    async def _incident(self, args: dict[str, Any]) -> Output:
        incident = self.request.incident
        if incident is None:
            return Output(SKIPPED, message="no triggering incident")
        args = self.redactor.redact_data(args)
        action = args["action"]
        fields = {"cause": args.get("cause"), "resolution_steps": args.get("steps")}
        actor = f"runbook {self.runbook.name} (run #{self.run_id})"
        try:
            await asyncio.to_thread(
                incident_repo.act, self.store, int(incident["id"]), action, actor, args.get("message", ""), **fields
            )
        except incident_repo.IncidentError as exc:
            return Output(FAILED, message=str(exc))
        return Output(OK, stdout=args.get("message", ""), message=f"incident #{incident['id']}: {action}")

    # -- results --------------------------------------------------------------------------------
    def _result(self, path: str, step: Step, status: str, message: str = "") -> StepResult:
        return StepResult(path, step.type, status, datetime.now().astimezone(), message=message)

    def _checks(self, step: Step, result: StepResult, ctx: dict[str, Any]) -> None:
        local = {**ctx, "result": result.registered()}
        value = None
        try:
            value = self.templar.render(step.value, local) if step.value else result.stdout.strip()[:200] or None
        except RenderError as exc:
            value = f"({exc})"
        outcome = CheckResult("pass", "", value)
        for rule in step.check:
            try:
                holds = self.templar.truth(rule.condition, local)
                if not holds:
                    continue
                message = self.templar.render(rule.message, local) if rule.message else ""
                threshold = self.templar.render(rule.threshold, local) if rule.threshold else None
            except RenderError as exc:
                outcome = CheckResult("error", f"check could not be evaluated: {exc}", value)
                break
            outcome = CheckResult(rule.status, message, value, threshold)
            break
        if outcome.status == "pass" and outcome.threshold is None:
            outcome.threshold = self._pass_threshold(step, local)
        result.checks.append(outcome)
        if CHECK_ORDER[outcome.status] >= CHECK_ORDER["fail"] and not self.inspection:
            result.status, result.message = FAILED, outcome.message or "check failed"

    def _pass_threshold(self, step: Step, ctx: dict[str, Any]) -> str | None:
        for rule in step.check:
            if rule.threshold:
                try:
                    return self.templar.render(rule.threshold, ctx)
                except RenderError:
                    return None
        return None

    async def _finish(self, state: TargetState, step: Step, result: StepResult, path: str | None = None) -> bool:
        """Checks, register, record, handlers; whether the target goes on."""
        ctx = state.context
        if step.register_as:
            ctx[step.register_as] = result.registered()
        if step.check and result.status == OK and step.type != "block":
            self._checks(step, result, ctx)
            if step.register_as:
                ctx[step.register_as] = result.registered()
        failed = result.failed
        result.ignored = failed and step.ignore_errors
        await self._record(state, result)
        if not failed:
            return True
        if step.on_failure and path is not None:
            # The handlers run; the step stays failed (unless ignore_errors), as Rundeck's error handler.
            saved = state.context
            state.context = {**saved, "failed_step": result.registered()}
            try:
                await self.run_steps(step.on_failure, state, path + SEP + "on_failure" + SEP)
            finally:
                state.context = {**saved, **{k: v for k, v in state.context.items() if k != "failed_step"}}
        return step.ignore_errors

    def redact(self, result: StepResult) -> None:
        """The single point where a step result is made safe to keep: every text and every check."""
        r = self.redactor
        if not len(r):
            return
        for attr in ("command", "stdout", "stderr", "message"):
            value = getattr(result, attr)
            if value:
                setattr(result, attr, r.redact(value))
        for check in result.checks:
            check.message = r.redact(check.message)
            check.value = r.redact(check.value) if check.value is not None else None
            check.threshold = r.redact(check.threshold) if check.threshold is not None else None

    async def _record(self, state: TargetState, result: StepResult) -> None:
        self.redact(result)
        state.steps.append(result)
        state.seq += 1
        committed = self.record(
            {
                "asset": state.asset.name,
                "seq": state.seq,
                "path": result.path,
                "type": result.type,
                "status": result.status + (" (ignored)" if result.ignored else ""),
                "command": result.command,
                "stdout": bounded(result.stdout),
                "stderr": bounded(result.stderr),
                "rc": result.rc,
                "attempts": result.attempts,
                "duration": round(result.duration, 6),
                "message": result.message[:4000],
                "checks": [c.to_dict() for c in result.checks],
                "started_at": result.started_at,
            }
        )
        self.observer.step_done(state.asset.name, result)
        await committed  # durable before the target's next step (see executor.Recorder)
