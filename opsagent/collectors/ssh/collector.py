"""The ``ssh`` collector: agentless Linux hosts, one command batch per poll on a persistent connection.

Concurrency: blocking paramiko work runs in this collector's own thread pool (``max_workers``
bounds the global number of hosts in flight), behind a per-address semaphore
(``max_sessions_per_host``). Connections live in a :class:`Pool` owned by the collector, which the
App closes on shutdown.
"""

from __future__ import annotations

import asyncio
import getpass
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from opsagent.collectors.base import CollectResult, Outcome, Sample
from opsagent.collectors.local import HELP as LOCAL_HELP
from opsagent.collectors.ssh.batch import CheckOutput, build_script, split_output
from opsagent.collectors.ssh.checks import HELP as SSH_HELP
from opsagent.collectors.ssh.checks import PARSERS, Facts, merge_facts
from opsagent.collectors.ssh.connection import Endpoint, Pool, SshFailure, run_batch
from opsagent.collectors.ssh.options import Check, JumpHost, SshOptions
from opsagent.errors import SecretError
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.secrets import Secret

SECTION = "ssh"


class SshCollector:
    name = "ssh"
    help: Mapping[str, str] = {**LOCAL_HELP, **SSH_HELP}
    options_model = SshOptions

    def __init__(self, max_workers: int = 64) -> None:
        self.pool = Pool()
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="opsagent-ssh")
        self._host_limits: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def collect(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> CollectResult:
        started = time.monotonic()
        options = SshOptions.model_validate(spec.options)
        try:
            endpoint, sudo_password = endpoint_for(asset, options, spec.effective_timeout)
        except SshFailure as exc:
            return CollectResult.failure(asset.name, self.name, exc.outcome, exc.reason, str(exc))
        budget = spec.effective_timeout * 0.95  # report our own precise reason before the poller's timeout
        async with self._host_limit(endpoint.host, endpoint.port, options.max_sessions_per_host):
            left = budget - (time.monotonic() - started)
            if left <= 0:
                return CollectResult.failure(
                    asset.name, self.name, Outcome.TIMEOUT, "timeout", "waited too long for a free session slot"
                )
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, self.collect_blocking, asset.name, endpoint, options, sudo_password, left
            )

    def _host_limit(self, host: str, port: int, limit: int) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # semaphores belong to one event loop (each `asyncio.run`)
            self._loop, self._host_limits = loop, {}
        sem = self._host_limits.get((host, port))
        if sem is None:
            sem = self._host_limits[(host, port)] = asyncio.Semaphore(limit)
        return sem

    def collect_blocking(
        self, asset: str, endpoint: Endpoint, options: SshOptions, sudo_password: Secret | None, budget: float
    ) -> CollectResult:
        """One poll: get (or open) the connection, run the batch, parse. Never raises."""
        deadline = time.monotonic() + budget
        self.pool.close_idle(options.idle_close)
        try:
            output, reused = self._run(asset, endpoint, options, sudo_password, deadline)
        except SshFailure as exc:
            return CollectResult.failure(asset, self.name, exc.outcome, exc.reason, str(exc))
        finally:
            if not options.persistent:
                self.pool.discard(asset)
        result = interpret(asset, self.name, options, output.stdout, output.stderr, output.exit_status)
        result.samples.append(Sample.of("opsagent_ssh_connection_reused", 1 if reused else 0))
        return result

    def _run(
        self, asset: str, endpoint: Endpoint, options: SshOptions, sudo_password: Secret | None, deadline: float
    ) -> tuple[Any, bool]:
        script = build_script(options.checks)
        for attempt in (1, 2):
            try:
                transport, reused = self.pool.transport(asset, endpoint)
            except SshFailure:
                self.pool.discard(asset)
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise SshFailure("timeout", Outcome.TIMEOUT, "no time left for the command batch")
            try:
                output = run_batch(
                    transport,
                    script,
                    timeout=min(options.command_timeout, left),
                    max_bytes=options.max_output_bytes,
                    sudo=options.sudo,
                    sudo_password=sudo_password,
                )
                return output, reused
            except SshFailure:
                raise
            except TimeoutError:
                waited = min(options.command_timeout, left)
                raise SshFailure(
                    "timeout",
                    Outcome.TIMEOUT,
                    f"command batch on {endpoint} gave no complete answer within {waited:g}s",
                ) from None
            except Exception as exc:
                # A reused connection may have died since the last poll: reopen once, then give up.
                self.pool.discard(asset)
                if attempt == 2 or not reused:
                    raise SshFailure("ssh", Outcome.FAILED, f"session on {endpoint} failed: {exc}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close every connection (App.close calls this on shutdown)."""
        self.pool.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


def interpret(
    asset: str, collector: str, options: SshOptions, stdout: str, stderr: str, exit_status: int
) -> CollectResult:
    """Cut the batch output into checks and run each check's parser (pure)."""
    outputs = split_output(stdout, options.checks)
    if options.checks and not outputs:
        return CollectResult.failure(asset, collector, Outcome.FAILED, *_no_output_reason(stderr, exit_status))
    samples: list[Sample] = []
    facts: Facts = {}
    problems: list[tuple[Check, str]] = []
    for check in options.checks:
        problem = _apply(check, outputs.get(check.name), options, samples, facts)
        samples.append(Sample.of("opsagent_ssh_check_success", 0 if problem else 1, check=check.name))
        if problem:
            problems.append((check, problem))
    required = [(c, p) for c, p in problems if c.required]
    if required:
        check, problem = required[0]
        reason = "parse" if problem.startswith("parser") else "command"
        more = f" (and {len(required) - 1} more)" if len(required) > 1 else ""
        return CollectResult.failure(asset, collector, Outcome.FAILED, reason, f"check {check.name}: {problem}{more}")
    message = "; ".join(f"{c.name}: {p}" for c, p in problems)
    return CollectResult(asset=asset, collector=collector, facts=facts, samples=samples, message=message)


def _apply(check: Check, out: CheckOutput | None, options: SshOptions, samples: list[Sample], facts: Facts) -> str:
    """Parse and emit one check; the problem as text, or '' when it went fine."""
    if out is None or out.exit_status is None:
        return "did not run to completion"
    if out.exit_status != 0 and not out.output.strip():
        return f"command exited with status {out.exit_status} and printed nothing"
    parser = PARSERS[check.parser]
    try:
        data = parser.parse(out.output)
        new_samples, new_facts = parser.emit(data, options)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return f"parser {check.parser}: {exc}"
    samples.extend(new_samples)
    merge_facts(facts, new_facts)
    return ""


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


def endpoint_for(asset: Asset, options: SshOptions, poll_timeout: float) -> tuple[Endpoint, Secret | None]:
    """Connection settings from the asset, its ``ssh`` credentials and the options."""
    try:
        target = _endpoint(
            asset, SECTION, asset.target, asset.port or options.port, options.user, options, poll_timeout
        )
        if options.jump_host is not None:
            target = _with_jump(asset, target, options.jump_host, options, poll_timeout)
        sudo_password = _secret(asset, SECTION, "sudo_password", "become_password") if options.sudo else None
    except SecretError as exc:
        raise SshFailure("credentials", Outcome.FAILED, str(exc)) from None
    return target, sudo_password


def _endpoint(
    asset: Asset, section: str, host: str, port: int, user: str | None, options: SshOptions, poll_timeout: float
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
        connect_timeout=min(options.connect_timeout, max(poll_timeout * 0.5, 0.5)),
        keepalive=options.keepalive,
    )


def _with_jump(asset: Asset, target: Endpoint, jump: JumpHost, options: SshOptions, poll_timeout: float) -> Endpoint:
    via = _endpoint(asset, jump.credentials, jump.host, jump.port, jump.user, options, poll_timeout)
    if jump.user:
        via = replace(via, user=jump.user)
    return replace(target, jump=via)
