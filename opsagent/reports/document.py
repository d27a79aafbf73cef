"""A report is a list of blocks; one model renders to Markdown and HTML (and HTML to PDF).

Keeping content apart from format means the Markdown, HTML and PDF of a report always say the same.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

Cell = str | int | float | None


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str


@dataclass
class Fields:
    """Label/value pairs (a form such as the 维修服务报告)."""

    rows: list[tuple[str, Cell]]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]


@dataclass
class Figure:
    """An SVG chart; Markdown gets the caption and the data table instead."""

    caption: str
    svg: str
    fallback: Table | None = None


@dataclass
class SignOff:
    """The signature block: who confirmed, when (blank lines to sign on paper if nobody has yet)."""

    rows: list[tuple[str, Cell]]


Block = Heading | Para | Fields | Table | Figure | SignOff


@dataclass
class Document:
    title: str
    lang: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Document:
        self.blocks.extend(blocks)
        return self


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))
    return str(value)


def _md_cell(value: Cell) -> str:
    return _text(value).replace("|", "\\|").replace("\n", "<br>") or " "


def _md_table(headers: list[str], rows: list[list[Cell]]) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def to_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", ""]
    shown: Table | None = None  # a figure's data table, already written in its place
    for block in doc.blocks:
        if block is shown:
            continue  # the HTML/PDF shows chart + table; Markdown has only the table, once
        if isinstance(block, Heading):
            out += ["#" * (block.level) + " " + block.text, ""]
        elif isinstance(block, Para):
            out += [block.text, ""]
        elif isinstance(block, Fields | SignOff):
            out += [*_md_table(["", ""], [[f"**{k}**", v] for k, v in block.rows]), ""]
        elif isinstance(block, Table):
            out += [*_md_table(block.headers, block.rows), ""]
        elif isinstance(block, Figure):
            out += [f"*{block.caption}*", ""]
            shown = block.fallback
            if block.fallback is not None:
                out += [*_md_table(block.fallback.headers, block.fallback.rows), ""]
    return "\n".join(out).rstrip() + "\n"


CSS = """
@page { size: A4; margin: 18mm 15mm; @bottom-right { content: counter(page) " / " counter(pages); font-size: 8pt; } }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Zen Hei", "Microsoft YaHei", sans-serif;
       font-size: 10pt; color: #111; line-height: 1.45; }
h1 { font-size: 17pt; border-bottom: 2px solid #333; padding-bottom: 4px; }
h2 { font-size: 12.5pt; margin-top: 16px; border-left: 4px solid #2b6cb0; padding-left: 6px; }
h3 { font-size: 11pt; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; page-break-inside: auto; }
th, td { border: 1px solid #999; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #edf2f7; }
table.fields th { width: 28%; }
table.signoff td { height: 26px; }
.breached { color: #c53030; font-weight: bold; }
figure { margin: 8px 0 14px; page-break-inside: avoid; }
figcaption { font-size: 9pt; color: #444; }
"""


def _html_cell(value: Cell) -> str:
    text = html.escape(_text(value)).replace("\n", "<br>")
    return text


def to_html(doc: Document) -> str:
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if doc.lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{html.escape(doc.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
    ]
    for block in doc.blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            parts.append(f"<p>{_html_cell(block.text)}</p>")
        elif isinstance(block, Fields | SignOff):
            css = "signoff" if isinstance(block, SignOff) else "fields"
            rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_html_cell(v)}</td></tr>" for k, v in block.rows)
            parts.append(f'<table class="{css}">{rows}</table>')
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            body = "".join("<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Figure):
            parts.append(f"<figure>{block.svg}<figcaption>{html.escape(block.caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def to_pdf(doc: Document) -> bytes:
    """HTML rendered by WeasyPrint (pango + fontconfig find the CJK fonts installed by the set-up)."""
    from weasyprint import HTML  # imported here: it loads pango, which only PDF output needs

    pdf = HTML(string=to_html(doc)).write_pdf()
    assert pdf is not None
    return bytes(pdf)


def render(doc: Document, fmt: str) -> bytes:
    if fmt == "md":
        return to_markdown(doc).encode()
    if fmt == "html":
        return to_html(doc).encode()
    if fmt == "pdf":
        return to_pdf(doc)
    raise ValueError(f"unknown format {fmt!r} (md, html, pdf)")
