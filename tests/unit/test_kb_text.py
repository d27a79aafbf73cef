"""Pure text functions of the knowledge base: word segmentation of documents and queries, snippets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from opsagent.knowledge.segment import flat, index_words, query_words
from opsagent.knowledge.snippet import make


def test_documents_are_indexed_with_the_short_words_inside_long_ones() -> None:
    words = index_words("打印机无法打印").split()
    assert {"打印", "打印机", "无法"} <= set(words)
    assert index_words("ＶＰＮ连接失败") == "vpn 连接 失败"  # full width folded, lower case


def test_queries_are_cut_without_stopwords_punctuation_or_repeats() -> None:
    assert query_words("打印机无法打印") == ["打印机", "无法", "打印"]
    assert query_words("VPN 连接失败！") == ["vpn", "连接", "失败"]
    assert query_words("the printer is offline") == ["printer", "offline"]
    assert query_words("的了吗？？") == []
    assert len(query_words(" ".join(f"w{i}" for i in range(50)))) == 16


def test_flat_removes_spaces_and_folds_width() -> None:
    assert flat("VPN 连接\t失败") == "vpn连接失败"
    assert flat("ＡＢＣ　打印") == "abc打印"


def test_snippet_marks_words_escapes_markup_and_centres_on_the_matches() -> None:
    text = "前言" * 100 + "<b>打印机</b>无法打印" + "后记" * 100
    s = make(text, ["打印机", "打印"])
    assert "<mark>打印机</mark>" in s.html and "&lt;b&gt;" in s.html and "<b>" not in s.html
    assert s.text.startswith("…") and s.text.endswith("…") and "【打印机】" in s.text
    assert make("Printer OFFLINE", ["offline"]).html == "Printer <mark>OFFLINE</mark>"
    assert make("short", []).html == "short"


@settings(max_examples=200, derandomize=True)
@given(text=st.text(max_size=400), words=st.lists(st.text(min_size=1, max_size=5), max_size=4))
def test_snippets_never_leak_markup(text: str, words: list[str]) -> None:
    s = make(text, words)
    stripped = s.html.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in stripped and ">" not in stripped
