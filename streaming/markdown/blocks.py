"""Block-level helpers for freezing: where blocks may start, and when one is finished.

Cheap line filters run before the block parse, which costs O(block) per line
on a long list or table; the parse then decides.
"""

from __future__ import annotations

import re

from markdown_it.token import Token

# A line that may start a top-level block, or follow a one-line block (a
# heading, a fence's closer) that the next line cannot continue.
_MARKER_LINE_RE = re.compile(r" {0,3}(?:[#>*+\-=_|:`~]|\d{1,9}[.)])")
# Top-level blocks that a blank line ends for good (a list, block quote or
# indented code block may go on after one).
_ENDED_BY_BLANK = frozenset({"paragraph_open", "table_open"})
# Top-level blocks that are finished as soon as their last line is complete.
_ONE_LINE = frozenset({"heading_open", "hr"})


def offset_of_line(src: str, line: int) -> int:
    """Offset where 0-based ``line`` starts in ``src`` (lines end with "\\n" only)."""
    offset = 0
    for _ in range(line):
        offset = src.index("\n", offset) + 1
    return offset


def ends_blank(src: str) -> bool:
    """Whether the last complete line of ``src`` (which ends with "\\n") is blank."""
    return not src[src.rfind("\n", 0, len(src) - 1) + 1 :].strip()


def may_start_block(
    text: str,
    start: int,
    end: int,
    continuation: re.Pattern[str] | None,
    *,
    blank_ends: bool = True,
) -> bool:
    """Whether a complete line in ``text[start:end]`` may begin a new top-level block.

    A false positive costs one parse; a false negative only delays freezing
    (the tail renders the extra block meanwhile) until a later line passes, so
    the filter may be blunt: indented lines, paragraph continuations and lines
    that ``continuation`` matches (the live block's own list marker, ``>``,
    table rows) never pass. Blank lines pass if ``blank_ends``: they may end
    the live block (a list or block quote goes on after one: the next line
    decides, and any line after a blank line passes).
    """
    previous_start = text.rfind("\n", 0, max(start - 1, 0)) + 1 if start else start
    previous = text[previous_start:start] if start else ""
    for line in text[start:end].split("\n")[:-1]:
        after_blank = not previous.strip()
        after_marker = _MARKER_LINE_RE.match(previous) is not None
        previous = line
        if not line.strip():
            if blank_ends and not after_blank:
                return True
            continue
        if line[0] in " \t":
            continue
        if continuation is not None and continuation.match(line):
            continue
        if after_blank or after_marker or _MARKER_LINE_RE.match(line) is not None:
            return True
    return False


def continuation(token: Token) -> re.Pattern[str] | None:
    """Column-0 lines that continue the top-level block opened by ``token``."""
    if token.type == "bullet_list_open":
        return re.compile(re.escape(token.markup) + r"[ \t]")
    if token.type == "ordered_list_open":
        return re.compile(r"\d{1,9}" + re.escape(token.markup) + r"[ \t]")
    if token.type == "blockquote_open":
        return re.compile(">")
    if token.type == "table_open":
        return re.compile(r".*\|")
    return None


def fence_closer(token: Token) -> re.Pattern[str]:
    """Matches a line that closes the fence opened by ``token``."""
    char = re.escape(token.markup[0])
    return re.compile(rf"^ {{0,3}}{char}{{{len(token.markup)},}}[ \t]*$", re.MULTILINE)


def fence_is_open(region: str, token: Token) -> bool:
    """Whether the fence ``token`` (parsed from ``region``) still lacks its closer."""
    assert token.map is not None
    return fence_closer(token).search(region, offset_of_line(region, token.map[0] + 1)) is None


def last_is_finished(region: str, token: Token, next_char: str) -> bool:
    """Whether the last top-level block, opened by ``token``, can no longer change.

    ``region`` is complete lines only; ``next_char`` is the first character of
    the partial line after it ("" if none). A letter in column 0 after a blank
    line cannot continue any block (lists and block quotes need a marker or
    indentation, and a blank line ends laziness): it starts a paragraph.
    """
    if token.type in _ONE_LINE:
        return True
    if token.type == "fence":
        return not fence_is_open(region, token)
    if not ends_blank(region):
        return False
    return token.type in _ENDED_BY_BLANK or ends_after_blank(token.type, token.markup, next_char)


def ends_after_blank(block_type: str, markup: str, next_char: str) -> bool:
    """Whether a line starting with ``next_char`` after a blank line ends a block
    of ``block_type`` (its list marker ``markup``). A blank line ends laziness,
    so only indentation or the block's own marker continue it: a block quote
    ends at any text (another ``>`` starts another quote), a list at any but
    its own marker (or, ordered, a digit). Other blocks: a letter starts a
    paragraph, which nothing continues into."""
    if not next_char or next_char in " \t":
        return False
    if block_type == "blockquote_open":
        return True
    if block_type == "bullet_list_open":
        return next_char != markup
    if block_type == "ordered_list_open":
        return not next_char.isdigit()
    return next_char.isalpha()
