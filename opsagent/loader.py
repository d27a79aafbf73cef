"""YAML → pydantic, with every error located as ``path:line: field: message``.

PyYAML gives us the node tree with marks; we keep a map from each key path to its line so that
pydantic's error locations (tuples of keys and indexes) can be pointed back at the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from opsagent.errors import ConfigError, ConfigIssue

M = TypeVar("M", bound=BaseModel)
# libyaml's loader keeps marks too and is ~3x faster on big inventories; pure Python elsewhere.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Loc = tuple[str | int, ...]


class Document:
    """One parsed YAML document: the data plus the line of every key path."""

    def __init__(self, path: str, data: Any, lines: dict[Loc, int], issues: list[ConfigIssue]) -> None:
        self.path = path
        self.data = data
        self.lines = lines
        self.issues = issues

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """Line of the deepest known prefix of ``loc`` (pydantic locs may go below our keys)."""
        key = tuple(loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)

    def issue(self, loc: Sequence[str | int], message: str) -> ConfigIssue:
        field = ".".join(str(p) for p in loc)
        return ConfigIssue(self.path, self.line_of(loc), field, message)


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], issues: list[ConfigIssue], path: str) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key == "<<":
                continue
            child = (*loc, key)
            if key in seen:
                issues.append(
                    ConfigIssue(
                        path,
                        key_node.start_mark.line + 1,
                        ".".join(map(str, child)),
                        "duplicate key (the later value would silently win)",
                    )
                )
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, issues, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines, issues, path)


def parse_yaml_text(text: str, path: str) -> Document:
    """Parse one YAML document. A syntax error becomes a located :class:`ConfigError`."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError([ConfigIssue(path, line, "", f"YAML syntax error: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(path, None, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    lines: dict[Loc, int] = {}
    issues: list[ConfigIssue] = []
    if node is not None:
        _walk(node, (), lines, issues, path)
    return Document(path, data, lines, issues)


def parse_yaml_file(path: Path) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(str(path), None, "", f"cannot read file: {exc}")]) from None
    return parse_yaml_text(text, str(path))


def validation_issues(doc: Document, exc: ValidationError, prefix: Loc = ()) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors(include_url=False):
        loc = (*prefix, *(p for p in err["loc"] if not _is_internal_loc(p)))
        issues.append(doc.issue(loc, err["msg"]))
    return issues


def _is_internal_loc(part: Any) -> bool:
    # pydantic adds validator names (e.g. 'function-after[...]') to locs of union/annotated types.
    return isinstance(part, str) and ("[" in part and "]" in part)


def validate(doc: Document, model: type[M], data: Any = None, prefix: Loc = ()) -> M:
    """Validate ``doc`` (or a part of it at ``prefix``) into ``model``, raising every issue at once."""
    payload = doc.data if data is None else data
    issues = list(doc.issues)
    try:
        result = model.model_validate(payload if payload is not None else {})
    except ValidationError as exc:
        raise ConfigError(issues + validation_issues(doc, exc, prefix)) from None
    if issues:
        raise ConfigError(issues)
    return result


def load_model(path: Path, model: type[M]) -> M:
    return validate(parse_yaml_file(path), model)
