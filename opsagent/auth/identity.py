"""An identity: who a request acts as, and what it may do."""

from __future__ import annotations

from dataclasses import dataclass

from opsagent.auth.roles import READER, WRITES, permissions_of


@dataclass(frozen=True)
class Identity:
    """``name`` is what writes record as the actor; ``kind`` says where it came from (``token``: the
    config's tokens, ``user-token``: a user's own API token, ``session``: a console login, ``anonymous``);
    ``role`` what it may do (:mod:`opsagent.auth.roles`)."""

    name: str
    kind: str
    role: str
    user_id: int | None = None

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_of(self.role)

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def writes(self) -> bool:
        return bool(self.permissions & WRITES)


ANONYMOUS = Identity("anonymous", "anonymous", READER)
