"""The SNMP profile library: every ``collectors/snmp/*.yaml`` of the content roots, by name,
so a profile's ``include`` can name others (later roots override earlier ones)."""

from __future__ import annotations

import logging
from pathlib import Path

from opsagent.collectors.snmp.options import SnmpOptions
from opsagent.loader import parse_yaml_file

log = logging.getLogger(__name__)


def load_library(roots: list[Path] | None) -> dict[str, SnmpOptions]:
    from opsagent.config import shipped_content_root

    out: dict[str, SnmpOptions] = {}
    for root in roots if roots is not None else [shipped_content_root()]:
        for path in sorted((root / "collectors" / "snmp").glob("*.y*ml")):
            try:
                out[path.stem] = SnmpOptions.model_validate(parse_yaml_file(path).data.get("options") or {})
            except Exception as exc:  # `opsagent check` reports it with file:line; here it is skipped
                log.warning("snmp profile %s not loaded: %s", path, exc)
    return out
