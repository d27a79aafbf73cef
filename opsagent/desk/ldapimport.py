"""Import requester records from LDAP / Active Directory (ldap3): people under a base DN, their
name, department, phone and email mapped from the usual attributes (inetOrgPerson, AD user). The bind
password is a reference (``env:NAME``, ``file:PATH``), resolved at use and never shown. Entries are
validated as a CSV row is and written in one transaction through the same path
(:func:`opsagent.desk.csvimport.write_people`); a bad entry is reported as ``ldap-url:dn: field:
message`` and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from opsagent.desk import records
from opsagent.desk.csvimport import MAX_ISSUES, ImportResult, write_people
from opsagent.errors import ConfigError, ConfigIssue, OpsAgentError
from opsagent.secrets import SecretRef
from opsagent.store.engine import Store

MAX_ENTRIES = 100_000
# field → LDAP attributes, first present wins (inetOrgPerson and Active Directory names)
ATTRIBUTES = {
    "name": ("displayName", "cn", "name"),
    "email": ("mail", "userPrincipalName"),
    "phone": ("mobile", "telephoneNumber"),
    "department": ("departmentNumber", "department", "ou"),
    "organisation": ("o", "company"),
}


class LdapError(OpsAgentError):
    """The directory could not be read (unreachable, refused bind, bad base or filter)."""


@dataclass(frozen=True)
class LdapSource:
    url: str  # ldap://host:port or ldaps://host:port
    base: str
    bind_dn: str | None = None
    password: str | None = None  # a reference: env:NAME or file:PATH
    filter: str = "(|(objectClass=inetOrgPerson)(objectClass=user))"
    type: Literal["internal", "external"] = "internal"
    organisation: str | None = None  # for entries without an organisation attribute
    timeout: float = 10.0


def _first(entry: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = entry.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value not in (None, ""):
            return str(value)
    return None


def fetch(source: LdapSource) -> list[tuple[str, dict[str, Any]]]:
    """(dn, attributes) of every entry the filter matches under the base (paged)."""
    import ldap3
    from ldap3.core.exceptions import LDAPException

    password = SecretRef.parse(source.password).resolve().reveal() if source.password else None
    wanted = sorted({a for names in ATTRIBUTES.values() for a in names})
    try:
        server = ldap3.Server(source.url, connect_timeout=source.timeout, get_info=ldap3.NONE)
        wait = max(1, round(source.timeout))  # ldap3 packs it as an integer socket option
        conn = ldap3.Connection(server, source.bind_dn, password, auto_bind=True, receive_timeout=wait,
                                read_only=True, raise_exceptions=True)  # fmt: skip
        try:
            entries = conn.extend.standard.paged_search(
                source.base, source.filter, attributes=wanted, paged_size=500, generator=True
            )
            out = []
            for entry in entries:
                if entry.get("type") == "searchResEntry":
                    out.append((str(entry["dn"]), dict(entry["attributes"])))
                    if len(out) > MAX_ENTRIES:
                        raise LdapError(f"more than {MAX_ENTRIES} entries: narrow the base or filter")
            return out
        finally:
            conn.unbind()
    except LDAPException as exc:
        # the message names the server's answer (invalidCredentials, noSuchObject …), never the password
        raise LdapError(f"{source.url}: {type(exc).__name__}: {exc}") from None


def people(source: LdapSource, entries: list[tuple[str, dict[str, Any]]]) -> list[tuple[None, records.RequesterIn]]:
    """Entries as people; every bad one is a located issue (ConfigError), nothing is half-read."""
    issues: list[ConfigIssue] = []
    out: list[tuple[None, records.RequesterIn]] = []
    for dn, entry in entries:
        data: dict[str, Any] = {k: v for k, names in ATTRIBUTES.items() if (v := _first(entry, names)) is not None}
        data.setdefault("organisation", source.organisation)
        data["type"] = source.type
        try:
            out.append((None, records.RequesterIn.model_validate(data)))
        except ValidationError as exc:
            for problem in exc.errors(include_input=False, include_url=False)[:5]:
                field = ".".join(str(p) for p in problem["loc"][:1])
                issues.append(ConfigIssue(f"{source.url}:{dn}", None, field, str(problem["msg"])))
        if len(issues) >= MAX_ISSUES:
            break
    if issues:
        raise ConfigError(issues)
    return out


def import_ldap(store: Store, source: LdapSource, actor: str, dry_run: bool = False) -> ImportResult:
    rows = people(source, fetch(source))
    return write_people(store, rows, source.url, actor, dry_run)
