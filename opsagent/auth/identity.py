"""An identity: who a request acts as, and what it may do."""

from __future__ import annotations

from dataclasses import dataclass, field

READ = "read"
WRITE = "write"


@dataclass(frozen=True)
class Identity:
    """``name`` is what writes record as the actor; ``kind`` says where it came from (``token`` today;
    ``user``/``session`` later); ``roles`` what it may do (``read``, ``write``)."""

    name: str
    kind: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def can(self, role: str) -> bool:
        return role in self.roles


ANONYMOUS = Identity("anonymous", "anonymous", frozenset({READ}))
