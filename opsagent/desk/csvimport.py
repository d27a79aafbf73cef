"""Import requester records from a spreadsheet export (CSV): Chinese or English headers, UTF-8 (with
or without BOM) or GBK/GB18030 as Excel on a Chinese Windows writes it. The whole file is one
transaction: any bad row changes nothing, and every problem is reported as ``file:line: field: message``."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from opsagent.desk import records
from opsagent.errors import ConfigError, ConfigIssue
from opsagent.store import schema
from opsagent.store.engine import Store

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_ISSUES = 50

# header (as people write it) → field
HEADERS = {
    **dict.fromkeys(("姓名", "名字", "name", "full name"), "name"),
    **dict.fromkeys(("部门", "department", "dept"), "department"),
    **dict.fromkeys(("电话", "手机", "手机号", "联系电话", "phone", "mobile", "tel"), "phone"),
    **dict.fromkeys(("邮箱", "电子邮件", "邮件", "email", "e-mail", "mail"), "email"),
    **dict.fromkeys(("类型", "用户类型", "type"), "type"),
    **dict.fromkeys(("单位", "组织", "公司", "客户", "organisation", "organization", "company"), "organisation"),
    **dict.fromkeys(("语言", "language", "lang"), "language"),
    **dict.fromkeys(("首选渠道", "联系方式偏好", "preferred_channel", "channel"), "preferred_channel"),
    **dict.fromkeys(("备注", "notes", "note"), "notes"),
    **dict.fromkeys(("资产", "设备", "使用设备", "assets", "asset"), "assets"),
}
WORDS = {
    "type": {
        "内部": "internal",
        "外部": "external",
        "内部用户": "internal",
        "外部客户": "external",
        "客户": "external",
    },
    "language": {"中文": "zh", "英文": "en", "english": "en", "chinese": "zh"},
    "preferred_channel": {"电话": "phone", "邮件": "email", "邮箱": "email", "门户": "portal", "网站": "portal"},
}


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    rows: int = 0
    issues: list[ConfigIssue] = field(default_factory=list)


def decode(raw: bytes, path: str) -> str:
    """UTF-8 (a BOM is dropped), else GB18030 (a superset of GBK and GB2312); bytes that are neither
    are a located error."""
    encodings: tuple[str, ...] = ("utf-8", "gb18030")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw, encodings = raw[3:], ("utf-8",)
    problem: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as exc:
            problem = exc
    line = raw[: problem.start].count(b"\n") + 1 if problem is not None else None
    raise ConfigError([ConfigIssue(path, line, "", "not UTF-8, GBK or GB18030 text")])


def _header(header: list[str], path: str) -> tuple[list[str | None], list[ConfigIssue]]:
    issues: list[ConfigIssue] = []
    fields: list[str | None] = []
    for name in header:
        key = name.strip().lower()
        found = HEADERS.get(key)
        if found is None and key:
            issues.append(ConfigIssue(path, 1, name.strip()[:40], "unknown column"))
        fields.append(found)
    if "name" not in fields:
        issues.append(ConfigIssue(path, 1, "姓名", "a name column (姓名 / name) is required"))
    return fields, issues


def parse(text: str, path: str) -> tuple[list[tuple[int, records.RequesterIn]], list[ConfigIssue]]:
    """Rows as (line, person) and every problem found."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [ConfigIssue(path, 1, "", f"not a CSV file: {exc}")]
    if not header:
        return [], [ConfigIssue(path, 1, "", "the file is empty")]
    fields, issues = _header(header, path)
    if issues:
        return [], issues
    out: list[tuple[int, records.RequesterIn]] = []
    line = 1
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(out) >= MAX_ROWS:
                issues.append(ConfigIssue(path, line, "", f"more than {MAX_ROWS} rows"))
                break
            person = _person(row, fields, path, line, issues)
            if person is not None:
                out.append((line, person))
            if len(issues) >= MAX_ISSUES:
                break
    except csv.Error as exc:
        issues.append(ConfigIssue(path, reader.line_num or line, "", f"not a CSV row: {exc}"))
    return out, issues


