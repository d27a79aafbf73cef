"""An article's Markdown as safe HTML for the console: markdown-it-py (CommonMark + tables) with raw HTML
off — ``<script>`` and every other tag in the text come out as escaped text — and links and images
limited to http(s), mailto and paths of this site (no ``javascript:``, ``data:``, ``vbscript:``, …).
Images from other sites are blocked anyway by the console's Content-Security-Policy (``img-src 'self'``)."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markupsafe import Markup

_SAFE_URL = re.compile(r"^(https?://|mailto:|/(?!/)|#|\?)", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _safe_link(url: str) -> bool:
    """A link the console may render: an allowed scheme, or a relative link with no scheme at all."""
    cleaned = "".join(ch for ch in url.strip() if ch > " ")  # browsers drop controls and spaces in schemes
    if _SAFE_URL.match(cleaned):
        return True
    return not _SCHEME.match(cleaned) and not cleaned.startswith("//")


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    md.validateLink = _safe_link  # type: ignore[method-assign]
    return md


_MD = _parser()


def render(text: str) -> Markup:
    """The article body as HTML that is safe to put into a page as is."""
    return Markup(_MD.render(text or ""))  # markdown-it with html off escapes all text
