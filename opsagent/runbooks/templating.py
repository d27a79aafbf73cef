"""Jinja2 in a sandbox with strict undefined; every ``{{ }}`` in a command is shell-quoted.

A parameter holding ``; rm -rf /`` reaches the shell as one literal argument. Quoting is the
default for ``shell`` and ``ssh`` commands; in SQL every ``{{ value }}`` becomes a bound parameter
(``%s``, passed to the driver beside the step's own ``params``: no quoting rules of any dialect);
device CLIs have no quoting, so a ``cli`` value is refused when it holds
a line break or control character (it could start another command). An author who really means
to splice shell syntax writes ``{{ x | raw }}`` and owns the consequence.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

if TYPE_CHECKING:
    from opsagent.runbooks.model import Step


class Raw(str):
    """A value spliced verbatim (already quoted, or trusted by the author)."""

    __slots__ = ()


class RenderError(Exception):
    """A template that could not be rendered (undefined variable, bad filter, sandbox violation)."""


def _shell(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return shlex.quote(value if isinstance(value, str) else str(value))


_BOUND: ContextVar[list[Any] | None] = ContextVar("opsagent_sql_bound", default=None)
_MARK = "\x00"  # where a bound value goes (a NUL cannot come from YAML text)
_SQL_TOKEN = re.compile(r"(%%|%s|\x00|%)")


def _sql(value: Any) -> str:
    """A value in SQL text: bound as a driver parameter (``| raw`` splices an identifier verbatim)."""
    if isinstance(value, Raw):
        return str(value)
    bound = _BOUND.get()
    if bound is None:
        raise ValueError("SQL values are bound parameters: render SQL with Templar.sql_query")
    bound.append(value if value is None or isinstance(value, bool | int | float | str | list) else str(value))
    return _MARK


def _placeholders(text: str, bound: list[Any], given: list[Any]) -> tuple[str, list[Any]]:
    """The query with ``%s`` for every bound value and given parameter, in order of appearance.

    With given ``params`` the author already wrote ``%%`` for a literal percent; without, a literal
    ``%`` of the text is escaped for the driver (it now receives parameters)."""
    out: list[str] = []
    params: list[Any] = []
    values, extra = iter(bound), iter(given)
    for token in _SQL_TOKEN.split(text):
        if token == _MARK:
            out.append("%s")
            params.append(next(values))
        elif token == "%s" and given:
            out.append("%s")
            params.append(next(extra, None))
        elif token in ("%", "%s", "%%"):
            out.append(token if given else token.replace("%", "%%"))
        else:
            out.append(token)
    return "".join(out), params + list(extra)


def _cli(value: Any) -> str:
    """Device CLIs have no quoting: a value is spliced as is, but can never start a second line
    (a second command) or carry control characters."""
    text = str(value)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"a value with a line break or control character cannot go into a CLI command: {text!r}")
    return text


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Raw) else value


def _regex_search(value: Any, pattern: str, group: int = 0) -> str | None:
    match = re.search(pattern, str(value), re.MULTILINE)
    return match.group(group) if match else None


def _filters() -> dict[str, Any]:
    return {
        "raw": lambda v: Raw(str(v)),
        "quote": lambda v: Raw(shlex.quote(str(v))),
        "shell_args": lambda v: Raw(" ".join(shlex.quote(str(x)) for x in v)),
        "from_json": json.loads,
        "to_json": lambda v: json.dumps(v, ensure_ascii=False, default=str),
        "regex_search": _regex_search,
        "regex_findall": lambda v, p: re.findall(p, str(v), re.MULTILINE),
        "lines": lambda v: [line for line in str(v).splitlines() if line.strip()],
        "bool": lambda v: str(v).strip().lower() in ("1", "true", "yes", "on", "y"),
    }


def _env(finalize: Any) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, finalize=finalize, keep_trailing_newline=False
    )
    env.filters.update(_filters())
    return env


class Templar:
    """Renders commands (shell-quoted), SQL (literal-quoted), text, and evaluates expressions."""

    def __init__(self) -> None:
        self.shell = _env(_shell)
        self.sql = _env(_sql)
        self.cli = _env(_cli)
        self.text = _env(_plain)
        self._cache: dict[tuple[int, str], Any] = {}

    def _template(self, env: SandboxedEnvironment, source: str) -> Any:
        key = (id(env), source)
        tpl = self._cache.get(key)
        if tpl is None:
            tpl = self._cache[key] = env.from_string(source)
        return tpl

    def _render(self, env: SandboxedEnvironment, source: str, ctx: Mapping[str, Any]) -> str:
        if "{" not in source:
            return source
        try:
            return str(self._template(env, source).render(ctx))
        except UndefinedError as exc:
            raise RenderError(f"undefined variable: {exc.message}") from None
        except TemplateError as exc:
            raise RenderError(f"template error: {exc.message or type(exc).__name__}") from None
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise RenderError(f"template error: {type(exc).__name__}: {exc}") from None

    def command(self, source: str, ctx: Mapping[str, Any]) -> str:
        return self._render(self.shell, source, ctx)

    def cli_command(self, source: str, ctx: Mapping[str, Any]) -> str:
        return self._render(self.cli, source, ctx)

    def sql_query(self, source: str, ctx: Mapping[str, Any], params: list[Any]) -> tuple[str, list[Any]]:
        """(query, parameters): each ``{{ value }}`` of the text bound through the driver, with the
        step's own ``params`` (``%s`` placeholders) in their places."""
        bound: list[Any] = []
        token = _BOUND.set(bound)
        try:
            text = self._render(self.sql, source, ctx) if "{" in source else source
        finally:
            _BOUND.reset(token)
        if not bound:
            return text, params
        return _placeholders(text, bound, params)

    def render(self, source: str, ctx: Mapping[str, Any]) -> str:
        return self._render(self.text, source, ctx)

    def render_data(self, data: Any, ctx: Mapping[str, Any]) -> Any:
        """Render every string inside lists/dicts (plain text, for non-shell arguments)."""
        if isinstance(data, str):
            return self.render(data, ctx)
        if isinstance(data, list):
            return [self.render_data(v, ctx) for v in data]
        if isinstance(data, dict):
            return {k: self.render_data(v, ctx) for k, v in data.items()}
        return data

    def evaluate(self, expr: str | bool, ctx: Mapping[str, Any]) -> Any:
        """An Ansible-style condition: a bare expression, or one ``{{ … }}`` around it."""
        if isinstance(expr, bool):
            return expr
        source = _bare(expr)
        try:
            key = (0, source)
            compiled = self._cache.get(key)
            if compiled is None:
                compiled = self._cache[key] = self.text.compile_expression(source, undefined_to_none=False)
            return compiled(**ctx)
        except UndefinedError as exc:
            raise RenderError(f"undefined variable: {exc.message}") from None
        except TemplateError as exc:
            raise RenderError(f"expression error in {expr!r}: {exc.message or type(exc).__name__}") from None
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise RenderError(f"expression error in {expr!r}: {type(exc).__name__}: {exc}") from None

    def truth(self, expr: str | bool, ctx: Mapping[str, Any]) -> bool:
        value = self.evaluate(expr, ctx)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on", "y")
        return bool(value)


