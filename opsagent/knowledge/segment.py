"""Words of a text for the full-text index, and of a query.

Chinese has no spaces, so both sides are cut into words by rjieba (jieba's dictionary, in Rust):
documents with ``cut_for_search``, which also emits the short words inside long ones (打印机 → 打印,
印机, 打印机), so the usual two-character query (打印) is answered from the index; queries with ``cut``.
Text is NFKC-normalised (full-width ＶＰＮ → VPN) and lower-cased first, the same on both sides.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

from opsagent.errors import OpsAgentError

MAX_QUERY_TERMS = 16
_WORD = re.compile(r"\w", re.UNICODE)
_SPACE = re.compile(r"\s+")
# Words that say nothing about the problem: left out of queries (never of the index).
_STOP = "的 了 是 在 和 与 或 吗 呢 啊 吧 也 都 就 把 被 a an the of to in on is are and or for"
STOPWORDS = frozenset(_STOP.split(" "))


@cache
def _jieba() -> Any:
    try:
        import rjieba
    except ImportError:  # pragma: no cover - a core dependency; only a broken install lacks it
        raise OpsAgentError(
            "the knowledge base needs the rjieba package (Chinese word segmentation): pip install 'rjieba>=0.2,<0.3'"
        ) from None
    return rjieba


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def flat(text: str) -> str:
    """Normalised with every space removed: what the phrase bonus and the substring fallback compare."""
    return _SPACE.sub("", normalize(text))


def index_words(text: str) -> str:
    """The text as space-separated words for the full-text index."""
    words = _jieba().cut_for_search(normalize(text))
    return " ".join(w for w in words if _WORD.search(w))


def query_words(query: str) -> list[str]:
    """The words of a query, in order, without repeats, stop words or punctuation (at most 16)."""
    seen: list[str] = []
    for word in _jieba().cut(normalize(query)):
        word = word.strip()
        if word and _WORD.search(word) and word not in STOPWORDS and word not in seen:
            seen.append(word)
    return seen[:MAX_QUERY_TERMS]
