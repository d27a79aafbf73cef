"""A knowledge base as a folder of Markdown files (so a team can keep it in git): one file per article
and language, ``<key>.<lang>.md``, YAML front matter between ``---`` lines, then the Markdown body.

Import reads every ``*.md`` under the folder and validates all of them before writing anything: every
problem is reported as ``file:line: field: message`` (a :class:`ConfigError`, exit 2). The front matter
goes through opsagent's YAML loader (safe, bounded, marked errors). Export writes the same shape back,
so export → import → export gives the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from opsagent.errors import ConfigError, ConfigIssue
from opsagent.knowledge import repo
from opsagent.knowledge.model import LANGS, LINK_FIELDS, MAX_BODY, Lang, Meta, Title, Translation
from opsagent.loader import parse_yaml_text, read_text, validation_issues
from opsagent.store.engine import Store

MAX_FILE_BYTES = 1_000_000
MAX_FILES = 100_000
DELIMITERS = ("---", "...")
SHARED = ("status", "visibility", "category", "tags", *LINK_FIELDS)


class FrontMatter(Meta):
    lang: Lang | None = None
    title: Title


@dataclass(frozen=True)
class ArticleFile:
    path: str
    key: str
    meta: Meta
    translation: Translation
    lines: dict[str, int]  # field → line, for errors found across files


def _split(text: str, path: str) -> tuple[str, str, int]:
    """(front matter, body, line of the body's first line)."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        raise ConfigError([ConfigIssue(path, 1, "", "no front matter: the file must begin with a line '---'")])
    for number, line in enumerate(lines[1:], start=2):
        if line.rstrip() in DELIMITERS:
            return "\n".join(lines[1 : number - 1]), "\n".join(lines[number:]), number + 1
    raise ConfigError([ConfigIssue(path, 1, "", "the front matter is not closed by a line '---'")])


def _name_parts(path: str) -> tuple[str, str | None]:
    stem = Path(path).name.removesuffix(".md")
    head, _, tail = stem.rpartition(".")
    return (head, tail) if head and tail in LANGS else (stem, None)


def parse_text(text: str, path: str) -> ArticleFile:
    """One article file; raises :class:`ConfigError` with every problem found, each with its line."""
    front, body, body_line = _split(text.removeprefix("\ufeff"), path)
    doc = parse_yaml_text("\n" + front, path)  # the leading newline keeps the file's line numbers
    if doc.data is not None and not isinstance(doc.data, dict):
        raise ConfigError([ConfigIssue(path, 2, "", "the front matter must be a mapping (key: value lines)")])
    key, lang = _name_parts(path)
    data: dict[str, Any] = {"key": key, "lang": lang} | dict(doc.data or {})
    issues = list(doc.issues)
    try:
        fm = FrontMatter.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(issues + validation_issues(doc, exc)) from None
    if fm.lang is None:
        issues.append(ConfigIssue(path, 2, "lang", "give lang: zh or en (or name the file <key>.<lang>.md)"))
    elif lang is not None and fm.lang != lang:
        issues.append(doc.issue(("lang",), f"is {fm.lang} but the file name says {lang}"))
    try:
        translation = Translation(lang=fm.lang or "zh", title=fm.title, body=body)
    except ValidationError:
        issues.append(ConfigIssue(path, body_line, "body", f"longer than {MAX_BODY} characters"))
    if issues:
        raise ConfigError(issues)
    lines = {f: doc.line_of((f,)) or 2 for f in ("key", *SHARED)}
    meta = Meta.model_validate(fm.model_dump(exclude={"lang", "title"}))
    return ArticleFile(path, fm.key or key, meta, translation, lines)


def read_folder(folder: Path) -> dict[str, list[ArticleFile]]:
    """Every article file under ``folder``, grouped by key; all problems of all files at once."""
    if not folder.is_dir():
        raise ConfigError([ConfigIssue(str(folder), None, "", "not a folder")])
    paths = sorted(p for p in folder.rglob("*.md") if p.is_file())[: MAX_FILES + 1]
    if len(paths) > MAX_FILES:
        raise ConfigError([ConfigIssue(str(folder), None, "", f"more than {MAX_FILES} files")])
    issues: list[ConfigIssue] = []
    found: dict[str, list[ArticleFile]] = {}
    for path in paths:
        if path.stat().st_size > MAX_FILE_BYTES:
            issues.append(ConfigIssue(str(path), None, "", f"larger than {MAX_FILE_BYTES} bytes"))
            continue
        try:
            item = parse_text(read_text(path), str(path))
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        found.setdefault(item.key, []).append(item)
    for items in found.values():
        issues.extend(_disagreements(items))
    if issues:
        raise ConfigError(issues)
    return found


def _disagreements(items: list[ArticleFile]) -> list[ConfigIssue]:
    """The translations of one article share its metadata and have one file per language."""
    first, issues = items[0], []
    seen: dict[str, str] = {}
    for item in items:
        lang = item.translation.lang
        if lang in seen:
            issues.append(
                ConfigIssue(item.path, item.lines["key"], "lang", f"{lang} of {item.key!r} is also in {seen[lang]}")
            )
        seen[lang] = item.path
        for name in SHARED:
            if getattr(item.meta, name) != getattr(first.meta, name):
                issues.append(
                    ConfigIssue(item.path, item.lines[name], name, f"differs from {first.path} (one article)")
                )
    return issues


def import_folder(store: Store, folder: Path, actor: str) -> dict[str, int]:
    """Create or update the articles of a folder in one transaction; counts created/updated/unchanged."""
    found = read_folder(folder)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with store.transaction() as conn:
        for key, items in sorted(found.items()):
            meta = items[0].meta.model_copy(update={"key": key})
            outcome = repo.upsert_in(conn, meta, [i.translation for i in items], actor, f"imported from {folder.name}")
            counts[outcome] += 1
    return counts


def render(article: dict[str, Any], lang: str) -> str:
    """The file of one translation (the inverse of :func:`parse_text`)."""
    translation = article["translations"][lang]
    front: dict[str, Any] = {"key": article["key"], "lang": lang, "title": translation["title"]}
    for name in SHARED:
        value = article[name]
        if value not in ("", [], None) or name in ("status", "visibility"):
            front[name] = value
    text = yaml.safe_dump(front, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1_000_000)
    return f"---\n{text}---\n{translation['body']}"


def export_folder(store: Store, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for article_id in repo.all_ids(store):
        article = repo.get(store, article_id)
        assert article is not None
        for lang in sorted(article["translations"]):
            path = folder / f"{article['key']}.{lang}.md"
            path.write_text(render(article, lang), encoding="utf-8")
            written.append(path)
    return written