_WRAPPED = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)


def _bare(expr: str) -> str:
    match = _WRAPPED.match(expr)
    return match.group(1) if match and "{{" not in match.group(1) else expr


_CHECKER = _env(_plain)


def _parse(source: Any, where: str, expression: bool = False) -> None:
    if not isinstance(source, str):
        return
    try:
        if expression:
            _CHECKER.compile_expression(_bare(source))
        elif "{" in source:
            _CHECKER.parse(source)
    except TemplateError as exc:
        raise ValueError(f"{where}: template syntax error: {exc.message}") from None


def _walk(data: Any, where: str) -> None:
    if isinstance(data, str):
        _parse(data, where)
    elif isinstance(data, list):
        for item in data:
            _walk(item, where)
    elif isinstance(data, dict):
        for key, value in data.items():
            _walk(value, f"{where}.{key}")


def check_step_templates(step: Step) -> None:
    """Parse every template of a step (syntax only: variables exist only at run time)."""
    if step.when is not None:
        _parse(step.when, "when", expression=True)
    if step.until is not None:
        _parse(step.until, "until", expression=True)
    _parse(step.value, "value")
    for index, rule in enumerate(step.check):  # each error names its field: `opsagent check` gives its line
        _parse(rule.condition, f"check.{index}.{rule.status}", expression=True)
        _parse(rule.message, f"check.{index}.message")
        _parse(rule.threshold, f"check.{index}.threshold")
    if step.type != "block":
        args = step.args
        _walk(args.model_dump(by_alias=True) if hasattr(args, "model_dump") else args, step.type)
        if step.type == "wait_until":
            _parse(args.that, "wait_until.that", expression=True)
