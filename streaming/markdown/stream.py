"""The incremental renderer: frozen top-level blocks plus one live tail.

How a frame is made (``feed``):

1. Freezing (``freeze.Freezing``): when a line completes, the top-level
   blocks that nothing can change any more are finished, rendered (or taken
   from what the live renderers already hold, exactly) and sanitised once,
   sent once, and the live region moves past them.
2. The tail, when ``cadence.Cadence`` says a render is due: plain words typed
   mid-line are appended without a render (``append.PlainAppend``); the line
   being typed is re-rendered alone and spliced in (``line.LiveLine``); a live
   list renders its last item (``tail.LiveList``), a live table its new rows
   (``table.LiveTable``), an open fence its completed lines
   (``fence.OpenFence``); anything else is repaired (``repair.repair_tail``)
   and rendered in full. All inline parses go through one
   ``inline.InlineMemo``. ``Frame.tail_ops`` carries the append-only ops
   (``ops.diff_tail``, or known directly for a fence or a table) that turn the previous
   frame's tail into this one, so the wire carries what was added, not the
   whole tail again; None when something shown changed or blocks were frozen
   in this frame.
3. ``finish`` renders the rest without repairs. If a reference definition
   arrived after a frozen block that may use it, the result is compared with
   the one-shot ``render_markdown`` and, if different, sent as one ``replace``.
"""

from __future__ import annotations

import re
from typing import Any

from streaming.markdown.append import PlainAppend
from streaming.markdown.cadence import RENDER_OVERHEAD, Cadence
from streaming.markdown.fence import CODE_DEPTH, OpenFence
from streaming.markdown.freeze import Freezing
from streaming.markdown.inline import InlineMemo, parse_env
from streaming.markdown.line import LiveLine
from streaming.markdown.ops import Frame, TailOp, diff_tail
from streaming.markdown.render import (
    MD,
    render_block,
    render_markdown,
    split_blocks,
)
from streaming.markdown.speech import speech_for_html
from streaming.markdown.table import LiveTable
from streaming.markdown.tail import LiveList, render_source, render_tail


