"""The CLI's own words in the reader's language: ``tr("English text {name}", name=…)``.

As with gettext, the English text is the key and the Chinese catalog (``zh.py``) maps it; the language is
the running command's (the agent config's ``language``, else the locale). Text opsagent does not write
itself — file names, asset names, values, a validator's technical detail — passes through unchanged.
A test walks every ``tr("…")`` in the source and fails when the catalog lacks one, so a new message
cannot ship in English only.
"""

from __future__ import annotations

from typing import Any

import click

from opsagent.i18n.zh import ZH


def current_language() -> str:
    ctx = click.get_current_context(silent=True)
    lang = getattr(ctx.find_root().obj, "lang", None) if ctx is not None else None
    return lang if lang in ("zh", "en") else "en"


def tr(text: str, **fields: Any) -> str:
    words = ZH.get(text, text) if current_language() == "zh" else text
    return words.format(**fields) if fields else words
