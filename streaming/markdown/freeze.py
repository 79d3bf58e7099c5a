"""Freezing: finishing the live region's top-level blocks once nothing can change them.

The freezing half of ``stream.StreamingMarkdown`` (a mixin: the renderer's
state is one object). Only complete lines decide structure (a partial
``#hashtag`` line is briefly an ATX heading). When new complete lines may
start a block (``blocks.may_start_block``), the live region's complete lines
are block-parsed (no inline pass); every top-level block but the last is
finished (markdown is line-oriented: appending lines can change only the
last block), and so is the last one when nothing can change it any more
(``blocks.last_is_finished``: a heading, a closed fence, a paragraph or
table followed by a blank line, any block followed by a blank line and a
letter in column 0). Finished blocks are rendered and sanitised once, sent
once, and the live region moves past them.

Their HTML comes from what the live renderers hold when it is exact (the
tail itself when it showed the block unrepaired, plus plain words typed
since; a spliced last line; a live table's rows; an open fence's streamed
lines where lexing the closed block in one piece agrees), else from a parse
that reuses the block parse and the inline memo. Some ends need no parse: a
fence's closing line, the blank line after a table, a paragraph or a
one-line quote, the first line after a list or quote and a blank line that
cannot continue it. Reference definitions found in the frozen part are
carried to later parses.
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it.token import Token

from streaming.markdown.append import PlainAppend
from streaming.markdown.blocks import (
    continuation,
    ends_after_blank,
    ends_blank,
    fence_closer,
    fence_is_open,
    last_is_finished,
    may_start_block,
    offset_of_line,
)
from streaming.markdown.cadence import Cadence
from streaming.markdown.fence import OpenFence
from streaming.markdown.inline import InlineMemo, parse_env
from streaming.markdown.line import LiveLine
from streaming.markdown.render import (
    BLOCK_MD,
    block_parse,
    parse_after_block,
    render_block,
    split_blocks,
    top_level_starts,
)
from streaming.markdown.speech import speech_for_html
from streaming.markdown.table import LiveTable

# A blank line (only spaces or tabs).
_BLANK_LINE_RE = re.compile(r"^[ \t]*\n", re.MULTILINE)
# Live blocks that a blank line does not end by itself.
_BLANK_CONTINUES = frozenset({"bullet_list_open", "ordered_list_open", "blockquote_open"})


class Freezing:
    """The freezing half of ``StreamingMarkdown``, which sets all of this state
    up (see its ``__init__`` for what each attribute holds)."""

    text: str
    _live_from: int
    _checked_upto: int
    _refs: dict[str, Any]
    _blocks: list[str]
    _tail: str
    _tail_src_len: int
    _tail_exact: bool
    _repaired: str | None
    _cadence: Cadence
    _plain: PlainAppend
    _memo: InlineMemo | None
    _line: LiveLine | None
    _table: LiveTable | None
    _open_fence: re.Pattern[str] | None
    _fence: OpenFence | None
    _continuation: re.Pattern[str] | None
    _live_type: str
    _await_next: bool
    _live_block: tuple[str, str]
    _blank_continues: bool
    _brackets_frozen: bool
    _late_refs: bool

    def _freeze(self) -> tuple[list[str], list[str]]:
        """Finish every complete top-level block that can no longer change."""
        end = self.text.rfind("\n") + 1
        next_char = self.text[end : end + 1]
        if end <= self._checked_upto:
            block_type, markup = self._live_block
            if not (self._await_next and ends_after_blank(block_type, markup, next_char)):
                return [], []
            known = self._ended_after_blank(end, end, next_char, next_char)
            return known if known is not None else self._freeze_region(end, next_char)
        new_from, self._checked_upto = self._checked_upto, end
        # The first new line after a blank one may end the live list or quote.
        first = self.text[new_from : new_from + 1]
        known = self._ended_after_blank(new_from, end, first, next_char) if first != "\n" else None
        if known is not None:
            return known
        if self._open_fence is not None:
            closer = self._open_fence.search(self.text, new_from, end)
            if closer is None:
                return [], []  # still inside the fence: nothing can finish
            fence, self._open_fence, self._fence, self._live_type = self._fence, None, None, ""
            if fence is not None and (
                html := fence.final_html(self.text[self._live_from : closer.start()])
            ):
                return self._freeze_known(html, closer.end() + 1, end, next_char)
        elif (self._live_type == "table" and self._table) or (
            self._line and self._line.ended_by_blank()
        ):
            # A table, paragraph or block quote ends at its first blank line, and
            # its rows or its line are rendered already.
            blank = _BLANK_LINE_RE.search(self.text, new_from, end)
            html = self._reuse(self.text[self._live_from : blank.start()]) if blank else None
            if blank and html:
                return self._freeze_known(html, blank.start(), end, next_char)
        blank_ends = not self._blank_continues
        if not may_start_block(self.text, new_from, end, self._continuation, blank_ends=blank_ends):
            # A list or quote and a blank line: the next line may end it.
            self._await_next = self._blank_continues and ends_blank(self.text[:end])
            return [], []
        return self._freeze_region(end, next_char)

    def _ended_after_blank(
        self, block_end: int, end: int, first: str, next_char: str
    ) -> tuple[list[str], list[str]] | None:
        """Freeze the live list or quote, whose lines end with a blank one at
        ``block_end``, if a line starting with ``first`` ends it and its HTML is
        known (still the one block the last parse saw: no line since started one)."""
        block_type, markup = self._live_block
        if not (
            self._await_next
            and self._blank_continues
            and ends_after_blank(block_type, markup, first)
        ):
            return None
        html = self._reuse(self.text[self._live_from : block_end])
        if html is None:
            return None
        self._await_next = False
        return self._freeze_known(html, block_end, end, next_char)

    def _freeze_known(
        self, html: str, block_end: int, end: int, next_char: str
    ) -> tuple[list[str], list[str]]:
        """Freeze the live block ending at ``block_end`` (offset in text) whose final
        HTML is known, then what may follow it in the complete lines before ``end``."""
        spoken = self._commit([html], self.text[self._live_from : block_end])
        if end > self._live_from:
            more = self._freeze_region(end, next_char)
            return [html, *more[0]], spoken + more[1]
        self._watch_live("", [], [])
        return [html], spoken

    def _freeze_region(self, end: int, next_char: str) -> tuple[list[str], list[str]]:
        self._await_next = False
        region = self.text[self._live_from : end]
        if not region.strip():  # blank lines after a frozen block: nothing to parse
            self._watch_live(region, [], [])
            return [], []
        block_tokens = block_parse(region)
        starts = top_level_starts(block_tokens)
        done = len(starts) - 1
        if starts and last_is_finished(region, block_tokens[starts[-1]], next_char):
            done += 1
        if done < 1:
            self._watch_live(region, block_tokens, starts)
            return [], []
        # The live region restarts at the next block, or after the last one.
        line_map = block_tokens[starts[done] if done < len(starts) else starts[-1]].map
        assert line_map is not None
        boundary_line = line_map[0] if done < len(starts) else line_map[1]
        boundary = offset_of_line(region, boundary_line)
        reused = self._reuse(region[:boundary]) if done == 1 else None
        if reused is not None:
            html = [reused]
        else:
            env = parse_env(self._refs, self._memo)
            finished = split_blocks(parse_after_block(region, env))[:done]  # reuses block_tokens
            html = [render_block(block, env) for block in finished]
            for label, ref in env["references"].items():
                if label not in self._refs and ref["map"][0] < boundary_line:
                    self._refs[label] = ref
                    self._late_refs |= self._brackets_frozen
        spoken = self._commit(html, region[:boundary])
        rest = region[boundary:]
        rest_tokens = BLOCK_MD.parse(rest, {}) if rest.strip() else []
        self._watch_live(rest, rest_tokens, top_level_starts(rest_tokens))
        return html, spoken

    def _commit(self, html: list[str], source: str) -> list[str]:
        """Send ``html``, the finished blocks of ``source`` (the start of the live
        region), move the live region past them, and return their speech."""
        self._brackets_frozen |= "[" in source
        self._live_from += len(source)
        self._blocks.extend(html)
        self._tail_src_len = -1
        self._tail_exact = False
        self._repaired = None
        self._cadence.restart()
        self._plain.disarm()
        if self._line is not None:
            self._line.clear()
        if self._table is not None:
            self._table.remember("", "", {})
        return [speech_for_html(block) for block in html]

    def _reuse(self, block: str) -> str | None:
        """The final HTML of the finished live ``block`` from the live renderers, if
        they have it: the tail, a table's rows, or a splice of the block's last line."""
        from_tail = self._from_tail(block)
        if from_tail is not None:
            return from_tail
        reused = self._table.frozen(block, self._refs) if self._table is not None else None
        if reused is None and self._line is not None:
            reused = self._line.frozen(block)
        return reused

    def _from_tail(self, block: str) -> str | None:
        """``block``'s HTML if the tail showed it unrepaired, with the plain words
        typed since appended as a frame would; after a block's last line,
        whitespace changes nothing but code."""
        if not self._tail_exact or "]:" in block:  # may define a reference
            return None
        shown = self.text[self._live_from : self._live_from + self._tail_src_len]
        if shown == block:
            return self._tail
        if "<pre>" in self._tail:
            return None
        if shown.rstrip() == block.rstrip():
            return self._tail
        if not block.startswith(shown):
            return None
        appended = self._plain.append(block[len(shown) :].rstrip(), self._tail)
        return appended[0] if appended is not None else None

    def _watch_live(self, region: str, tokens: list[Token], starts: list[int]) -> None:
        """Note what can continue the live block: its closer if it is an open fence."""
        self._continuation = None
        self._live_type = ""
        self._fence = None
        self._blank_continues = False
        self._live_block = ("", "")
        if len(starts) != 1:
            return
        token = tokens[starts[0]]
        self._continuation = continuation(token)
        self._blank_continues = token.type in _BLANK_CONTINUES
        self._live_block = (token.type, token.markup)
        self._await_next = ends_blank(region) and token.type != "fence"
        if token.type == "table_open":
            self._live_type = "table"
        if token.type == "fence" and fence_is_open(region, token):
            self._open_fence = fence_closer(token)
            self._live_type = "fence"
            self._fence = OpenFence.opened_by(token, region)
