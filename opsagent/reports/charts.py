"""Small SVG charts (pure functions): bar charts a manager reads at a glance, no plotting stack."""

from __future__ import annotations

import html
from collections.abc import Sequence

PALETTE = ("#2b6cb0", "#2f855a", "#c05621", "#6b46c1", "#b7791f", "#c53030", "#2c7a7b", "#4a5568")


def bar_chart(title: str, items: Sequence[tuple[str, float]], unit: str = "", width: int = 640) -> str:
    """Horizontal bars, one per (label, value), largest scale first as given."""
    bar_h, gap, label_w, top = 18, 6, 170, 26
    height = top + len(items) * (bar_h + gap) + 10
    peak = max((v for _, v in items), default=0) or 1
    span = width - label_w - 70
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-size="11">',
        f'<text x="0" y="15" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_h + gap)
        w = max(1.0, span * value / peak) if value > 0 else 0
        text = f"{value:.1f}".rstrip("0").rstrip(".") + unit
        out += [
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{html.escape(label[:28])}</text>',
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[i % len(PALETTE)]}"/>',
            f'<text x="{label_w + w + 4:.1f}" y="{y + 13}">{html.escape(text)}</text>',
        ]
    if not items:
        out.append(f'<text x="{label_w}" y="{top + 12}">—</text>')
    out.append("</svg>")
    return "".join(out)
