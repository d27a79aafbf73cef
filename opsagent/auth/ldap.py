"""Directory logins (LDAP, Active Directory) through ldap3, loaded only when a directory is configured.

The service account (``bind_dn`` + ``bind_password`` reference) searches ``user_base`` with
``user_filter`` for the user's DN; a bind as that DN with the given password is the password check;
the groups found with ``group_filter`` give the role through ``group_roles`` (the highest wins,
``default_role`` for a user in none). The user's row is created or updated on each login.
"""

from __future__ import annotations

import logging
import math
import ssl
from typing import Any

from opsagent.auth.accounts import LoginResult
from opsagent.auth.config import LdapConfig
from opsagent.auth.roles import rank
from opsagent.errors import ConfigError, ConfigIssue, SecretError
from opsagent.secrets import SecretRef
from opsagent.store import user_repo
from opsagent.store.engine import Store

log = logging.getLogger(__name__)
MISSING = "LDAP logins need the ldap3 package (a dependency of opsagent): pip install 'ldap3>=2.9,<3'"
DIRECTORY_ACTOR = "opsagent (ldap)"


def require_ldap3() -> None:
    """ConfigError (a clear message, at start) when a directory is configured but ldap3 is missing."""
    try:
        import ldap3  # noqa: F401
    except ImportError:
        raise ConfigError([ConfigIssue("agent config", None, "auth.ldap", MISSING)]) from None


def _server(config: LdapConfig) -> Any:
    import ldap3

    tls = None
    if config.url.startswith("ldaps://") or config.start_tls:
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(config.ca_file) if config.ca_file else None)
    return ldap3.Server(
        config.url, use_ssl=config.url.startswith("ldaps://"), tls=tls, connect_timeout=_seconds(config)
    )


def _seconds(config: LdapConfig) -> int:
    return max(1, math.ceil(config.timeout))  # ldap3 packs socket timeouts as whole seconds


def _connect(config: LdapConfig, dn: str | None, password: str | None) -> Any:
    import ldap3

    conn = ldap3.Connection(
        _server(config), user=dn, password=password, receive_timeout=_seconds(config), raise_exceptions=True,
        read_only=True, auto_referrals=False,
    )  # fmt: skip
    conn.open()
    if config.start_tls:
        conn.start_tls()
    conn.bind()
    return conn


def _service_password(config: LdapConfig) -> str | None:
    if config.bind_password is None:
        return None
    return SecretRef.parse(config.bind_password).resolve().reveal()


def _first(entry: Any, attribute: str) -> str:
    values = entry["attributes"].get(attribute) or []
    if isinstance(values, list | tuple):
        return str(values[0]) if values else ""
    return str(values)


def _role(config: LdapConfig, groups: list[tuple[str, str]]) -> str | None:
    """Highest role of the groups mapped by DN or cn (compared case-insensitively, as LDAP does)."""
    mapping = {k.casefold(): v for k, v in config.group_roles.items()}
    roles = [mapping[key] for dn, cn in groups for key in (dn.casefold(), cn.casefold()) if key in mapping]
    if not roles:
        return config.default_role
    return max(roles, key=rank)


def _lookup(config: LdapConfig, username: str) -> tuple[str, dict[str, str], list[tuple[str, str]]] | None:
    """(DN, attributes, groups) of ``username`` as the service account sees them; None: no such user."""
    from ldap3.utils.conv import escape_filter_chars

    conn = _connect(config, config.bind_dn, _service_password(config))
    try:
        wanted = [config.display_name_attribute, config.email_attribute]
        conn.search(
            config.user_base, config.user_filter.format(username=escape_filter_chars(username)), attributes=wanted,
            size_limit=2,
        )  # fmt: skip
        entries = [e for e in conn.response if e.get("type") == "searchResEntry"]
        if len(entries) != 1:
            return None
        entry = entries[0]
        attrs = {
            "display_name": _first(entry, config.display_name_attribute),
            "email": _first(entry, config.email_attribute),
        }
        dn = str(entry["dn"])
        conn.search(
            config.group_base or config.user_base,
            config.group_filter.format(dn=escape_filter_chars(dn), username=escape_filter_chars(username)),
            attributes=["cn"],
        )
        groups = [(str(e["dn"]), _first(e, "cn")) for e in conn.response if e.get("type") == "searchResEntry"]
        return dn, attrs, groups
    finally:
        conn.unbind()


def _password_ok(config: LdapConfig, dn: str, password: str) -> bool:
    from ldap3.core.exceptions import LDAPBindError, LDAPInvalidCredentialsResult

    try:
        _connect(config, dn, password).unbind()
    except (LDAPBindError, LDAPInvalidCredentialsResult):
        return False
    return True


def directory_login(
    store: Store, config: LdapConfig, username: str, password: str, user: dict[str, Any] | None
) -> LoginResult:
    """Bind as the user; create or update the user's row with the directory's name, mail and role."""
    from ldap3.core.exceptions import LDAPException

    try:
        found = _lookup(config, username)
        if found is None:
            return LoginResult(None, "unknown", "ldap")
        dn, attrs, groups = found
        if not _password_ok(config, dn, password):
            return LoginResult(None, "password", "ldap")
    except (LDAPException, SecretError, OSError) as exc:
        log.warning("ldap: cannot check the login of %r at %s: %s", username[:64], config.url, type(exc).__name__)
        return LoginResult(None, "directory", "ldap")
    if user is not None and user["disabled"]:
        return LoginResult(None, "disabled", "ldap")
    role = _role(config, groups)
    if role is None:
        return LoginResult(None, "no_role", "ldap")
    fields = {"display_name": attrs["display_name"][:255], "email": attrs["email"][:255], "role": role}
    return LoginResult(user_repo.upsert_directory_user(store, username, fields, DIRECTORY_ACTOR), "", "ldap")
