"""Importers: our YAML, CSV, Ansible INI/YAML inventories → :class:`Inventory`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel

from opsagent.inventory.importers.ansible import load_ansible, looks_like_yaml
from opsagent.inventory.importers.csv_import import load_csv
from opsagent.inventory.importers.native import load_native
from opsagent.inventory.model import Inventory
from opsagent.loader import read_text

__all__ = ["FORMATS", "detect_format", "load_ansible", "load_csv", "load_inventory_file", "load_native"]

FORMATS = ("yaml", "csv", "ansible")

# A key at column 0 ("all:", "assets:", '"web":'): enough to tell the YAML shapes apart without
# parsing a possibly large file twice.
_TOP_KEY = re.compile(r"""^["']?([^\s#:"'\-{}\[\]][^:"']*)["']?\s*:(?:\s|$)""", re.MULTILINE)


def load_inventory_file(
    path: Path, fmt: str | None = None, options_models: dict[str, type[BaseModel]] | None = None
) -> Inventory:
    """Load an inventory in ``fmt`` ("yaml" = ours, "csv", "ansible"), or the format it looks like.
    With ``options_models``, the collector options our YAML writes are checked as ``opsagent check`` does."""
    chosen = fmt or detect_format(path)
    if chosen == "yaml":
        return load_native(path, options_models)
    if chosen == "csv":
        return load_csv(path)
    if chosen == "ansible":
        return load_ansible(path)
    raise ValueError(f"unknown inventory format {fmt!r}; use one of {', '.join(FORMATS)}")


def detect_format(path: Path) -> str:
    """``.csv`` → csv; a directory, an INI file or YAML with ``all:`` → ansible; else our YAML."""
    if path.is_dir():
        return "ansible"
    if path.suffix.lower() == ".csv":
        return "csv"
    text = read_text(path)
    if path.suffix.lower() not in (".yml", ".yaml", ".json") and not looks_like_yaml(text):
        return "ansible"
    keys = _top_level_keys(text, path.suffix.lower() == ".json")
    if "all" in keys or "_meta" in keys:
        return "ansible"
    if keys & {"assets", "groups"} or not keys:
        return "yaml"
    return "ansible"  # top-level groups without 'all:' are valid Ansible YAML too


def _top_level_keys(text: str, is_json: bool) -> set[str]:
    if is_json:  # JSON puts its keys anywhere on a line; it is quick to parse
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # the loader reports it, with its line
            return set()
        return {str(k) for k in data} if isinstance(data, dict) else set()
    return set(_TOP_KEY.findall(text))