def _person(
    row: list[str], fields: list[str | None], path: str, line: int, issues: list[ConfigIssue]
) -> records.RequesterIn | None:
    if len(row) > len(fields):
        issues.append(ConfigIssue(path, line, "", f"{len(row)} cells but {len(fields)} columns"))
        return None
    data: dict[str, Any] = {}
    for key, cell in zip(fields, row, strict=False):
        value = cell.strip()
        if key is None or not value:
            continue
        if key == "assets":
            data[key] = [a.strip() for a in value.replace("；", ";").replace(",", ";").split(";") if a.strip()]
        else:
            data[key] = WORDS.get(key, {}).get(value.lower(), value)
    try:
        return records.RequesterIn.model_validate(data)
    except ValidationError as exc:
        for problem in exc.errors(include_input=False, include_url=False)[:5]:
            where = ".".join(str(p) for p in problem["loc"][:1]) or ""
            issues.append(ConfigIssue(path, line, where, str(problem["msg"])))
        return None


def import_file(store: Store, path: Path, actor: str, dry_run: bool = False) -> ImportResult:
    """Read, validate and write the file in one transaction. Raises :class:`ConfigError` with every
    problem (nothing written) when any row is bad."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError([ConfigIssue(str(path), None, "", f"larger than {MAX_BYTES // (1024 * 1024)} MB")])
        text = decode(path.read_bytes(), str(path))
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), None, "", f"cannot read file: {exc.strerror or exc}")]) from None
    if "\x00" in text:
        raise ConfigError([ConfigIssue(str(path), None, "", "binary data (NUL bytes): not a CSV file")])
    rows, issues = parse(text, str(path))
    issues += _duplicates(rows, str(path))
    if issues:
        raise ConfigError(issues[:MAX_ISSUES])
    return write_people(store, rows, str(path), actor, dry_run)


def write_people(
    store: Store, rows: Sequence[tuple[int | None, records.RequesterIn]], label: str, actor: str, dry_run: bool
) -> ImportResult:
    """Write validated people in one transaction: a known email updates its record, others are added.
    ``label`` names the source in errors and the audit row (a file, an LDAP URL)."""
    result = ImportResult(rows=len(rows))
    with contextlib.suppress(_DryRun):
        _write(store, rows, label, actor, result, dry_run)
    return result


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def _write(
    store: Store,
    rows: Sequence[tuple[int | None, records.RequesterIn]],
    label: str,
    actor: str,
    result: ImportResult,
    dry: bool,
) -> None:
    with store.transaction() as conn:
        known = set(conn.execute(select(schema.assets.c.name)).scalars())
        bad = [
            ConfigIssue(label, line, "assets", f"no asset named {name!r} in the inventory")
            for line, person in rows
            for name in person.assets
            if name not in known
        ]
        if bad:
            raise ConfigError(bad[:MAX_ISSUES])
        for _line, person in rows:
            found = records.find(conn, person.email) if person.email else None
            if found is None:
                records.insert_requester(conn, person)
                result.added += 1
            else:
                records.update_requester(conn, found["id"], person)
                result.updated += 1
        store.audit(conn, actor, "desk.requester.import", label[-255:], {"added": result.added,
                    "updated": result.updated})  # fmt: skip
        if dry:
            raise _DryRun


def _duplicates(rows: list[tuple[int, records.RequesterIn]], path: str) -> list[ConfigIssue]:
    seen: dict[str, int] = {}
    out = []
    for line, person in rows:
        if person.email:
            if person.email in seen:
                out.append(ConfigIssue(path, line, "email", f"{person.email} is also on line {seen[person.email]}"))
            seen.setdefault(person.email, line)
    return out
