"""Who is calling a runbook write route: the identity of the bearer token presented.

The same mechanism as the incident write routes (``api_token_ref``, ``Authorization: Bearer``; writes
refused with 503 while no token resolves), plus named tokens (``api_tokens: {alice: file:…}``) so an
approval or a run is recorded in the name of whoever holds the token, never a name from the body.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from opsagent.config import AgentConfig
from opsagent.errors import SecretError
from opsagent.secrets import SecretRef

SHARED_IDENTITY = "api"  # the one token of api_token_ref names no person


@dataclass(frozen=True)
class Denied:
    status: int  # 401 bad or missing token · 503 no token configured
    error: str


def _tokens(config: AgentConfig) -> list[tuple[str, bytes]]:
    refs = [(SHARED_IDENTITY, config.api_token_ref), *config.api_tokens.items()]
    out = []
    for identity, ref in refs:
        try:
            token = SecretRef.parse(ref).resolve().reveal().strip()
        except (SecretError, ValueError):
            continue  # an unset reference grants nothing
        if token:
            out.append((identity, token.encode()))
    return out


def identify(config: AgentConfig, authorization: str) -> str | Denied:
    """The caller's identity from an ``Authorization`` header value, or why it is refused."""
    tokens = _tokens(config)
    if not tokens:
        return Denied(503, "writes are disabled: no API token is configured")
    scheme, _, value = authorization.partition(" ")
    given = value.strip().encode()
    found = None
    for identity, token in tokens:  # compare with every token: the time taken tells nothing
        if hmac.compare_digest(given, token) and found is None:
            found = identity
    if scheme.lower() != "bearer" or not given or found is None:
        return Denied(401, "a valid bearer token is required")
    return found
