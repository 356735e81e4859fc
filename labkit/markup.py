"""Check hints and review findings are written with Markdown's inline marks; cards show them as HTML.

Only the two marks the lab's messages use: ```code``` and ``**bold**``. The text is
escaped first, so a message can never inject markup of its own.
"""

from __future__ import annotations

import html
import re

_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


def inline_html(text: str) -> str:
    """Escape ``text`` for HTML, then turn `code` into <code> and **bold** into <b>."""
    escaped = html.escape(text, quote=False)
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    return _BOLD.sub(r"<b>\1</b>", escaped)

