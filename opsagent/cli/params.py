"""Click parameter types for what people type on the command line: a bad value is a usage error
(``Error: Invalid value for '-d': …``, exit 2), never a traceback or exit 1."""

from __future__ import annotations

from typing import Any

import click

from opsagent.units import parse_duration


class DurationType(click.ParamType[float]):
    """``30s``, ``500ms``, ``2m``, ``1h30m``, ``2d`` or a number of seconds → seconds (float)."""

    name = "duration"

    def __init__(self, *, positive: bool = True) -> None:
        self.positive = positive

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if self.positive and seconds <= 0:
            self.fail(f"{value!r}: a duration must be longer than 0", param, ctx)
        return seconds


class KeyValueType(click.ParamType[tuple[str, str]]):
    """``key=value`` (the value may be empty and may hold ``=``) → ``(key, value)``."""

    name = "key=value"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        key, sep, rest = str(value).partition("=")
        if not sep or not key.strip():
            self.fail(f"{value!r}: expected key=value", param, ctx)
        return key.strip(), rest


DURATION = DurationType()
KEY_VALUE = KeyValueType()
