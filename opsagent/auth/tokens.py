"""Bearer tokens of the agent config → identities.

``api_token_ref`` is the shared token (identity ``api``), ``api_tokens`` named ones (``alice: file:…``):
both may read and write. ``web.read_tokens`` are named read-only tokens (e.g. for Prometheus). Every
reference is resolved when a request is checked, so a rotated token file takes effect at once; one that
does not resolve grants nothing. A presented token is compared, in constant time, with every token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from opsagent.auth.identity import READ, WRITE, Identity
from opsagent.config import AgentConfig
from opsagent.errors import SecretError
from opsagent.secrets import SecretRef

SHARED_IDENTITY = "api"  # the one token of api_token_ref names no person
_WRITER = frozenset({READ, WRITE})
_READER = frozenset({READ})

TokenTable = list[tuple[Identity, bytes]]  # identity, sha256 of its token


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _resolved(refs: Iterable[tuple[str, str]], roles: frozenset[str]) -> TokenTable:
    out: TokenTable = []
    for name, ref in refs:
        try:
            token = SecretRef.parse(ref).resolve().reveal().strip()
        except (SecretError, ValueError):
            continue  # an unset reference grants nothing
        if token:
            out.append((Identity(name, "token", roles), _digest(token)))
    return out


def token_table(config: AgentConfig) -> TokenTable:
    writers = _resolved([(SHARED_IDENTITY, config.api_token_ref), *config.api_tokens.items()], _WRITER)
    return writers + _resolved(config.web.read_tokens.items(), _READER)


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
