"""Jinja2 for the console: autoescaped templates from the package, overridable per site by a template
of the same name under ``web/templates/`` of a content root (the last root wins, as for content); the
security headers every page carries (a strict Content-Security-Policy: no inline script or style)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import FunctionType
from typing import Any

import jinja2
import jinja2.runtime
from aiohttp import web

from opsagent.desk.privacy import mask_text

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


_DICT_ATTRIBUTES = frozenset(dir(dict))


class ConsoleContext(jinja2.runtime.Context):
    """Jinja2's context with a plain function (``t``, ``when``: several per row) called at once; Jinja
    first looks on it and its ``__call__`` for ``pass_context``-style markers, which a plain function
    without the marker never has — the same call, a third of the cost."""

    def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # Jinja's own signature
        if type(__obj) is not FunctionType or hasattr(__obj, "jinja_pass_arg"):
            return super().call(__obj, *args, **kwargs)
        kwargs.pop("_block_vars", None)
        kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.environment.undefined(
                "value was undefined because a callable raised a StopIteration exception"
            )


class ConsoleEnvironment(jinja2.Environment):
    """Jinja2 with ``row.key`` on a plain dict (the pages' rows) looked up as ``row["key"]`` at once:
    Jinja tries the attribute first, and the AttributeError it raises and catches for every such
    lookup was the largest single cost of rendering the queue (50 rows × 25 lookups). The answer is
    the same: a dict's attributes (``items``, ``get``…) still win over keys of those names."""

    context_class = ConsoleContext

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def environment(roots: Iterable[Path]) -> jinja2.Environment:
    site = [str(root / "web" / "templates") for root in reversed(list(roots)) if (root / "web" / "templates").is_dir()]
    loader = jinja2.FileSystemLoader([*site, str(PACKAGE_TEMPLATES)])
    env = ConsoleEnvironment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["masked"] = lambda text: mask_text(str(text)) if text else ""  # phones and emails in free text
    return env


def page(env: jinja2.Environment, name: str, context: dict[str, Any], status: int = 200) -> web.Response:
    body = env.get_template(name).render(**context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


def error_page(
    cls: type[web.HTTPException], env: jinja2.Environment, name: str, context: dict[str, Any]
) -> web.HTTPException:
    body = env.get_template(name).render(**context)
    return cls(text=body, content_type="text/html", headers=HEADERS)
