"""``opsagent user add|list|show|passwd|disable|enable|role|token`` and ``opsagent audit``.

Passwords never come as a plain argument: from a prompt (asked twice), ``--password-file PATH`` or
``--password-ref env:NAME|file:PATH``. A token is printed once, on stdout alone (details go to stderr),
and kept only as its SHA-256. Every change is audited with the login user and host it came from.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from opsagent.app import App, actor
from opsagent.auth import accounts
from opsagent.auth.passwords import Hasher, check_new_password
from opsagent.auth.roles import ROLES
from opsagent.cli.common import EXIT_FAILED, local_time, output_option, print_json, print_table, short
from opsagent.cli.params import DURATION
from opsagent.config import AgentConfig
from opsagent.errors import UsageError
from opsagent.i18n import LANGUAGES
from opsagent.i18n.catalog import tr
from opsagent.secrets import SecretRef
from opsagent.store import user_repo

_role = click.Choice(ROLES)
_password_file = click.option(
    "--password-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Read the password from a file.",
)
_password_ref = click.option("--password-ref", help="Read the password from env:NAME or file:PATH.")


def _password(password_file: Path | None, password_ref: str | None, prompt: str = "Password") -> str:
    if password_file is not None and password_ref is not None:
        raise UsageError(tr("give --password-file or --password-ref, not both"))
    if password_file is not None:
        password_ref = f"file:{password_file}"
    if password_ref is not None:
        try:
            text = SecretRef.parse(password_ref).resolve().reveal().rstrip("\r\n")
        except ValueError as exc:
            raise UsageError(tr("--password-ref: {error}", error=exc)) from None
    elif sys.stdin.isatty():
        text = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    else:
        raise UsageError(tr("no password: give --password-file or --password-ref (no terminal to ask at)"))
    try:
        return check_new_password(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    try:
        return accounts.check_fields(fields)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _missing(username: str) -> click.exceptions.Exit:
    click.echo(tr("no user {name}", name=repr(username)), err=True)
    return click.exceptions.Exit(EXIT_FAILED)


@click.group()
def user() -> None:
    """Users of the console and the API: roles requester, engineer, manager, admin."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=_role, required=True, help="What the user may do (admin: also manage users).")
@click.option("--display-name", default="", help="Name shown in the console (e.g. 张三).")
@click.option("--email", default="")
@click.option("--language", type=click.Choice(LANGUAGES), default="zh", show_default=True)
@click.option(
    "--timezone", "zone", default="", help="IANA zone of the times shown to this user (default: the agent's)."
)
@_password_file
@_password_ref
@click.pass_obj
def add(config: AgentConfig, username: str, role: str, display_name: str, email: str, language: str, zone: str,
        password_file: Path | None, password_ref: str | None) -> None:  # fmt: skip
    """Add a local account (the first admin: `opsagent user add NAME --role admin`)."""
    try:
        accounts.check_username(username)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    fields = _checked({"role": role, "display_name": display_name, "email": email, "language": language,
                       "timezone": zone})  # fmt: skip
    with App(config) as app:
        if user_repo.get_user(app.store, username) is not None:
            raise UsageError(tr("user {name} exists already", name=repr(username)))
        password = _password(password_file, password_ref)
        user_repo.add_user(app.store, username, fields, Hasher(config.auth.argon2).hash(password), actor())
    click.echo(tr("user {name} added ({role})", name=username, role=tr(role)), err=True)


def _row(u: dict[str, Any]) -> dict[str, Any]:
    keys = ("username", "display_name", "email", "role", "language", "timezone", "disabled", "source", "created_at",
            "last_login_at")  # fmt: skip
    return {k: u[k] for k in keys}


@user.command("list")
@output_option
@click.pass_obj
def list_(config: AgentConfig, output: str) -> None:
    """Every user with role, status and last login."""
    with App(config) as app:
        rows = [_row(u) for u in user_repo.list_users(app.store)]
    if output == "json":
        print_json(rows)
        return
    print_table(
        None,
        ["user", "name", "role", "status", "source", "language", "last login"],
        ((r["username"], r["display_name"], r["role"], "disabled" if r["disabled"] else "active", r["source"],
          r["language"], local_time(r["last_login_at"]) if r["last_login_at"] else "") for r in rows),
    )  # fmt: skip


@user.command()
@click.argument("username")
@output_option
@click.pass_obj
def show(config: AgentConfig, username: str, output: str) -> None:
    """One user, with their API tokens (never the tokens themselves)."""
    with App(config) as app:
        found = user_repo.get_user(app.store, username)
        if found is None:
            raise _missing(username)
        tokens = user_repo.list_tokens(app.store, found["id"])
    if output == "json":
        print_json(_row(found) | {"tokens": tokens})
        return
    print_table(tr("user {name}", name=username), ["field", "value"], [(k, v) for k, v in _row(found).items()])
    if tokens:
        _print_tokens(tokens)


def _update(config: AgentConfig, username: str, values: dict[str, Any], action: str, said: str) -> None:
    with App(config) as app:
        try:
            guard = accounts.admin_guard(user_repo.get_user(app.store, username))
            if not user_repo.update_user(app.store, username, values, actor(), action, guard):
                raise _missing(username)
        except accounts.LastAdminError:
            raise UsageError(tr("the last admin cannot be removed: make another user admin first")) from None
    click.echo(tr("user {name}: {what}", name=username, what=said), err=True)


