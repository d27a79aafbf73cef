"""YAML → pydantic, with every error located as ``path:line: field: message``.

PyYAML gives us the node tree with marks; we keep a map from each key path to its line so that
pydantic's error locations (tuples of keys and indexes) can be pointed back at the file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from opsagent.errors import ConfigError, ConfigIssue

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]

# Alias expansion is bounded as go-yaml v3 bounds it ("document contains excessive aliasing"): up to
# 400,000 nodes in all, 99 % of them may come from aliases; the allowed share falls linearly to 10 % at
# 4,000,000. A "billion laughs" file is refused after composing a few hundred nodes, while an inventory
# that shares one anchored block between thousands of hosts stays well within the bound.
_ALIAS_RATIO_LOW, _ALIAS_RATIO_HIGH = 400_000, 4_000_000
MAX_DEPTH = 200  # nesting levels of collections (the walk and pydantic recurse over them)
_UNSUPPORTED_TAGS = ("binary", "set", "omap", "pairs")  # no JSON equivalent: the store could not keep them


def _allowed_alias_ratio(total: int) -> float:
    if total <= _ALIAS_RATIO_LOW:
        return 0.99
    if total >= _ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (total - _ALIAS_RATIO_LOW) / (_ALIAS_RATIO_HIGH - _ALIAS_RATIO_LOW)


class _Constructor(yaml.constructor.SafeConstructor):
    """SafeConstructor whose every failure (``2023-02-29``, ``!!int 0x``, ``!!bool maybe``) is a marked error."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
            raise yaml.constructor.ConstructorError(None, None, _why(node, exc), node.start_mark) from None

    def construct_unsupported(self, node: yaml.Node) -> Any:
        tag = node.tag.rsplit(":", 1)[-1]
        raise yaml.constructor.ConstructorError(None, None, f"the YAML tag !!{tag} is not supported", node.start_mark)


for _tag in _UNSUPPORTED_TAGS:
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _Constructor.construct_unsupported)  # type: ignore[type-var]


def _why(node: yaml.Node, exc: Exception) -> str:
    """The value is named only for a date (int() and float() would repeat any value, a password too)."""
    tag = node.tag.rsplit(":", 1)[-1]
    if tag == "timestamp" and isinstance(node, yaml.ScalarNode) and len(node.value) <= 40:
        return f"invalid timestamp {node.value!r}: {exc}"
    return f"invalid {tag}: the value does not fit the !!{tag} tag"


# libyaml's parser keeps marks too and is ~3x faster on big inventories; pure Python elsewhere.
_CParser: Any = getattr(yaml, "CParser", None)
if _CParser is not None:

    class _Loader(_CParser, _Constructor, yaml.resolver.Resolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Constructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

else:  # pragma: no cover - PyYAML without libyaml

    class _Loader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        _Constructor,
        yaml.resolver.Resolver,
    ):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _Constructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)


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
        return self.lines.get((), 1)  # an empty document: its first line

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


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _fault(node: yaml.Node, message: str) -> yaml.MarkedYAMLError:
    return yaml.constructor.ConstructorError(None, None, message, node.start_mark)


def check_node_graph(root: yaml.Node) -> None:
    """Refuse what would explode when expanded: a node that contains itself through an alias
    (``a: &a [*a]``), nesting deeper than :data:`MAX_DEPTH` and excessive alias expansion.

    Aliased nodes are shared in the composed graph, so one iterative pass with a memo computes the
    expanded size and height of every node in time linear in the *written* nodes."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            height[key] = 1 + max((height[id(c)] for c in children), default=0)
            on_path.discard(key)
            if height[key] > MAX_DEPTH:
                raise _fault(node, f"nested deeper than {MAX_DEPTH} levels")
            continue
        if key in size:
            continue
        if key in on_path:
            raise _fault(node, "recursive alias: this anchored node contains an alias to itself")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)
    total, written = size[id(root)], len(size)
    aliased = total - written
    if aliased > 100 and total > 1000 and aliased / total > _allowed_alias_ratio(total):
        raise _fault(root, f"excessive aliasing: {written} written nodes would expand to {total}")


def parse_yaml_text(text: str, path: str) -> Document:
    """Parse one YAML document. Every failure becomes a :class:`ConfigError` with the line it is on."""
    node, data = _compose_and_construct(text, path)
    lines: dict[Loc, int] = {}
    issues: list[ConfigIssue] = []
    if node is not None:
        _walk(node, (), lines, issues, path)
    return Document(path, data, lines, issues)


def _compose_and_construct(text: str, path: str) -> tuple[yaml.Node | None, Any]:
    bad = _bad_character(text)
    if bad is not None:
        raise ConfigError([ConfigIssue(path, bad[0], "", bad[1])])
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            check_node_graph(node)
        return node, loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        where = f" (column {mark.column + 1})" if mark else ""
        kind = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise ConfigError([ConfigIssue(path, line, "", f"{kind}: {exc.problem or exc}{where}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(path, 1, "", f"YAML error: {exc}")]) from None
    except RecursionError:
        raise ConfigError([ConfigIssue(path, 1, "", f"nested deeper than {MAX_DEPTH} levels")]) from None
    finally:
        loader.dispose()


# What YAML refuses to read (control characters, surrogates, U+FFFE/U+FFFF), found up front so the
# error says line and column: libyaml's reader only gives a character offset.
_BAD_CHARACTER = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _bad_character(text: str) -> tuple[int, str] | None:
    found = _BAD_CHARACTER.search(text)
    if found is None:
        return None
    line, column = line_column(text, found.start())
    code = ord(found.group())
    return line, f"unacceptable character U+{code:04X} at column {column} (control characters are not allowed)"


def line_column(text: str | bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    newline = "\n" if isinstance(text, str) else b"\n"
    start = text.rfind(newline, 0, offset) + 1  # type: ignore[arg-type]
    return text.count(newline, 0, offset) + 1, offset - start + 1  # type: ignore[arg-type]


def read_text(path: Path, hint: str = "save the file as UTF-8") -> str:
    """A content file's text; unreadable or not UTF-8 is a :class:`ConfigError` with line and column."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), None, "", f"cannot read file: {exc.strerror or exc}")]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, _ = line_column(raw, exc.start)
        column = len(raw[raw.rfind(b"\n", 0, exc.start) + 1 : exc.start].decode("utf-8", "replace")) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        message = f"not valid UTF-8: byte 0x{byte} at column {column} ({exc.reason}); {hint}"
        raise ConfigError([ConfigIssue(str(path), line, "", message)]) from None


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What a content file is now, for caches of its parse: (mtime, ctime, size), None when it cannot be
    read. The ctime moves on every write, even one that sets the mtime back."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ctime_ns, st.st_size


def parse_yaml_file(path: Path) -> Document:
    return parse_yaml_text(read_text(path), str(path))


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
