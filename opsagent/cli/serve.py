"""``opsagent serve``: poll on schedule, keep facts, serve /metrics and /healthz."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import click

from opsagent.agent import run_agent, stuck_poll_threads
from opsagent.app import App
from opsagent.cli.common import EXIT_STORE, err_console
from opsagent.config import AgentConfig, parse_listen
from opsagent.i18n.catalog import tr


async def _serve(app: App, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)  # until the agent takes it to reload: never fatal
    ready = asyncio.Event()
    serving = asyncio.create_task(run_agent(app, host, port, stop, ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({serving, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if ready.is_set():
        scheme = "https" if app.config.web.tls else "http"
        err_console().print(
            tr(
                "opsagent serving {url}/metrics · store {store} · Ctrl-C or SIGTERM to stop, SIGHUP to reload",
                url=f"{scheme}://{host}:{port}",
                store=app.store.safe_url,
            ),
            markup=False,
            highlight=False,
        )
    waiter.cancel()
    await serving


def _single_writer(config: AgentConfig) -> object:
    """A SQLite store serves one agent: a second ``serve`` on the same file stops here (exit 3)."""
    from opsagent.cluster.single import StoreInUse, hold

    try:
        return hold(config.store_url)
    except StoreInUse as exc:
        err_console().print(
            tr(
                "store {path} is already served by another opsagent serve (pid {pid}); a SQLite store takes one "
                "agent — stop the other one, or share a PostgreSQL store between agents (see Cluster in the README)",
                path=str(exc.path),
                pid=exc.holder or "?",
            ),
            markup=False,
            highlight=False,
        )
        raise click.exceptions.Exit(EXIT_STORE) from None


def _listen(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, int] | None:
    try:
        return parse_listen(value) if value else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option("--listen", callback=_listen, help="HOST:PORT for /metrics and /healthz (default 127.0.0.1:9810).")
@click.pass_obj
def serve(config: AgentConfig, listen: tuple[str, int] | None) -> None:
    """Run the agent: scheduled polls, facts into the store, /metrics for Prometheus."""
    host, port = listen or config.listen_address
    from opsagent.store.origin import AUDIT_ORIGIN, cli_origin

    AUDIT_ORIGIN.set(cli_origin("serve"))  # the agent's own writes (schedules, triggers); requests set theirs
    lock = _single_writer(config)  # noqa: F841 -- held (open) until the process ends
    app = App(config)
    try:
        asyncio.run(_serve(app, host, port))
    except OSError as exc:
        err_console().print(
            tr("cannot listen on {address}: {error}", address=f"{host}:{port}", error=exc.strerror or exc), markup=False
        )
        raise click.exceptions.Exit(1) from None
    finally:
        app.close()  # waits for the store writer: every fact and audit row is committed
    stuck = stuck_poll_threads(grace=2.0)
    if stuck:
        # Python joins every worker thread at exit; a thread blocked in the kernel would keep a
        # stopped agent alive for minutes. Everything durable is written, so leave now.
        err_console().print(tr("opsagent stopped; abandoning {n} stuck poll thread(s)", n=len(stuck)), markup=False)
        sys.stderr.flush()
        os._exit(0)
