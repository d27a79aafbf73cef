"""Rendering helpers shared by the commands: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from opsagent.i18n.catalog import tr

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_STORE = 0, 1, 2, 3

output_option = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "tsv"]),
    default="table",
    show_default=True,
    help="table for people (plain, unwrapped rows when piped), json or tsv for scripts",
)


def console() -> Console:
    from rich.console import Console  # loaded by the commands that print tables, not by every start

    return Console(soft_wrap=False)


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=_default) + "\n")


def _output_mode() -> str:
    """``-o`` of the running command; a table is plain rows when stdout is not a terminal."""
    ctx = click.get_current_context(silent=True)
    mode = ctx.params.get("output", "table") if ctx is not None else "table"
    if mode == "table" and not sys.stdout.isatty():
        return "plain"
    return str(mode)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _flat(text: str) -> str:
    """One physical line per row, whatever a cell holds (tsv: tabs escaped too)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Title and column headers are the CLI's own words: shown in the reader's language, except in
    ``-o tsv``, whose header row stays the stable English keys scripts parse."""
    mode = _output_mode()
    if mode != "tsv":
        title, columns = (tr(title) if title else title), [tr(c) for c in columns]
    if mode in ("tsv", "plain"):
        body = [[_flat(_cell(c)) for c in row] for row in rows]
        lines = [list(columns), *body]
        if mode == "tsv":
            sys.stdout.write("".join("\t".join(line) + "\n" for line in lines))
            return
        widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
        for line in lines:  # aligned like `kubectl get`, never wrapped, no box drawing
            sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")
        return
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(cell) for cell in row))
    console().print(table)


_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def human_bytes(value: float) -> str:
    """Decimal units, as disks and dashboards show them: 25324961792 → ``25.3 GB``."""
    size, unit = float(value), 0
    while abs(size) >= 1000 and unit < len(_UNITS) - 1:
        size, unit = size / 1000, unit + 1
    return f"{size:.0f} {_UNITS[unit]}" if unit == 0 else f"{size:.1f} {_UNITS[unit]}"


def human_value(name: str, value: Any) -> str:
    """A sample or fact for people: sizes of ``*_bytes`` names in units, numbers without exponents
    (``-o tsv``: the exact number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _cell(value)
    if _output_mode() == "tsv":  # scripts get exact numbers
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e18 else repr(float(value))
    if name.endswith(("_bytes", "_bytes_total")):
        return human_bytes(value)
    if float(value).is_integer() and abs(value) < 1e18:
        return str(int(value))
    text = f"{value:.6g}"
    return f"{value:.6f}".rstrip("0").rstrip(".") if "e" in text else text


def natural_key(text: str) -> tuple[Any, ...]:
    """``web2`` before ``web10`` and ``10.0.0.2`` before ``10.0.0.10``."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text))


def local_time(value: datetime) -> str:
    """Stored in UTC, shown in the local zone (DESIGN: time)."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"
