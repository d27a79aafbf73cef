"""The ``ssh`` collector: agentless Linux hosts, one command batch per poll on a persistent connection.

Per connection, one long-lived remote ``sh`` holds the profile's program (session.py): a poll is
one request line and the checks' output back. Options, programs and parses of unchanged outputs
are cached (plans.py), so the steady-state cost of a poll is the output it parses.

Concurrency: blocking paramiko work runs in this collector's own thread pool (``max_workers``
bounds the global number of hosts in flight), behind a per-address semaphore
(``max_sessions_per_host``). Connections live in a :class:`Pool` owned by the collector, which the
App closes on shutdown.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import paramiko

from opsagent.collectors.base import CollectResult, Outcome, Sample
from opsagent.collectors.local import HELP as LOCAL_HELP
from opsagent.collectors.ssh.batch import CheckOutput, split_output
from opsagent.collectors.ssh.checks import HELP as SSH_HELP
from opsagent.collectors.ssh.checks import PARSERS, Facts, merge_facts
from opsagent.collectors.ssh.connection import Endpoint, Pool
from opsagent.collectors.ssh.errors import SshFailure
from opsagent.collectors.ssh.incremental import DIRECT
from opsagent.collectors.ssh.logs import quiet_paramiko
from opsagent.collectors.ssh.options import Check, JumpHost, SshOptions, SshSettings
from opsagent.collectors.ssh.plans import ParseCache, PlanCache
from opsagent.collectors.ssh.session import BatchKilled, Output, Plan, ShellSession, sudo_complaint
from opsagent.collectors.ssh.slots import HostSlots
from opsagent.errors import SecretError
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.secrets import Secret

SECTION = "ssh"
_Work = tuple[str, Endpoint, SshOptions, Plan, Secret | None]  # collect_blocking's arguments but the budget
DEFAULT_MAX_WORKERS = SshSettings().max_workers
DEFAULT_KEEPALIVE = 30  # seconds
MAX_AUTO_KEEPALIVE = 300.0


class SshCollector:
    name = "ssh"
    help: Mapping[str, str] = {**LOCAL_HELP, **SSH_HELP}
    options_model = SshOptions

    def __init__(self, max_workers: int = DEFAULT_MAX_WORKERS) -> None:
        quiet_paramiko()
        self.pool = Pool()
        self.max_workers = max_workers
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="opsagent-ssh")
        self._host_limits: dict[tuple[str, int], HostSlots] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._plans = PlanCache()
        self._parsed: dict[str, ParseCache] = {}

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Agent-wide settings (``collector_settings: {ssh: {...}}`` in the agent config), see
        :class:`SshSettings`. Raises ValueError (pydantic's) on an invalid setting."""
        parsed = SshSettings.model_validate(dict(settings))
        if parsed.max_workers != self.max_workers:
            old, self.max_workers = self._executor, parsed.max_workers
            self._executor = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="opsagent-ssh")
            old.shutdown(wait=False)

    async def collect(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> CollectResult:
        return await self.submit(asset, spec, variables)

    def submit(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> Awaitable[CollectResult]:
        """:meth:`collect` as the poller calls it (on the running loop): with a free session slot on the
        host, the usual case, the future of the blocking work, handed to this collector's threads at
        once (no coroutine or task of its own on the loop); else a coroutine that waits for a slot."""
        started = time.monotonic()
        options = self._plans.options(spec.options)
        try:
            endpoint, sudo_password = endpoint_for(asset, options, spec.effective_timeout, spec.interval)
        except SshFailure as exc:
            return _ready(CollectResult.failure(asset.name, self.name, exc.outcome, exc.reason, str(exc)))
        plan = self._plans.plan(options, sudo_password is not None)
        slots = self._host_slots(endpoint.host, endpoint.port, options.max_sessions_per_host)
        work = (asset.name, endpoint, options, plan, sudo_password)
        budget = spec.effective_timeout * 0.95  # report our own precise reason before the poller's timeout
        if slots.take():
            return self._submit(slots, work, budget)
        return self._queued(slots, work, budget, started)

    async def _queued(self, slots: HostSlots, work: _Work, budget: float, started: float) -> CollectResult:
        await slots.wait()
        left = budget - (time.monotonic() - started)
        if left <= 0:
            slots.give()
            return CollectResult.failure(
                work[0], self.name, Outcome.TIMEOUT, "timeout", "waited too long for a free session slot"
            )
        return await self._submit(slots, work, left)

    def _submit(self, slots: HostSlots, work: _Work, budget: float) -> asyncio.Future[CollectResult]:
        """The blocking poll on this collector's threads; the host's slot is given back when it ends."""
        asset, endpoint, options, plan, sudo_password = work
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self.collect_blocking, asset, endpoint, options, plan, sudo_password, budget
        )
        future.add_done_callback(slots.give)
        return future

    def _host_slots(self, host: str, port: int, limit: int) -> HostSlots:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # slots belong to one event loop (each `asyncio.run`)
            self._loop, self._host_limits = loop, {}
        slots = self._host_limits.get((host, port))
        if slots is None:
            slots = self._host_limits[(host, port)] = HostSlots(limit)
        return slots

    def collect_blocking(
        self,
        asset: str,
        endpoint: Endpoint,
        options: SshOptions,
        plan: Plan,
        sudo_password: Secret | None,
        budget: float,
    ) -> CollectResult:
        """One poll: get (or open) the connection and shell, run the batch, parse. Never raises."""
        deadline = time.monotonic() + budget
        self.pool.close_idle(options.idle_close)
        try:
            output, reused = self._run(asset, endpoint, options, plan, sudo_password, deadline)
        except SshFailure as exc:
            return CollectResult.failure(asset, self.name, exc.outcome, exc.reason, str(exc))
        finally:
            if not options.persistent:
                self.pool.discard(asset)
        cache = self._parsed.get(asset)
        if cache is None:
            cache = self._parsed[asset] = ParseCache()
        result = interpret(asset, self.name, options, output.stdout, output.stderr, 0, cache)
        result.samples.append(Sample("opsagent_ssh_connection_reused", (), 1.0 if reused else 0.0, "gauge"))
        return result

    def _run(
        self,
        asset: str,
        endpoint: Endpoint,
        options: SshOptions,
        plan: Plan,
        sudo_password: Secret | None,
        deadline: float,
    ) -> tuple[Output, bool]:
        def start(transport: paramiko.Transport) -> ShellSession:
            return ShellSession.start(
                transport,
                plan,
                timeout=min(options.command_timeout, max(deadline - time.monotonic(), 0.1)),
                max_bytes=options.max_output_bytes,
                sudo_password=sudo_password,
            )

        for attempt in (1, 2):
            session, conn_reused, session_reused = self._session(asset, endpoint, plan, start)
            left = deadline - time.monotonic()
            if left <= 0:
                raise SshFailure("timeout", Outcome.TIMEOUT, "no time left for the command batch")
            waited = min(options.command_timeout, left)
            try:
                return session.poll(timeout=waited, max_bytes=options.max_output_bytes), conn_reused
            except SshFailure:
                self.pool.drop_session(asset)  # the shell is mid-output: never reuse it
                raise
            except TimeoutError as exc:
                self.pool.drop_session(asset)
                message = f"command batch on {endpoint} gave no complete answer within {waited:g}s"
                if isinstance(exc, BatchKilled):
                    message += "; its processes on the host were killed"
                raise SshFailure("timeout", Outcome.TIMEOUT, message) from None
            except Exception as exc:
                # A reused shell or connection may have died since the last poll: reopen once.
                self.pool.discard(asset)
                if attempt == 2 or not session_reused:
                    raise SshFailure("ssh", Outcome.FAILED, f"session on {endpoint} failed: {exc}") from None
        raise AssertionError("unreachable")

    def _session(
        self, asset: str, endpoint: Endpoint, plan: Plan, start: Callable[[paramiko.Transport], ShellSession]
    ) -> tuple[ShellSession, bool, bool]:
        try:
            return self.pool.session(asset, endpoint, plan, start)
        except SshFailure:
            self.pool.discard(asset)
            raise
        except TimeoutError:
            self.pool.discard(asset)
            raise SshFailure("timeout", Outcome.TIMEOUT, f"starting the shell on {endpoint} timed out") from None
        except Exception as exc:
            self.pool.discard(asset)
            raise SshFailure("ssh", Outcome.FAILED, f"session on {endpoint} failed: {exc}") from None

    def close(self) -> None:
        """Close every connection (App.close calls this on shutdown)."""
        self.pool.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _ready(result: CollectResult) -> asyncio.Future[CollectResult]:
    future: asyncio.Future[CollectResult] = asyncio.get_running_loop().create_future()
    future.set_result(result)
    return future


def interpret(
    asset: str,
    collector: str,
    options: SshOptions,
    stdout: str,
    stderr: str,
    exit_status: int,
    cache: ParseCache | None = None,
) -> CollectResult:
    """Cut the batch output into checks and run each check's parser (pure). With ``cache`` (one
    dict per asset), a check whose output is exactly the previous poll's reuses that parse: facts
    and other slow-changing checks then cost a string comparison."""
    outputs = split_output(stdout, options.checks)
    if options.checks and not outputs:
        return CollectResult.failure(asset, collector, Outcome.FAILED, *_no_output_reason(stderr, exit_status))
    samples: list[Sample] = []
    parts: list[Facts] = []
    problems: list[tuple[Check, str]] = []
    for check in options.checks:
        out = outputs.get(check.name)
        if check.sudo and not options.sudo and out is not None and out.exit_status is not None and not out.sudo_ok:
            problem = f"sudo refused to run it{_sudo_message(stderr)}"
        else:
            problem = _apply(check, out, options, samples, parts, cache)
        samples.append(_check_success(check.name, not problem))
        if problem:
            problems.append((check, problem))
    facts = _merged_facts(parts, cache)
    required = [(c, p) for c, p in problems if c.required]
    if required:
        check, problem = required[0]
        reason = _problem_reason(check, problem, stderr)
        more = f" (and {len(required) - 1} more)" if len(required) > 1 else ""
        return CollectResult.failure(asset, collector, Outcome.FAILED, reason, f"check {check.name}: {problem}{more}")
    message = "; ".join(f"{c.name}: {p}" for c, p in problems)
    return CollectResult(asset=asset, collector=collector, facts=facts, samples=samples, message=message)


@functools.lru_cache(maxsize=1024)
def _check_success(name: str, ok: bool) -> Sample:
    return Sample("opsagent_ssh_check_success", (("check", name),), 1.0 if ok else 0.0, "gauge")


def _problem_reason(check: Check, problem: str, stderr: str) -> str:
    if problem.startswith("parser"):
        return "parse"
    if problem.startswith("sudo"):
        return "sudo"
    return "command"


def _sudo_message(stderr: str) -> str:
    complaint = sudo_complaint(stderr)
    return f" ({complaint})" if complaint else ""


def _apply(
    check: Check,
    out: CheckOutput | None,
    options: SshOptions,
    samples: list[Sample],
    facts: list[Facts],
    cache: ParseCache | None,
) -> str:
    """Parse and emit one check; the problem as text, or '' when it went fine."""
    if out is None or out.exit_status is None:
        return "did not run to completion"
    if out.exit_status != 0 and not out.output.strip():
        return f"command exited with status {out.exit_status} and printed nothing"
    hit = cache.checks.get(check.name) if cache is not None else None
    if hit is not None and hit[0] == out.output and hit[1] is options:
        new_samples, new_facts = hit[2], hit[3]
    else:
        direct = DIRECT.get(check.parser)
        try:
            if direct is not None and cache is not None:
                memo = cache.lines.get(check.name)
                new_samples, new_facts, new_memo = direct(
                    out.output, options, memo[1] if memo and memo[0] is options else {}
                )
                cache.lines[check.name] = (options, new_memo)
            else:
                parser = PARSERS[check.parser]
                new_samples, new_facts = parser.emit(parser.parse(out.output), options)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return f"parser {check.parser}: {exc}"
        if cache is not None:
            if hit is not None and hit[3] == new_facts:
                # Same facts from a new output (proc_stat's counters moved, its boot time did
                # not): keep the cached dict, so the merge of the poll's facts is skipped too.
                new_facts = hit[3]
            cache.checks[check.name] = (out.output, options, new_samples, new_facts)
    samples.extend(new_samples)
    if new_facts:
        facts.append(new_facts)
    return ""


def _merged_facts(parts: list[Facts], cache: ParseCache | None) -> Facts:
    """The checks' facts deep-merged in check order; the last poll's merge when every part is the
    same (cached) dict as then. Callers get a dict they may keep but must not change."""
    key = tuple(map(id, parts))
    if cache is not None and cache.merged is not None and cache.merged[0] == key:
        return cache.merged[1]
    facts: Facts = {}
    for part in parts:
        merge_facts(facts, part)
    if cache is not None:
        cache.merged = (key, facts)
    return facts


def _no_output_reason(stderr: str, exit_status: int) -> tuple[str, str]:
    first = stderr.strip().splitlines()[0][:200] if stderr.strip() else ""
    if "sudo" in stderr:
        return "sudo", f"sudo refused: {first}"
    return "command", f"the batch printed nothing (exit status {exit_status}){': ' + first if first else ''}"


def _secret(asset: Asset, section: str, *fields: str) -> Secret | None:
    for field in fields:
        ref = asset.credential_ref(section, field)
        if ref is not None:
            return ref.resolve()
    return None


def _plain(asset: Asset, section: str, field: str) -> str | None:
    value = asset.credentials.get(section, {}).get(field)
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _key(asset: Asset, section: str) -> Secret | None:
    """A key file path may be given plainly (it is not a secret) or as a reference to the key."""
    secret = _secret(asset, section, "private_key", "key")
    if secret is not None:
        return secret
    ref = asset.credential_ref(section, "key_file")
    if ref is not None:
        return ref.resolve()
    path = _plain(asset, section, "key_file")
    return Secret(path) if path else None


def keepalive_for(option: float | None, poll_interval: float | None) -> int:
    """Seconds of quiet before paramiko sends a keepalive (whole seconds; 0: never). Set, the option.
    Unset: 30 s for a one-off connection (runbooks); for a polled one, 1.5 poll intervals within
    [30 s, 5 min]. A poll is traffic too: a keepalive shorter than the interval sent one between every
    two polls (a packet each way, a third of a 60 s poll's client CPU), while polls a minute apart
    already keep NAT and firewall state alive; and no connection stays quiet past 5 minutes (AWS's NAT
    gateway drops idle flows at 350 s)."""
    if option is not None:
        return math.ceil(option)
    if poll_interval is None:
        return DEFAULT_KEEPALIVE
    return math.ceil(min(max(DEFAULT_KEEPALIVE, 1.5 * poll_interval), MAX_AUTO_KEEPALIVE))


def endpoint_for(
    asset: Asset, options: SshOptions, poll_timeout: float, poll_interval: float | None = None
) -> tuple[Endpoint, Secret | None]:
    """Connection settings from the asset, its ``ssh`` credentials and the options (``poll_interval``:
    the target's, for a polled connection)."""
    keepalive = keepalive_for(options.keepalive, poll_interval)
    try:
        target = _endpoint(
            asset, SECTION, asset.target, asset.port or options.port, options.user, options, poll_timeout, keepalive
        )
        if options.jump_host is not None:
            target = _with_jump(asset, target, options.jump_host, options, poll_timeout, keepalive)
        wants_sudo = options.sudo or any(c.sudo for c in options.checks)
        sudo_password = _secret(asset, SECTION, "sudo_password", "become_password") if wants_sudo else None
    except SecretError as exc:
        raise SshFailure("credentials", Outcome.FAILED, str(exc)) from None
    return target, sudo_password


def _endpoint(
    asset: Asset,
    section: str,
    host: str,
    port: int,
    user: str | None,
    options: SshOptions,
    poll_timeout: float,
    keepalive: int,
) -> Endpoint:
    return Endpoint(
        host=host,
        port=port,
        user=_plain(asset, section, "user") or user or getpass.getuser(),
        key=_key(asset, section),
        passphrase=_secret(asset, section, "passphrase"),
        password=_secret(asset, section, "password"),
        known_hosts=tuple(options.known_hosts),
        accept_unknown_host_key=options.accept_unknown_host_key,
        pin_file=options.accepted_host_keys_file,
        connect_timeout=min(options.connect_timeout, max(poll_timeout * 0.5, 0.5)),
        keepalive=keepalive,
    )


def _with_jump(
    asset: Asset, target: Endpoint, jump: JumpHost, options: SshOptions, poll_timeout: float, keepalive: int
) -> Endpoint:
    via = _endpoint(asset, jump.credentials, jump.host, jump.port, jump.user, options, poll_timeout, keepalive)
    if jump.user:
        via = replace(via, user=jump.user)
    return replace(target, jump=via)
