"""Password hashes: argon2id through argon2-cffi, rehashed at login when the parameters changed."""

from __future__ import annotations

from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from opsagent.auth.config import Argon2Settings

MIN_LENGTH = 8
MAX_LENGTH = 1024  # hashing cost is bounded whatever a client sends


def check_new_password(password: str) -> str:
    """ValueError unless ``password`` may be set."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"a password has at most {MAX_LENGTH} characters")
    if password.strip() != password or "\n" in password:
        raise ValueError("a password cannot begin or end with white space")
    return password


class Hasher:
    def __init__(self, settings: Argon2Settings | None = None) -> None:
        s = settings or Argon2Settings()
        self._ph = PasswordHasher(time_cost=s.time_cost, memory_cost=s.memory_kib, parallelism=s.parallelism)

    def hash(self, password: str) -> str:
        return self._ph.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored``. With no stored hash the same work is done against
        a dummy hash, so the time taken does not tell whether the account exists."""
        try:
            ok = bool(self._ph.verify(stored or self._dummy, password[:MAX_LENGTH]))
        except (VerificationError, InvalidHashError):
            return False
        return ok and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        try:
            return bool(self._ph.check_needs_rehash(stored))
        except (InvalidHashError, ValueError):
            return True

    @cached_property
    def _dummy(self) -> str:
        return self._ph.hash("no such account: a dummy to spend the same time")
