"""Read snmpsim ``.snmprec`` recordings (``OID|TAG|VALUE`` lines; a tag ending in ``x`` is hex) into the
values gufo-snmp would return, and extract the identification inputs of a recording.

``python -m tests.peers.snmprec`` rewrites the inputs of ``tests/fixtures/snmp_ident/cases.json`` from
every recording of snmpsim-data, keeping each case's reviewed ``expected`` block.
"""

from __future__ import annotations

import bz2
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.peers.snmp import SNMPSIM_VENV

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "snmp_ident" / "cases.json"
SYSTEM = ("1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0")
ENT = "1.3.6.1.2.1.47.1.1.1.1."
VENDOR = ("1.3.6.1.4.1.789.1.1.5.0", "1.3.6.1.4.1.789.1.1.9.0", "1.3.6.1.4.1.2636.3.1.2.0", "1.3.6.1.4.1.2636.3.1.3.0")
_STRING_TAGS = {"4", "64", "68"}


def data_root() -> Path:
    found = list((SNMPSIM_VENV / "lib").glob("python3*/site-packages/snmpsim_data/data"))
    if not found:
        raise RuntimeError(f"snmpsim-data is not installed in {SNMPSIM_VENV}")
    return found[0]


def recordings() -> Iterator[tuple[str, Path]]:
    root = data_root()
    for path in sorted(root.rglob("*.snmprec*")):
        yield str(path.relative_to(root)).removesuffix(".bz2").removesuffix(".snmprec"), path


def read_lines(path: Path) -> Iterator[str]:
    raw = bz2.decompress(path.read_bytes()) if path.suffix == ".bz2" else path.read_bytes()
    yield from raw.decode("latin-1").splitlines()


def value_of(tag: str, text: str) -> Any:
    """The value as gufo-snmp returns it: bytes for strings, int for numbers, str for OIDs."""
    base, hexed = tag.split(":")[0].rstrip("x"), tag.split(":")[0].endswith("x")
    if base in _STRING_TAGS:
        if hexed:
            try:
                return bytes.fromhex(text)
            except ValueError:
                return text.encode("latin-1")  # a recording that flags hex but holds text
        return text.encode("latin-1")
    if base == "6":
        return text
    try:
        return int(text)
    except ValueError:
        return text


def identification_inputs(path: Path) -> dict[str, Any]:
    """sysDescr, sysObjectID, the vendor scalars and the ENTITY-MIB rows identification reads."""
    scalars: dict[str, Any] = {}
    entity: dict[str, dict[str, Any]] = {}
    for line in read_lines(path):
        oid, _, rest = line.partition("|")
        tag, _, text = rest.partition("|")
        if oid in SYSTEM or oid in VENDOR:
            scalars[oid] = value_of(tag, text)
        elif oid.startswith(ENT):
            column, _, index = oid[len(ENT) :].partition(".")
            if column in {"2", "5", "7", "8", "9", "10", "11", "12", "13"}:
                entity.setdefault(index, {})[column] = value_of(tag, text)
    return {"scalars": scalars, "entity": _relevant(entity)}


def _relevant(entity: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The chassis rows and the first row naming a model: what the chassis choice can look at."""
    order = sorted(entity, key=lambda i: int(i) if i.isdigit() else 1 << 30)
    keep = [i for i in order if entity[i].get("5") == 3]
    keep += [i for i in order if entity[i].get("13")][:1]
    return {i: entity[i] for i in order if i in keep}


def to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"hex": value.hex()}
    return value


def from_json(value: Any) -> Any:
    if isinstance(value, dict):
        return bytes.fromhex(value["hex"])
    return value.encode() if isinstance(value, str) else value


def main() -> None:
    old = {c["recording"]: c for c in json.loads(FIXTURE.read_text())} if FIXTURE.exists() else {}
    cases = []
    for name, path in recordings():
        inputs = identification_inputs(path)
        case = {
            "recording": name,
            "scalars": {k: to_json(v) for k, v in inputs["scalars"].items()},
            "entity": {i: {c: to_json(v) for c, v in row.items()} for i, row in inputs["entity"].items()},
            "expected": old.get(name, {}).get("expected", {}),
        }
        cases.append(case)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")
    sys.stdout.write(f"{len(cases)} recordings → {FIXTURE}\n")


if __name__ == "__main__":
    main()