@user.command()
@click.argument("username")
@_password_file
@_password_ref
@click.pass_obj
def passwd(config: AgentConfig, username: str, password_file: Path | None, password_ref: str | None) -> None:
    """Set a user's password (their sessions end)."""
    with App(config) as app:
        found = user_repo.get_user(app.store, username)
    if found is None:
        raise _missing(username)
    if found["source"] != "local":
        raise UsageError(
            tr("{name} signs in through the directory (LDAP): change the password there", name=repr(username))
        )
    password = _password(password_file, password_ref, "New password")
    _update(config, username, {"password_hash": Hasher(config.auth.argon2).hash(password)}, "user.passwd",
            tr("password changed"))  # fmt: skip


@user.command()
@click.argument("username")
@click.pass_obj
def disable(config: AgentConfig, username: str) -> None:
    """Stop a user from signing in; their sessions end and their tokens stop working."""
    _update(config, username, {"disabled": True}, "user.disable", tr("disabled"))


@user.command()
@click.argument("username")
@click.pass_obj
def enable(config: AgentConfig, username: str) -> None:
    """Let a disabled user sign in again."""
    _update(config, username, {"disabled": False}, "user.enable", tr("enabled"))


@user.command()
@click.argument("username")
@click.argument("role", type=_role)
@click.pass_obj
def role(config: AgentConfig, username: str, role: str) -> None:
    """Change a user's role (a directory user's role follows their groups at the next login)."""
    _update(config, username, {"role": role}, "user.role", tr("role {role}", role=tr(role)))


# -- tokens --------------------------------------------------------------------------------------
@user.group()
def token() -> None:
    """Per-user API tokens: `Authorization: Bearer TOKEN` acts as the user, with the user's role."""


@token.command("create")
@click.argument("username")
@click.option("--label", default="", help="What the token is for (e.g. ci, grafana).")
@click.option("--expires", type=DURATION, help="Valid for this long (e.g. 90d; default: until revoked).")
@output_option
@click.pass_obj
def token_create(config: AgentConfig, username: str, label: str, expires: float | None, output: str) -> None:
    """Create a token and print it once (it is kept only as a digest)."""
    until = datetime.now(UTC) + timedelta(seconds=expires) if expires else None
    with App(config) as app:
        try:
            token_id, value = accounts.create_token(app.store, username, label[:255], until, actor())
        except LookupError:
            raise _missing(username) from None
    if output == "json":
        print_json({"id": token_id, "user": username, "token": value, "expires_at": until})
        return
    click.echo(tr("token #{id} of {name} (shown once; store it now):", id=token_id, name=username), err=True)
    click.echo(value)


def _print_tokens(rows: list[dict[str, Any]]) -> None:
    def when(value: datetime | None) -> str:
        return local_time(value) if value else ""

    print_table(
        "tokens",
        ["#", "user", "label", "created", "expires", "last used", "revoked"],
        ((r["id"], r["username"], short(r["label"], 40), when(r["created_at"]), when(r["expires_at"]),
          when(r["last_used_at"]), when(r["revoked_at"])) for r in rows),
    )  # fmt: skip


@token.command("list")
@click.argument("username", required=False)
@output_option
@click.pass_obj
def token_list(config: AgentConfig, username: str | None, output: str) -> None:
    """Tokens of one user, or of everyone."""
    with App(config) as app:
        user_id = None
        if username is not None:
            found = user_repo.get_user(app.store, username)
            if found is None:
                raise _missing(username)
            user_id = found["id"]
        rows = user_repo.list_tokens(app.store, user_id)
    if output == "json":
        print_json(rows)
    else:
        _print_tokens(rows)


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_obj
def token_revoke(config: AgentConfig, token_id: int) -> None:
    """Revoke a token at once."""
    with App(config) as app:
        if not user_repo.revoke_token(app.store, token_id, actor()):
            click.echo(tr("no live token #{id}", id=token_id), err=True)
            raise click.exceptions.Exit(EXIT_FAILED)
    click.echo(tr("token #{id} revoked", id=token_id), err=True)


# -- audit ---------------------------------------------------------------------------------------
@click.command()
@click.option("--actor", "who", help="Only what this user, token or system actor did.")
@click.option("--since", help="From this time (2026-12-01, 2026-12-01T08:00) or this long ago (2h, 7d).")
@click.option("--action", help="An action (incident.ack) or every action it begins (incident., login*).")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=200, show_default=True)
@output_option
@click.pass_obj
def audit(config: AgentConfig, who: str | None, since: str | None, action: str | None, limit: int, output: str) -> None:
    """The one audit log: every write from the console, the API and the CLI, newest first."""
    from opsagent.auth.audit import parse_since

    try:
        start = parse_since(since) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with App(config) as app:
        rows = app.store.audit_log(limit, actor=who, action=action, since=start)
    if output == "json":
        print_json(rows)
        return
    print_table(
        None,
        ["at", "actor", "action", "target", "from", "detail"],
        ((local_time(r["at"]), r["actor"], r["action"], r["target"], r["origin"], short(r["detail"], 80))
         for r in rows),
    )  # fmt: skip