class StreamingMarkdown(Freezing):
    """Renders one streamed answer: ``feed`` per frame, then ``finish`` once.

    Invariant: after ``finish()``, ``"".join(all new_blocks) + final tail`` equals
    ``render_markdown(text)``, or the final frame carries ``replace`` with it
    (counted in ``full_replacements``). ``html`` is the snapshot for a late
    subscriber: all blocks sent plus the current tail.
    """

    # Tests turn the plain-text fast path off to compare it with full renders.
    fast_appends = True
    fast_lists = True  # likewise the live list's last-item render (``tail.LiveList``)
    fast_inline = True  # and inline parses reused across frames (``inline.InlineMemo``)
    fast_lines = True  # and the last line's render spliced into the tail (``line.LiveLine``)
    fast_tables = True  # and a live table's new rows rendered alone (``table.LiveTable``)

    def __init__(self) -> None:
        self.text = ""
        self.full_replacements = 0
        self._pending_cr = False  # a "\r" whose "\n" may come in the next delta
        self._live_from = 0  # offset in text where the live (unfinished) region starts
        self._checked_upto = 0  # complete lines before this offset were examined
        self._refs: dict[str, Any] = {}  # reference definitions in the frozen region
        self._blocks: list[str] = []
        self._tail = ""
        self._tail_src_len = -1  # live source length at the last tail render; -1: none
        self._cadence = Cadence()
        self._plain = PlainAppend()  # the fast path for plain text typed mid-line
        self._unchanged = Frame(tail_changed=False, tail_ops=[])  # reused while nothing changes
        self._memo = InlineMemo() if self.fast_inline else None
        self._lists: LiveList | None = LiveList(self._memo) if self.fast_lists else None
        self._line: LiveLine | None = LiveLine(self._memo) if self.fast_lines else None
        self._table: LiveTable | None = LiveTable(self._memo) if self.fast_tables else None
        self._repaired: str | None = None  # the repaired live source of the current tail
        # The tail is the render of the live source it shows, unrepaired (then a
        # block that ends there has the tail as its final HTML: ``_reuse``).
        self._tail_exact = False
        self._open_fence: re.Pattern[str] | None = None  # closer of an open top-level fence
        self._fence: OpenFence | None = None  # renders the open top-level fence's lines
        self._fence_shown: OpenFence | None = None  # the fence whose HTML is the tail
        self._ops: list[TailOp] | None = None  # the last render's ops, when known
        self._continuation: re.Pattern[str] | None = None  # lines continuing the live block
        self._live_type = ""  # "fence" (open) or "table" when the live region is one such block
        self._await_next = False  # live block + blank line: the next line may end it
        self._live_block = ("", "")  # type and marker of the one live block, if one
        self._blank_continues = False  # the live block is a list or quote: a blank line is no end
        self._brackets_frozen = False  # a frozen block has "[": may be a reference use
        self._late_refs = False
        self._replaced: str | None = None
        self._finished = False

    @property
    def html(self) -> str:
        """All blocks sent plus the current tail (after a replace: the replacement)."""
        if self._replaced is not None:
            return self._replaced
        return "".join(self._blocks) + self._tail

    @property
    def block_count(self) -> int:
        """Number of finished blocks sent so far."""
        return len(self._blocks)

    def feed(self, delta: str) -> Frame:
        """Add ``delta`` (the text since the last call) and return the frame to send."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._cadence.tick(len(delta))
        if self._pending_cr or "\r" in delta:
            delta = self._normalise(delta)
        # Dropping the attribute's reference first leaves the string one: CPython
        # then grows it in place, where ``self.text += delta`` copies it all.
        text, self.text = self.text, ""
        text += delta
        self.text = text
        # Only a new complete line can finish a block, or the partial line's
        # first character after a blank line (``_await_next``).
        new_blocks, spoken = self._freeze() if "\n" in delta or self._await_next else ([], [])
        if not new_blocks and self._plain.armed:
            delta = self.text[self._live_from + self._tail_src_len :]
            appended = self._plain.append(delta, self._tail)
            if appended is not None:
                self._tail_src_len += len(delta)
                self._repaired = None  # the tail no longer matches it
                changed = appended[0] != self._tail
                self._tail = appended[0]
                return Frame(tail=self._tail, tail_changed=changed, tail_ops=appended[1])
        if not new_blocks and not self._tail_due():
            if self._unchanged.tail is not self._tail:
                self._unchanged = Frame(tail=self._tail, tail_changed=False, tail_ops=[])
            return self._unchanged
        previous = self._tail
        self._ops = None
        self._render_tail()
        changed = self._tail != previous
        ops = (
            None
            if new_blocks
            else self._ops
            if self._ops is not None
            else diff_tail(previous, self._tail)
        )
        return Frame(new_blocks, self._tail, None, spoken, changed, ops)

    def finish(self) -> Frame:
        """Render what is left, without repairs, and return the last frame."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        self._finished = True
        if self._pending_cr:
            self.text += "\n"
            self._pending_cr = False
        env = parse_env(self._refs, self._memo)
        blocks = split_blocks(MD.parse(self.text[self._live_from :], env))
        html = [render_block(block, env) for block in blocks]
        spoken = [speech_for_html(block) for block in html]
        new_blocks, tail = (html[:-1], html[-1]) if html else ([], "")
        late = self._late_refs or (
            self._brackets_frozen and any(label not in self._refs for label in env["references"])
        )
        if late:
            full = render_markdown(self.text)
            if full != "".join(self._blocks) + "".join(new_blocks) + tail:
                self.full_replacements += 1
                self._replaced = full
                return Frame([], "", full, spoken)
        self._blocks.extend(new_blocks)
        self._tail = tail
        return Frame(new_blocks, tail, None, spoken)

    def _normalise(self, delta: str) -> str:
        # markdown-it treats "\r\n" and "\r" as line ends; a "\r\n" split across
        # deltas must not count as two, so a trailing "\r" waits for the next delta.
        if self._pending_cr:
            delta = "\r" + delta
            self._pending_cr = False
        if delta.endswith("\r"):
            delta = delta[:-1]
            self._pending_cr = True
        return delta.replace("\r\n", "\n").replace("\r", "\n")

    def _tail_due(self) -> bool:
        """Whether to re-render the tail now (``cadence.Cadence``); an open fence
        shows each line as soon as it is complete."""
        live_len = len(self.text) - self._live_from
        if live_len == self._tail_src_len:
            return False
        if self._fence is not None:
            return "\n" in self.text[self._live_from + max(self._tail_src_len, 0) :]
        fresh = self._tail_src_len <= 0 or not self._tail
        return self._cadence.due(self.text, self._live_from, fresh=fresh, cost=self._render_cost)

    def _render_cost(self) -> int:
        """What the next tail render costs, in characters (``cadence.RENDER_BUDGET``)."""
        start = self._line.splice_from(self.text, self._live_from) if self._line else None
        return RENDER_OVERHEAD + len(self.text) - (start if start is not None else self._live_from)

    def _render_tail(self) -> None:
        live = self.text[self._live_from :]
        self._tail_src_len = len(live)
        self._plain.disarm()
        self._tail_exact = False
        if self._fence is not None:
            self._cadence.frames = 0
            self._tail, added = self._fence.render(live)
            if self._fence_shown is self._fence:  # the ops are known: append to <code>
                self._ops = [(CODE_DEPTH, added)] if added else []
            self._fence_shown = self._fence
            return
        self._fence_shown = None
        self._cadence.rendered(live, self._render_cost())
        spliced = self._line.render(live, self._refs) if self._line is not None else None
        html: str | None
        if spliced is not None:
            repaired, html = spliced
        else:
            repaired, html = render_tail(live, self._live_type, self._refs, self._lists)
        # Unchanged after repair (a held-back table row or list marker): the
        # same HTML, and the next frame may render at once. A live list may
        # come back rendered already (``tail.LiveList``), else render here.
        # Plain appends keep this: they arm only when the repair added no closers.
        self._tail_exact = repaired == live
        if repaired != self._repaired or not self._tail:
            self._cadence.frames = 0
            self._repaired = repaired
            self._tail = html if html is not None else self._render_live(repaired)
            if spliced is None and self._line is not None:
                self._line.reset(live, repaired, self._tail, self._refs)
        if self.fast_appends:
            self._plain.arm(live, repaired, self._tail)

    def _render_live(self, repaired: str) -> str:
        """The HTML of the repaired live source: a live table's new rows only, if it can."""
        if self._table is None or self._live_type != "table":
            return render_source(repaired, self._refs, self._memo)[1]
        html = self._table.render(repaired, self._refs)
        if html is None:
            html = render_source(repaired, self._refs, self._memo)[1]
            self._table.remember(repaired, html, self._refs)
        else:  # its new rows, if it grew the tail shown (else the tails are diffed)
            self._ops = self._table.ops_from(self._tail)
        return html
