"""What a screen reader should hear for one finished top-level block.

Contract: ``speech_for_block(tokens)`` returns plain text, markdown stripped and
whitespace collapsed. Code is summarised ("Code block, Python, 24 lines."),
a table too ("Table, 3 columns, 5 rows."; rows of the body), an image is read
by its alt text, a list reads its items' text, a thematic break is silent ("").
Each paragraph, heading or item ends with punctuation so that speech pauses
between them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it.token import Token

from streaming.markdown.highlight import language_name, normalise_lang

_SPACE_RE = re.compile(r"\s+")
_SENTENCE_END = (".", "!", "?", ":", ";", "…")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _code_summary(token: Token) -> str:
    lines = token.content.count("\n") + (0 if token.content.endswith("\n") else 1)
    lines = lines if token.content else 0
    name = language_name(normalise_lang(token.info)) if token.type == "fence" else ""
    parts = ["Code block", name, _plural(lines, "line")]
    return ", ".join(part for part in parts if part) + "."


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(f"Image: {child.content}" if child.content else "Image")
    return "".join(parts)


def _table_summary(tokens: Sequence[Token], start: int) -> tuple[str, int]:
    """The summary of the table opening at ``start`` and the index of its close."""
    columns = rows = 0
    in_body = False
    i = start
    while tokens[i].type != "table_close":
        kind = tokens[i].type
        if kind == "th_open":
            columns += 1
        elif kind == "tbody_open":
            in_body = True
        elif kind == "tr_open" and in_body:
            rows += 1
        i += 1
    return f"Table, {_plural(columns, 'column')}, {_plural(rows, 'row')}.", i


def speech_for_block(tokens: Sequence[Token]) -> str:
    """Plain text for screen readers of one top-level block's tokens."""
    segments: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type in ("fence", "code_block"):
            segments.append(_code_summary(token))
        elif token.type == "table_open":
            summary, i = _table_summary(tokens, i)
            segments.append(summary)
        elif token.type == "inline":
            text = _SPACE_RE.sub(" ", _inline_text(token)).strip()
            if text:
                segments.append(text if text.endswith(_SENTENCE_END) else text + ".")
        i += 1
    return " ".join(segments)
