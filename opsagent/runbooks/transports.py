"""Blocking transports of the step types, each returning an :class:`Output` (never raising).

Thin on purpose: SSH reuses the ssh collector's Pool (and ssh/oneshot.run_batch) (host-key checking, credential
refs, sudo), SQL the database collectors' connection settings; netmiko and the drivers are
blocking and run in the executor's bounded thread pool.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

from opsagent.collectors.base import Outcome
from opsagent.collectors.ssh.collector import endpoint_for
from opsagent.collectors.ssh.connection import Pool
from opsagent.collectors.ssh.errors import SshFailure
from opsagent.collectors.ssh.oneshot import run_batch
from opsagent.collectors.ssh.options import SshOptions
from opsagent.errors import CollectError, SecretError
from opsagent.inventory.model import Asset
from opsagent.runbooks.results import FAILED, OK, TIMEOUT, UNREACHABLE
from opsagent.secrets import Secret


@dataclass
class Output:
    status: str = OK
    stdout: str = ""
    stderr: str = ""
    rc: int | None = None
    data: Any = None
    message: str = ""
    secrets: list[Secret] = field(default_factory=list)  # values to redact from everything stored


_OUTCOME_STATUS = {Outcome.TIMEOUT: TIMEOUT, Outcome.UNREACHABLE: UNREACHABLE}


def collector_options(asset: Asset, name: str) -> dict[str, Any]:
    """The options an asset gives a collector (connection settings a runbook step reuses)."""
    for spec in asset.collectors:
        if spec.name == name:
            return dict(spec.options)
    return {}


# -- ssh ----------------------------------------------------------------------------------------
LOCAL_CONNECTION_VARS = ("opsagent_connection", "ansible_connection")


def is_local(asset: Asset, variables: dict[str, Any]) -> bool:
    """The agent's own host: ``ssh`` steps run there directly, no sshd needed (Ansible's
    ``ansible_connection=local``). Said by a var, or implied by an asset polled by the ``local``
    collector (psutil on the agent's host) with no SSH settings of its own."""
    for name in LOCAL_CONNECTION_VARS:
        if name in variables:
            return str(variables[name]).lower() == "local"
    names = {spec.name for spec in asset.collectors}
    return "local" in names and "ssh" not in names and "ssh" not in asset.credentials


def local_command(command: str, sudo: bool) -> str:
    """An ``ssh`` step's command on the agent's host; ``sudo: true`` uses sudo only when not root already."""
    if not sudo or os.geteuid() == 0:
        return command
    return "sudo -n -- /bin/sh -c " + shlex.quote(command)


def ssh_options(asset: Asset, variables: dict[str, Any]) -> SshOptions:
    raw = collector_options(asset, "ssh")
    raw.pop("checks", None)
    extra = variables.get("opsagent_ssh")
    if isinstance(extra, dict):  # group/asset vars may carry ssh settings for runbooks only
        raw |= extra
    return SshOptions.model_validate(raw)


def run_ssh(
    pool: Pool, asset: Asset, options: SshOptions, command: str, timeout: float, sudo: bool, max_bytes: int
) -> Output:
    try:
        endpoint, sudo_password = endpoint_for(asset, options, timeout)
        if sudo and sudo_password is None:
            sudo_password = _sudo_password(asset)
        secrets = [s for s in (endpoint.password, endpoint.passphrase, sudo_password) if s is not None]
        deadline = time.monotonic() + timeout
        for attempt in (1, 2):
            transport, reused = pool.transport(asset.name, endpoint)
            try:
                out = run_batch(
                    transport,
                    command,
                    timeout=max(deadline - time.monotonic(), 0.1),
                    max_bytes=max_bytes,
                    sudo=sudo,
                    sudo_password=sudo_password,
                )
            except (SshFailure, TimeoutError):
                raise
            except Exception:
                pool.discard(asset.name)  # a pooled connection that died since: reopen once
                if attempt == 2 or not reused:
                    raise
                continue
            status = OK if out.exit_status == 0 else FAILED
            message = "" if status == OK else f"exit status {out.exit_status}"
            return Output(status, out.stdout, out.stderr, out.exit_status, message=message, secrets=secrets)
    except SshFailure as exc:
        if exc.reason in ("timeout", "unreachable", "refused"):
            pool.discard(asset.name)
        return Output(_OUTCOME_STATUS.get(exc.outcome, FAILED), message=f"{exc.reason}: {exc}")
    except TimeoutError:
        pool.discard(asset.name)
        return Output(TIMEOUT, message=f"no complete answer within {timeout:g}s")
    except Exception as exc:
        return Output(FAILED, message=f"ssh: {type(exc).__name__}: {str(exc)[:200]}")
    raise AssertionError("unreachable")


def _sudo_password(asset: Asset) -> Secret | None:
    for field_name in ("sudo_password", "become_password"):
        ref = asset.credential_ref("ssh", field_name)
        if ref is not None:
            return ref.resolve()
    return None


# -- sql ----------------------------------------------------------------------------------------
def sql_driver(asset: Asset, wanted: str | None) -> str | None:
    if wanted:
        return wanted
    for name in ("postgres", "mysql", "redis"):
        if any(s.name == name for s in asset.collectors) or name in asset.credentials:
            return name
    return None


def run_sql(
    asset: Asset, driver: str, query: str, params: list[Any], database: str | None, read_only: bool, timeout: float
) -> Output:
    try:
        if driver == "postgres":
            return _postgres(asset, query, params, database, read_only, timeout)
        if driver == "redis":
            return _redis(asset, query, timeout)
        return _mysql(asset, query, params, database, timeout)
    except CollectError as exc:
        return Output(FAILED, message=f"{exc.reason}: {exc}")
    except SecretError as exc:
        return Output(FAILED, message=f"credentials: {exc}")


def _rows_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    lines = ["\t".join(columns)] if len(columns) > 1 else []
    lines += ["\t".join("" if r[c] is None else str(r[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _postgres(
    asset: Asset, query: str, params: list[Any], database: str | None, read_only: bool, timeout: float
) -> Output:
    import psycopg
    from psycopg.rows import dict_row

    from opsagent.collectors.postgres import PostgresOptions, classify, conninfo

    raw = collector_options(asset, "postgres")
    raw.pop("queries", None)
    options = PostgresOptions.model_validate(raw | {"statement_timeout": timeout, "connect_timeout": min(timeout, 10)})
    info = conninfo(asset, options)
    if database:
        info["dbname"] = database
    if not read_only:  # the collector's sessions are read-only; a runbook may need to act
        info["options"] = info["options"].replace(" -c default_transaction_read_only=on", "")
    secrets = [Secret(info["password"])] if info.get("password") else []
    try:
        with psycopg.connect(**info, autocommit=True) as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params or None)
            if cur.description is None:
                return Output(OK, stdout=cur.statusmessage or "", rc=0, data=[], secrets=secrets)
            columns = [d.name for d in cur.description]
            rows = [{k: _plain(v) for k, v in r.items()} for r in cur.fetchall()]
            return Output(OK, stdout=_rows_text(columns, rows), rc=0, data=rows, secrets=secrets)
    except Exception as exc:
        failed = classify(exc)
        status = (
            TIMEOUT if failed.reason == "timeout" else UNREACHABLE if failed.reason in ("refused", "dns") else FAILED
        )
        return Output(status, message=f"{failed.reason}: {failed}", secrets=secrets)


def _mysql(asset: Asset, query: str, params: list[Any], database: str | None, timeout: float) -> Output:
    import pymysql

    from opsagent.collectors.mysql import MySQLOptions, classify, connect_args

    raw = collector_options(asset, "mysql")
    raw.pop("queries", None)
    options = MySQLOptions.model_validate(raw | {"statement_timeout": timeout, "connect_timeout": min(timeout, 10)})
    args = connect_args(asset, options)
    if database:
        args["database"] = database
    secrets = [Secret(args["password"])] if args.get("password") else []
    try:
        conn = pymysql.connect(**args)
    except Exception as exc:
        failed = classify(exc)
        status = UNREACHABLE if failed.reason in ("refused", "dns", "unreachable") else FAILED
        return Output(status, message=f"{failed.reason}: {failed}", secrets=secrets)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params or None)
            if cur.description is None:
                return Output(OK, stdout=f"{cur.rowcount} row(s) affected", rc=0, data=[], secrets=secrets)
            columns = [d[0] for d in cur.description]
            # The collector's connection settings fetch tuples; a step registers rows by column name.
            rows = [dict(zip(columns, map(_plain, r), strict=True)) for r in cur.fetchall()]
            return Output(OK, stdout=_rows_text(columns, rows), rc=0, data=rows, secrets=secrets)
    except Exception as exc:
        failed = classify(exc)
        return Output(
            TIMEOUT if failed.reason == "timeout" else FAILED, message=f"{failed.reason}: {failed}", secrets=secrets
        )
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def _redis(asset: Asset, command: str, timeout: float) -> Output:
    """One Redis command (``INFO replication``); INFO answers come back parsed as a dict."""
    import shlex

    import redis

    from opsagent.collectors.redis import RedisOptions, _connection, classify

    raw = collector_options(asset, "redis")
    raw.pop("info_metrics", None)
    options = RedisOptions.model_validate(raw | {"timeout": timeout, "connect_timeout": min(timeout, 10)})
    conn = _connection(asset, options)
    password = conn.password
    secrets = [Secret(password)] if password else []
    try:
        conn.connect()  # type: ignore[no-untyped-call]
        args = shlex.split(command)
        conn.send_command(*args)  # type: ignore[no-untyped-call]
        reply = conn.read_response()  # type: ignore[no-untyped-call]
    except redis.RedisError as exc:
        reason = classify(exc)
        status = (
            TIMEOUT if reason == "timeout" else UNREACHABLE if reason in ("refused", "dns", "unreachable") else FAILED
        )
        return Output(status, message=f"{reason}: {str(exc)[:200]}", secrets=secrets)
    finally:
        with contextlib.suppress(Exception):
            conn.disconnect()  # type: ignore[no-untyped-call]
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    data: Any = text
    if args and args[0].lower() == "info":
        data = _parse_info(text)
    return Output(OK, text, "", 0, data=data, secrets=secrets)


def _parse_info(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


# -- cli (netmiko) ------------------------------------------------------------------------------
def run_cli(
    asset: Asset,
    variables: dict[str, Any],
    device_type: str | None,
    commands: list[str],
    config: list[str],
    use_textfsm: bool,
    save: bool,
    timeout: float,
) -> Output:
    from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException

    from opsagent.collectors.ssh.hostkeys import HostKeyPolicy
    from opsagent.netcli.session import connect

    section = "cli" if "cli" in asset.credentials else "ssh"
    options = collector_options(asset, "netcli") | collector_options(asset, "cli")
    params: dict[str, Any] = {
        "device_type": device_type or variables.get("netmiko_device_type") or options.get("device_type", "cisco_ios"),
        "host": asset.target,
        "port": asset.port or int(options.get("port", 22)),
        "username": str(asset.credentials.get(section, {}).get("user", "")),
        "conn_timeout": min(timeout, 15),
        "auth_timeout": min(timeout, 15),
        "banner_timeout": min(timeout, 15),
        "read_timeout_override": timeout,
        "fast_cli": True,
    }
    secrets: list[Secret] = []
    for name, key in (("password", "password"), ("enable_password", "secret"), ("secret", "secret")):
        ref = asset.credential_ref(section, name)
        if ref is not None:
            value = ref.resolve()
            secrets.append(value)
            params[key] = value.reveal()
    outputs: list[str] = []
    parsed: dict[str, Any] = {}
    # One host-key policy with the collector and config backup: known_hosts, certificates, revoked
    # keys and accept-new pinning (netmiko's own default accepts any key).
    policy = HostKeyPolicy(asset.target, params["port"], accept_new=bool(variables.get("accept_unknown_host_key")))
    try:
        conn = connect(params, policy)
        try:
            _cli_session(
                conn, bool(params.get("secret")), commands, config, use_textfsm, save, timeout, outputs, parsed
            )
        finally:
            conn.disconnect()
    except SshFailure as exc:  # host key refused: hostkey_unknown, hostkey_mismatch, hostkey_revoked
        return Output(UNREACHABLE, message=f"{exc.reason}: {exc}"[:300], secrets=secrets)
    except NetmikoTimeoutException as exc:
        return Output(TIMEOUT, message=f"timeout: {str(exc).splitlines()[0][:200]}", secrets=secrets)
    except NetmikoAuthenticationException:
        return Output(
            FAILED, message=f"auth: authentication failed for {params['username']}@{asset.target}", secrets=secrets
        )
    except (OSError, EOFError) as exc:
        return Output(UNREACHABLE, message=f"unreachable: {type(exc).__name__}: {str(exc)[:200]}", secrets=secrets)
    except Exception as exc:
        return Output(
            FAILED,
            message=f"cli: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}",
            secrets=secrets,
        )
    return Output(OK, stdout="\n".join(outputs), rc=0, data=parsed or None, secrets=secrets)


def _cli_session(
    conn: Any,
    enable: bool,
    commands: list[str],
    config: list[str],
    use_textfsm: bool,
    save: bool,
    timeout: float,
    outputs: list[str],
    parsed: dict[str, Any],
) -> None:
    if enable:
        conn.enable()
    for command in commands:
        result = conn.send_command(command, use_textfsm=use_textfsm, read_timeout=timeout)
        if isinstance(result, str):
            outputs.append(result)
        else:
            parsed[command] = result
            outputs.append(str(result))
    if config:
        outputs.append(conn.send_config_set(config, read_timeout=timeout))
        if save:
            outputs.append(conn.save_config())
