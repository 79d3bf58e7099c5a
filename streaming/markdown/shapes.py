"""The HTML around a block's only line, told by how the line starts.

A live region that is one partial line belongs to a block that its start
decides: a paragraph (text starting with a letter, digit or inline markup: no
block starts so), a block quote, the first item of a list, or an ATX heading.
``LiveLine`` renders such a line from its inline text alone and puts it in
the shape markdown-it renders that block in; anything else is left to the
full render. Tests compare every prefix with it (tests/test_markdown_line.py).
"""

from __future__ import annotations

import re

# An ATX heading line: 1-6 #s in column 0, then a space or tab (or nothing).
HEADING_RE = re.compile(r"(#{1,6})(?:[ \t]+(.*)|)")
# A list item's marker in column 0 and 1-4 spaces (5 would make its text code).
_FIRST_ITEM_RE = re.compile(r"(?:[-+*]|(\d{1,9})[.)]) {1,4}")
# Text that would start an ordered list (digits and a delimiter, then a space).
_LIST_MARKER_RE = re.compile(r"\d{1,9}[.)](?:[ \t]|$)")
# Item text that starts a block inside the item instead (a heading, a fence).
BLOCK_STARTS = ("#", "```", "~~~")


def heading_text(raw: str) -> str:
    """An ATX heading's text: ``raw`` (after the opening #s and spaces) without a
    closing sequence of #s, as markdown-it's heading rule takes it."""
    text = raw.rstrip(" \t")
    bare = text.rstrip("#")
    if len(bare) < len(text) and (not bare or bare[-1] in " \t"):
        text = bare
    return text.strip()


def first_shape(container: str, content: str, raw_first: str) -> tuple[str, str] | None:
    """The HTML around the inline text of a block's first (and only) line, by
    its container markers, or None if not one of the known shapes."""
    if not content or raw_first == "[" or not (content[0].isalnum() or content[0] in "*_`"):
        return None
    if content.startswith(BLOCK_STARTS) or (
        content[0].isdigit() and _LIST_MARKER_RE.match(content)
    ):
        return None
    if not container:
        return "<p>", "</p>\n"
    if container in (">", "> "):  # more spaces would make its text code
        return "<blockquote>\n<p>", "</p>\n</blockquote>\n"
    item = _FIRST_ITEM_RE.fullmatch(container)
    if item is None:
        return None  # indented, several markers, tabs, 5+ spaces (code): not handled here
    number = item.group(1)
    if number is None:
        return "<ul>\n<li>", "</li>\n</ul>\n"
    start = f' start="{int(number)}"' if int(number) != 1 else ""
    return f"<ol{start}>\n<li>", "</li>\n</ol>\n"
