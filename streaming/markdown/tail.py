"""Rendering the live tail: repair + render, with a shortcut for a growing list.

``render_tail(live)`` returns ``(repair_tail(live), html)`` where ``html`` is the
sanitised render of the repaired source, block by block, as ``render_markdown``
would produce it.

The shortcut (``LiveList``): a live top-level list grows at its last item, and
earlier items cannot change while the list stays tight and the same list. So
when the live region is a column-0 list with no blank line and no reference
definition, the source is cut at the start of the last column-0 item line:
``head`` (the earlier items, complete lines, rendered once and cached) and
``last`` (repaired and rendered on its own, as a one-item list). The HTML is
the head's list without its closing tag followed by the last item's render
without its opening tag. It is taken only when both parts are lists with the
same marker, so that a different bullet, a thematic break or a held-back line
falls back to the full render. Why the repair agrees: ``repair_tail`` only
changes the line being typed (or the last complete one) and what follows it;
when that is the last item's first line and it is held back, the repaired
``last`` is empty and the shortcut is not taken. A test compares it with the
full render on every prefix of the CommonMark examples and the corpus.
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it.token import Token

from streaming.markdown.inline import InlineMemo, parse_env
from streaming.markdown.render import parse_after_block, render_block, split_blocks
from streaming.markdown.repair import repair_tail

# A top-level list item line with content after its marker.
_ITEM_RE = re.compile(r"^(?:[-+*]|\d{1,9}[.)])[ \t]+\S", re.MULTILINE)
_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")
_LEADING_BLANKS_RE = re.compile(r"(?:[ \t]*\n)*")
_LIST_OPEN = ("bullet_list_open", "ordered_list_open")


def render_source(
    repaired: str, refs: dict[str, Any], memo: InlineMemo | None = None
) -> tuple[list[Token], str]:
    """Tokens and sanitised HTML of ``repaired``, with the frozen region's references."""
    env = parse_env(refs, memo)
    tokens = parse_after_block(repaired, env)
    return tokens, "".join(render_block(block, env) for block in split_blocks(tokens))


def _list_marker(tokens: list[Token]) -> str | None:
    """The list type and item marker if ``tokens`` start with a list, else None."""
    if len(tokens) < 2 or tokens[0].type not in _LIST_OPEN:
        return None
    return tokens[0].type + tokens[1].markup


class LiveList:
    """Renders a live list's earlier items once and its last item every time."""

    def __init__(self, memo: InlineMemo | None = None) -> None:
        self.hits = 0
        self._memo = memo  # renders that took the shortcut (tests check it is used)
        self._head: tuple[str, int] = ("", 0)  # the head and how many references it saw
        self._head_marker: str | None = None
        self._head_html = ""
        self._last: tuple[str, str] = ("", "")  # the last shortcut's (repaired, html)

    def render(self, live: str, refs: dict[str, Any]) -> tuple[str, str] | None:
        """``(repaired, html)`` for the live list ``live``, or None: render in full."""
        start = _LEADING_BLANKS_RE.match(live).end()  # type: ignore[union-attr]
        body = live[start:].rstrip()
        if not _ITEM_RE.match(body) or "]:" in live or _BLANK_LINE_RE.search(body):
            return None
        cut = start
        for match in _ITEM_RE.finditer(live, start):
            cut = match.start()
        if cut == start:
            return None
        head, last = live[:cut], live[cut:]
        repaired_last = repair_tail(last)
        if not repaired_last:
            return None  # the last item is held back: the repair may reach the head
        repaired = head + repaired_last
        if repaired == self._last[0] and (head, len(refs)) == self._head:
            return self._last  # unchanged after repair: the same HTML
        # The last item first: its repair's block parse is reused by the render.
        tokens, html = render_source(repaired_last, refs, self._memo)
        marker = _list_marker(tokens)
        if (head, len(refs)) != self._head:  # references only ever get added
            self._render_head(head, refs)
        if marker is None or marker != self._head_marker:
            return None
        closer = "</ul>\n" if marker.startswith("bullet") else "</ol>\n"
        if not self._head_html.endswith(closer):
            return None
        self.hits += 1
        body = html[html.index("\n") + 1 :]
        self._last = (repaired, self._head_html[: -len(closer)] + body)
        return self._last

    def _render_head(self, head: str, refs: dict[str, Any]) -> None:
        """Render the earlier items: only those added since the last head, if any."""
        old, count = self._head
        self._head = (head, len(refs))
        if count == len(refs) and old and head.startswith(old) and self._head_marker:
            # The added items are joined as the last item is (see the module docstring).
            tokens, html = render_source(head[len(old) :], refs, self._memo)
            closer = self._head_html[self._head_html.rindex("</") :]
            if _list_marker(tokens) == self._head_marker and len(split_blocks(tokens)) == 1:
                self._head_html = self._head_html[: -len(closer)] + html[html.index("\n") + 1 :]
                return
        tokens, self._head_html = render_source(head, refs, self._memo)
        self._head_marker = _list_marker(tokens)
        if len(split_blocks(tokens)) != 1:
            self._head_marker = None


def render_tail(
    live: str, live_type: str, refs: dict[str, Any], lists: LiveList | None
) -> tuple[str, str | None]:
    """``(repaired, html)``; html is None when ``lists`` found nothing to shortcut
    and the caller should render ``repaired`` itself (it may be unchanged)."""
    if lists is not None and not live_type:
        done = lists.render(live, refs)
        if done is not None:
            return done
    return repair_tail(live, live_type=live_type), None
