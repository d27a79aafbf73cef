"""CSV inventories (a spreadsheet export) → :class:`Inventory`.

```text
name,kind,address,port,groups,tags,description,cred.ssh.user,cred.snmp.community,rack
web01,host,10.0.0.11,22,web;prod,dc=bj;tier=1,front end,ops,,A-01
sw01,network,10.0.0.2,,switches,,core switch,,env:SNMP_COMMUNITY,A-02
```

``name`` is required. ``groups`` and ``tags`` are lists separated by ``;`` or ``|`` (tags as
``k=v`` or bare words); ``cred.<section>.<field>`` columns fill ``credentials`` (secret fields only
as ``env:``/``file:`` references); every other column is an asset var, empty cells skipped, values
kept as text. Headers are matched case-insensitively; a UTF-8 BOM (Excel's "CSV UTF-8") is fine.
Every problem is reported with its line and column, all at once.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from opsagent.errors import ConfigError, ConfigIssue
from opsagent.inventory.model import Asset, AssetKind, Group, Inventory
from opsagent.loader import read_text
from opsagent.secrets import SecretRef, is_reference, is_sensitive

_FIELDS = ("name", "kind", "address", "port", "groups", "tags", "description")
_LIST_SEP = re.compile(r"[;|]")
_DELIMITERS = (",", ";", "\t")


def load_csv(path: Path) -> Inventory:
    text = _read(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise ConfigError([ConfigIssue(str(path), 1, "", "a header row (name, address, ...) is required")])
    rows = _Rows(path, header)
    for cells in reader:
        rows.add(cells, reader.line_num)
    if rows.issues:
        raise ConfigError(rows.issues)
    try:
        return Inventory(assets=rows.assets)
    except ValidationError as exc:  # not expected: group names are checked per row
        raise ConfigError(
            [ConfigIssue(str(path), None, "groups", e["msg"]) for e in exc.errors(include_url=False)]
        ) from None


def _read(path: Path) -> str:
    # Decoded from bytes: \r\n inside quoted cells stays for csv. Bad UTF-8 names its line and column.
    return read_text(path, hint="in Excel, save as 'CSV UTF-8 (comma delimited)'")


def _delimiter(text: str) -> str:
    """Comma, unless the header row plainly uses ';' or tabs (Excel in some locales, pasted sheets)."""
    first = text.split("\n", 1)[0]
    return max(_DELIMITERS, key=lambda d: (first.count(d), d == ","))


class _Rows:
    """Row-by-row conversion; issues carry the line (``csv.reader.line_num``) and the column."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.base_dir = path.resolve().parent
        self.issues: list[ConfigIssue] = []
        self.assets: dict[str, Asset] = {}
        self.first_line: dict[str, int] = {}
        self.valid_groups: set[str] = set()
        self.columns = self._columns(header)

    def _issue(self, line: int | None, field: str, message: str) -> None:
        self.issues.append(ConfigIssue(str(self.path), line, field, message))

    def _columns(self, header: list[str]) -> list[str]:
        columns: list[str] = []
        for raw in header:
            name = raw.strip()
            if name.lower() in _FIELDS or name.lower().startswith("cred."):
                name = name.lower()
            if name.startswith("cred.") and (len(name.split(".")) != 3 or "" in name.split(".")):
                self._issue(1, name, "credential columns are cred.<section>.<field>, e.g. cred.ssh.user")
            if name and name in columns:
                self._issue(1, name, "column appears twice in the header")
            columns.append(name)
        if "name" not in columns:
            self._issue(1, "name", "the header has no 'name' column")
        return columns

    def add(self, cells: list[str], line: int) -> None:
        if not any(cell.strip() for cell in cells) or cells[0].lstrip().startswith("#"):
            return  # blank rows and '#' comment rows
        if len(cells) > len(self.columns) and any(c.strip() for c in cells[len(self.columns) :]):
            self._issue(line, "", f"row has {len(cells)} cells but the header only {len(self.columns)}")
        row = {
            col: cell.strip().replace("\r\n", "\n")
            for col, cell in zip(self.columns, cells, strict=False)
            if cell.strip()
        }
        if "" in row:
            self._issue(line, "", "a value in a column that has no header")
        data = self._asset_data(row, line)
        if data is not None:
            self._validate(data, line)

    def _asset_data(self, row: dict[str, str], line: int) -> dict[str, Any] | None:
        name = row.get("name")
        if not name:
            self._issue(line, "name", "name is required")
            return None
        count = len(self.issues)
        data: dict[str, Any] = {
            "name": name,
            "address": row.get("address"),
            "description": row.get("description", ""),
            "kind": self._kind(row.get("kind"), line),
            "port": self._port(row.get("port"), line),
            "groups": self._groups(row.get("groups"), line),
            "tags": _tags(row.get("tags")),
            "credentials": self._credentials(row, line),
            "vars": {
                col: val for col, val in row.items() if col and col not in _FIELDS and not col.startswith("cred.")
            },
            "source": str(self.path),
        }
        return data if len(self.issues) == count else None

    def _kind(self, text: str | None, line: int) -> AssetKind:
        try:
            return AssetKind((text or "host").lower())
        except ValueError:
            self._issue(line, "kind", f"must be one of {', '.join(k.value for k in AssetKind)}")
            return AssetKind.HOST

    def _port(self, text: str | None, line: int) -> int | None:
        if text is None:
            return None
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            self._issue(line, "port", "must be a port number 1-65535")
            return None
        return int(text)

    def _groups(self, text: str | None, line: int) -> list[str]:
        names = [g.strip() for g in _LIST_SEP.split(text or "") if g.strip()]
        for name in names:
            if name not in self.valid_groups:
                try:
                    Group(name=name)
                except ValidationError:
                    self._issue(line, "groups", f"invalid group name {name!r}")
                    continue
                self.valid_groups.add(name)
        return list(dict.fromkeys(names))

    def _credentials(self, row: dict[str, str], line: int) -> dict[str, dict[str, str]]:
        creds: dict[str, dict[str, str]] = {}
        for col, value in row.items():
            if not col.startswith("cred.") or len(col.split(".")) != 3:
                continue
            _, section, field = col.split(".")
            if is_reference(value):
                value = str(SecretRef.parse(value, self.base_dir))  # file: refs absolute, as in our YAML
            elif is_sensitive(field):
                # The value is never echoed: it is the secret.
                self._issue(line, col, "plain-text secrets are refused; use env:NAME or file:PATH")
                continue
            creds.setdefault(section, {})[field] = value
        return creds

    def _validate(self, data: dict[str, Any], line: int) -> None:
        try:
            asset = Asset.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                self._issue(line, _column_of(err["loc"]), err["msg"])
            return
        if asset.name in self.first_line:
            first = self.first_line[asset.name]
            self._issue(line, "name", f"duplicate asset {asset.name!r} (first on line {first})")
            return
        self.first_line[asset.name] = line
        self.assets[asset.name] = asset


def _tags(text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in _LIST_SEP.split(text or ""):
        key, _, val = item.partition("=")
        if key.strip():
            out[key.strip()] = val.strip()
    return out


def _column_of(loc: tuple[int | str, ...]) -> str:
    """Pydantic's error location → the CSV column it came from."""
    if loc and loc[0] == "credentials" and len(loc) >= 3:
        return f"cred.{loc[1]}.{loc[2]}"
    if loc and loc[0] == "vars" and len(loc) >= 2:
        return str(loc[1])
    return str(loc[0]) if loc else ""
