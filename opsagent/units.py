"""Durations as ops people write them: ``30``, ``30s``, ``5m``, ``1h30m``, ``2d``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_FACTOR = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a Prometheus-style duration string."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or like '30s', '5m', '1h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(f"invalid duration {value!r}: use seconds or e.g. '30s', '5m', '1h30m'") from None
            seconds = sum(float(n) * _FACTOR[u] for n, u in parts)
    else:
        raise ValueError("a duration must be a number of seconds or like '30s', '5m', '1h'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
