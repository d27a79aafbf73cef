"""Snippets: a short window of a document's text around the query's words, HTML-escaped, with the words
wrapped in ``<mark>`` (and a plain form with 【】 for terminals). Pure functions, the same for every store."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

WIDTH = 120
MAX_TITLE = 300


@dataclass(frozen=True)
class Snippet:
    text: str  # plain, the matches in 【】
    html: str  # escaped, the matches in <mark>


def _spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) of the words in ``text`` (case- and width-insensitive), longest first."""
    folded = unicodedata.normalize("NFKC", text).lower()
    if len(folded) != len(text):  # NFKC changed lengths (ligatures…): match on the lower-cased text
        folded = text.lower()
    taken: list[tuple[int, int]] = []
    for word in sorted(set(words), key=len, reverse=True):
        for found in re.finditer(re.escape(word), folded):
            span = found.span()
            if all(span[1] <= s or span[0] >= e for s, e in taken):
                taken.append(span)
    return sorted(taken)


def _window(text: str, spans: list[tuple[int, int]], width: int) -> tuple[int, int]:
    if not spans or len(text) <= width:
        return 0, min(len(text), width)
    best, best_count = spans[0][0], 0
    for start, _ in spans:  # the window (starting a little before a match) holding the most matches
        count = sum(1 for s, e in spans if start <= s and e <= start + width)
        if count > best_count:
            best, best_count = start, count
    lo = max(0, min(best - width // 4, len(text) - width))
    return lo, lo + width


def make(text: str, words: list[str], width: int = WIDTH) -> Snippet:
    text = " ".join(text.split())
    spans = _spans(text, words)
    lo, hi = _window(text, spans, width)
    plain, marked, at = [], [], lo
    for start, end in spans:
        if start < lo or end > hi:
            continue
        plain += [text[at:start], "【", text[start:end], "】"]
        marked += [html.escape(text[at:start]), "<mark>", html.escape(text[start:end]), "</mark>"]
        at = end
    plain.append(text[at:hi])
    marked.append(html.escape(text[at:hi]))
    before, after = ("…" if lo > 0 else ""), ("…" if hi < len(text) else "")
    return Snippet(before + "".join(plain) + after, before + "".join(marked) + after)
