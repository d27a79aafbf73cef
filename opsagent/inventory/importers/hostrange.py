"""Ansible host patterns: ``web[01:20].example.com``, ``db-[a:c]``, ``sw[1:10:3]``, ``host:2222``.

Several ranges in one name expand to their product, in order. Unlike Ansible, which quietly yields
nothing for ``web[5:1]``, a reversed or malformed range is an error: an inventory that silently
loses hosts is worse than one that does not load.
"""

from __future__ import annotations

import itertools
import re
import string

_RANGE = re.compile(r"\[([^\]]*)\]")
_PORT = re.compile(r"^(?P<host>.*[^:]):(?P<port>[0-9]+)$")

# A typo like web[1:100000000] must not eat the machine.
MAX_HOSTS_PER_PATTERN = 100_000


def split_port(pattern: str) -> tuple[str, int | None]:
    """``web01:2222`` → (``web01``, 2222). IPv6 addresses (colons outside ranges) keep their colons."""
    match = _PORT.match(pattern)
    if not match:
        return pattern, None
    host = match["host"]
    if ":" in _RANGE.sub("", host):
        return pattern, None
    return host, int(match["port"])


def _numeric(beg: str, end: str, step: int) -> list[str]:
    if not end.isdigit() or not beg.isdigit():
        raise ValueError(f"range bounds must both be numbers or both letters, got [{beg}:{end}]")
    padded = beg.startswith("0") and len(beg) > 1
    if padded and len(beg) != len(end):
        # Ansible's rule: zero padding is taken from the start, so both ends must be written alike.
        raise ValueError(f"zero-padded range [{beg}:{end}] must have begin and end of equal length")
    first, last = int(beg), int(end)
    if first > last:
        raise ValueError(f"range [{beg}:{end}] starts after it ends")
    if (last - first) // step + 1 > MAX_HOSTS_PER_PATTERN:
        raise ValueError(f"range [{beg}:{end}] is larger than {MAX_HOSTS_PER_PATTERN} hosts")
    width = len(beg) if padded else 0
    return [str(n).zfill(width) for n in range(first, last + 1, step)]


def _alpha(beg: str, end: str, step: int) -> list[str]:
    letters = string.ascii_letters
    first, last = letters.index(beg), letters.index(end)
    if first > last:
        raise ValueError(f"range [{beg}:{end}] starts after it ends")
    return list(letters[first : last + 1 : step])


def _expand_one(body: str) -> list[str]:
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise ValueError(f"[{body}] is not a range: use [begin:end] or [begin:end:step]")
    beg, end = bounds[0] or "0", bounds[1]
    if not end:
        raise ValueError(f"range [{body}] has no end")
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not step_text.isdigit() or int(step_text) < 1:
        raise ValueError(f"range [{body}] has an invalid step {step_text!r}")
    step = int(step_text)
    if len(beg) == 1 and len(end) == 1 and beg in string.ascii_letters and end in string.ascii_letters:
        return _alpha(beg, end, step)
    return _numeric(beg, end, step)


def expand_hosts(pattern: str) -> list[str]:
    """Every host name a pattern stands for (without any ``:port``). Raises ValueError if malformed."""
    if "[" not in pattern and "]" not in pattern:
        return [pattern]
    pieces = _RANGE.split(pattern)  # literal, range body, literal, range body, ..., literal
    literals, bodies = pieces[0::2], pieces[1::2]
    if any("[" in lit or "]" in lit for lit in literals):
        raise ValueError(f"unbalanced brackets in host pattern {pattern!r}")
    choices = [_expand_one(body) for body in bodies]
    total = 1
    for options in choices:
        total *= len(options)
    if total > MAX_HOSTS_PER_PATTERN:
        raise ValueError(f"host pattern {pattern!r} expands to more than {MAX_HOSTS_PER_PATTERN} hosts")
    out = []
    for combo in itertools.product(*choices):
        parts = [literals[0]]
        for value, literal in zip(combo, literals[1:], strict=True):
            parts += (value, literal)
        out.append("".join(parts))
    return out
