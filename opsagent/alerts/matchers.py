"""Label matchers in Alertmanager's syntax (``severity="critical"``, ``instance=~"web.*"``), used by
routes, silences and maintenance windows. Regexes are fully anchored, as in Prometheus."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s,]*))\s*$')


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual, re.DOTALL) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'

    def to_dict(self) -> dict[str, object]:
        """Alertmanager API v2 form."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": "~" in self.op,
            "isEqual": not self.op.startswith("!"),
        }


def parse_matcher(text: str) -> Matcher:
    m = _MATCHER.match(text)
    if m is None:
        raise ValueError(f'invalid matcher {text!r}: use NAME=VALUE, NAME!="VALUE", NAME=~"REGEX" or NAME!~"REGEX"')
    value = m.group(3) if m.group(3) is not None else m.group(4)
    value = re.sub(r"\\(.)", r"\1", value)
    if "~" in m.group(2):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression in {text!r}: {exc}") from None
    return Matcher(m.group(1), m.group(2), value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
