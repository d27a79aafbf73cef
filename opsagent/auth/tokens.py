"""Bearer tokens of the agent config → identities.

``api_token_ref`` is the shared token (identity ``api``), ``api_tokens`` named ones (``alice: file:…``):
each acts with the role ``auth.token_roles`` gives its identity (default ``engineer``: everything the one
write token could do before roles existed). ``web.read_tokens`` are named read-only tokens (e.g. for
Prometheus), role ``reader``. Users' own tokens are in the store (:mod:`opsagent.store.user_repo`). Every
reference is resolved when a request is checked, so a rotated token file takes effect at once; one that
does not resolve grants nothing. A presented token is compared, in constant time, with every token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from opsagent.auth.identity import Identity
from opsagent.auth.roles import READER
from opsagent.config import AgentConfig
from opsagent.errors import SecretError
from opsagent.secrets import SecretRef

SHARED_IDENTITY = "api"  # the one token of api_token_ref names no person
DEFAULT_TOKEN_ROLE = "engineer"

TokenTable = list[tuple[Identity, bytes]]  # identity, sha256 of its token


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _resolved(refs: Iterable[tuple[str, str]], roles: dict[str, str], default: str) -> TokenTable:
    out: TokenTable = []
    for name, ref in refs:
        try:
            token = SecretRef.parse(ref).resolve().reveal().strip()
        except (SecretError, ValueError):
            continue  # an unset reference grants nothing
        if token:
            out.append((Identity(name, "token", roles.get(name, default)), _digest(token)))
    return out


def token_table(config: AgentConfig) -> TokenTable:
    roles: dict[str, str] = dict(config.auth.token_roles)
    writers = _resolved(
        [(SHARED_IDENTITY, config.api_token_ref), *config.api_tokens.items()], roles, DEFAULT_TOKEN_ROLE
    )
    return writers + _resolved(config.web.read_tokens.items(), {}, READER)


def bearer(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value; None for any other form."""
    scheme, _, value = authorization.strip().partition(" ")
    token = value.strip()
    return token if scheme.lower() == "bearer" and token else None


def match(table: TokenTable, token: str) -> Identity | None:
    """The identity whose token this is. Digests of equal length are compared with every entry, so
    neither the time taken nor an early exit tells how much of a token was right."""
    given = _digest(token)
    found = None
    for identity, digest in table:
        if hmac.compare_digest(given, digest) and found is None:
            found = identity
    return found
