"""Durations as ops people write them: ``30``, ``30s``, ``5m``, ``1h30m``, ``2d``."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
MAX_SECONDS = 100 * 365.25 * 86400.0  # far beyond any timeout or silence; timedelta and timers stay sane
_FACTOR = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a Prometheus-style duration string."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or like '30s', '5m', '1h'")
    if isinstance(value, int | float):
        seconds = float(value) if not isinstance(value, int) or abs(value) <= MAX_SECONDS else math.inf
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
    if not math.isfinite(seconds):
        raise ValueError(f"invalid duration {value!r}: not a finite number of seconds")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_SECONDS:
        raise ValueError(f"a duration longer than 100 years ({value!r})")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written as a number or as ``500ms``, ``30s``, ``2m``, ``1h30m``: the one type of every
timeout, interval and delay in content files and collector options (bound it with ``Field(gt=0)``)."""
