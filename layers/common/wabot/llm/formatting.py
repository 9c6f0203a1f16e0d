"""LLM output in WhatsApp's formatting, in messages WhatsApp accepts.

WhatsApp knows `*bold*`, `_italic_`, `~strike~` and ``` ```code``` ```, not Markdown headings,
tables or links: those are rewritten. Texts over 4096 characters are split at sentence
boundaries (then at words, then hard) so no message is cut mid-sentence when avoidable.
"""

from __future__ import annotations

import re

TEXT_LIMIT = 4096

_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__", re.DOTALL)
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def to_whatsapp(text: str) -> str:
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _TABLE_RULE.match(line):
            continue  # the |---|---| row of a Markdown table
        if line.strip().startswith("|") and line.strip().endswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            line = " · ".join(cell for cell in cells if cell)
        lines.append(line)
    text = "\n".join(lines)
    text = _HEADING.sub(lambda m: f"*{m.group(1).strip('*')}*", text)
    text = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = re.sub(r"^[ \t]*[-+][ \t]+", "• ", text, flags=re.MULTILINE)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def split_message(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, broken after a sentence where possible."""
    text = text.strip()
    if not text:
        return []
    pieces: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max((m.end() for m in _SENTENCE_END.finditer(window)), default=0)
        if cut < limit // 3:
            newline = window.rfind("\n")
            space = window.rfind(" ")
            cut = newline + 1 if newline > limit // 3 else (space + 1 if space > limit // 3 else limit)
        pieces.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        pieces.append(text)
    return pieces
