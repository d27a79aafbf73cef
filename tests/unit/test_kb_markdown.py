"""An article's Markdown in the console: raw HTML comes out as text, and only http(s), mailto and this
site's paths become links (no javascript:, data:, vbscript:, protocol-relative, however spelled)."""

from __future__ import annotations

import pytest

from opsagent.web.kb_markdown import render


def test_markdown_renders_and_raw_html_is_text() -> None:
    html = render("# 标题\n\n1. **重启**\n2. `net stop spooler`\n\n<script>alert(1)</script>\n\n<b onclick=x>b</b>")
    assert "<h1>标题</h1>" in html and "<strong>重启</strong>" in html and "<code>net stop spooler</code>" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b " not in html and "&lt;b onclick=x&gt;" in html


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "&#106;avascript:alert(1)", "<javascript:alert(1)>",
     "vbscript:x", "data:text/html;base64,PHNjcmlwdD4=", "//evil.example/x", "file:///etc/passwd"],
)  # fmt: skip
def test_unsafe_links_are_not_links(link: str) -> None:
    for text in (f"[点我]({link})", f"![图]({link})"):
        html = render(text)
        assert "<a " not in html and "<img" not in html, html


@pytest.mark.parametrize("link", ["https://wiki.example/x", "http://a.b/c?d=1", "mailto:ops@example.com",
                                  "/console/kb/3", "#steps", "runbooks/printer.md"])  # fmt: skip
def test_safe_links_are_links(link: str) -> None:
    assert "<a href=" in render(f"[x]({link})")


def test_empty_body() -> None:
    assert render("") == ""
