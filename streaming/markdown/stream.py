"""The incremental renderer: frozen top-level blocks plus one live tail.

How a frame is made (``feed``):

1. Freezing. Only complete lines decide structure (a partial ``#hashtag`` line
   is briefly an ATX heading). When new complete lines arrived, the live
   region's complete lines are block-parsed (no inline pass); every top-level
   block but the last is finished (markdown is line-oriented: appending lines
   can change only the last block), and so is the last one when nothing can
   change it any more (``blocks.last_is_finished``: a heading, a closed
   fence, a paragraph or table followed by a blank line, any block followed
   by a blank line and a letter in column 0). Finished blocks are parsed in
   full, rendered and sanitised once, sent once, and the live region moves
   past them. Reference definitions found in the frozen part are carried to
   later parses. An open top-level fence is only re-parsed when a line that
   may close it arrives.
2. The tail: the live region is repaired (``repair.repair_tail``) and rendered
   every ``TAIL_EVERY_FRAMES`` frames while it grows (a live list: only its
   last item, ``tail.LiveList``). An open top-level fence
   is rendered by ``fence.OpenFence`` instead: completed lines only, each
   highlighted once. Plain words typed mid-line between renders are appended
   without a render (``append.PlainAppend``). ``Frame.tail_ops`` carries the append-only ops
   (``ops.diff_tail``) that turn the previous frame's tail into this one, so
   the wire carries what was added, not the whole tail again; None when
   something shown changed or blocks were frozen in this frame.
3. ``finish`` renders the rest without repairs. If a reference definition
   arrived after a frozen block that may use it, the result is compared with
   the one-shot ``render_markdown`` and, if different, sent as one ``replace``.
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it.token import Token

from streaming.markdown.append import PlainAppend
from streaming.markdown.blocks import (
    continuation,
    ends_blank,
    fence_closer,
    fence_is_open,
    last_is_finished,
    may_start_block,
    offset_of_line,
)
from streaming.markdown.fence import OpenFence
from streaming.markdown.ops import Frame, diff_tail
from streaming.markdown.render import (
    BLOCK_MD,
    MD,
    render_block,
    render_markdown,
    split_blocks,
    top_level_starts,
)
from streaming.markdown.speech import speech_for_block
from streaming.markdown.tail import LiveList, render_source, render_tail

# Full tail re-renders (repair + parse + render of the live block) at most
# once per this many frames: ~10 a second at 50 ms frames. Plain text typed
# mid-line and an open fence's new lines are shown every frame, cheaply.
TAIL_EVERY_FRAMES = 2


class StreamingMarkdown:
    """Renders one streamed answer: ``feed`` per frame, then ``finish`` once.

    Invariant: after ``finish()``, ``"".join(all new_blocks) + final tail`` equals
    ``render_markdown(text)``, or the final frame carries ``replace`` with it
    (counted in ``full_replacements``). ``html`` is the snapshot for a late
    subscriber: all blocks sent plus the current tail.
    """

    # Tests turn the plain-text fast path off to compare it with full renders.
    fast_appends = True
    fast_lists = True  # likewise the live list's last-item render (``tail.LiveList``)

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
        self._frames_since_tail = 0
        self._plain = PlainAppend()  # the fast path for plain text typed mid-line
        self._lists: LiveList | None = LiveList() if self.fast_lists else None
        self._repaired: str | None = None  # the repaired live source of the current tail
        self._open_fence: re.Pattern[str] | None = None  # closer of an open top-level fence
        self._fence: OpenFence | None = None  # renders the open top-level fence's lines
        self._continuation: re.Pattern[str] | None = None  # lines continuing the live block
        self._live_type = ""  # "fence" (open) or "table" when the live region is one such block
        self._await_letter = False  # live block + blank line: a column-0 letter finishes it
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
        self.text += self._normalise(delta)
        self._frames_since_tail += 1
        new_blocks, spoken = self._freeze()
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
            return Frame(tail=self._tail, tail_changed=False, tail_ops=[])
        previous = self._tail
        self._render_tail()
        changed = self._tail != previous
        ops = None if new_blocks else diff_tail(previous, self._tail)
        return Frame(new_blocks, self._tail, None, spoken, changed, ops)

    def finish(self) -> Frame:
        """Render what is left, without repairs, and return the last frame."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        self._finished = True
        if self._pending_cr:
            self.text += "\n"
            self._pending_cr = False
        env: dict[str, Any] = {"references": dict(self._refs)}
        blocks = split_blocks(MD.parse(self.text[self._live_from :], env))
        html = [render_block(block, env) for block in blocks]
        spoken = [speech_for_block(block) for block in blocks]
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

    def _freeze(self) -> tuple[list[str], list[str]]:
        """Finish every complete top-level block that can no longer change."""
        end = self.text.rfind("\n") + 1
        next_char = self.text[end : end + 1]
        if end <= self._checked_upto:
            if self._await_letter and next_char.isalpha():
                return self._freeze_region(end, next_char)
            return [], []
        new_from, self._checked_upto = self._checked_upto, end
        if self._open_fence is not None:
            if self._open_fence.search(self.text, new_from, end) is None:
                return [], []  # still inside the fence: nothing can finish
            self._open_fence = None
            self._fence = None
            self._live_type = ""
        if not may_start_block(self.text, new_from, end, self._continuation):
            return [], []
        return self._freeze_region(end, next_char)

    def _freeze_region(self, end: int, next_char: str) -> tuple[list[str], list[str]]:
        self._await_letter = False
        region = self.text[self._live_from : end]
        block_tokens = BLOCK_MD.parse(region, {})
        starts = top_level_starts(block_tokens)
        done = len(starts) - 1
        if starts and last_is_finished(region, block_tokens[starts[-1]], next_char):
            done += 1
        if done < 1:
            self._watch_live(region, block_tokens, starts)
            return [], []
        env: dict[str, Any] = {"references": dict(self._refs)}
        blocks = split_blocks(MD.parse(region, env))
        finished = blocks[:done]
        html = [render_block(block, env) for block in finished]
        spoken = [speech_for_block(block) for block in finished]
        # The live region restarts at the next block, or after the last one.
        line_map = (blocks[done] if done < len(blocks) else blocks[-1])[0].map
        assert line_map is not None
        boundary_line = line_map[0] if done < len(blocks) else line_map[1]
        boundary = offset_of_line(region, boundary_line)
        for label, ref in env["references"].items():
            if label not in self._refs and ref["map"][0] < boundary_line:
                self._refs[label] = ref
                self._late_refs |= self._brackets_frozen
        self._brackets_frozen |= "[" in region[:boundary]
        self._live_from += boundary
        self._blocks.extend(html)
        self._tail_src_len = -1
        self._repaired = None
        self._plain.disarm()
        rest = region[boundary:]
        rest_tokens = BLOCK_MD.parse(rest, {}) if rest.strip() else []
        self._watch_live(rest, rest_tokens, top_level_starts(rest_tokens))
        return html, spoken

    def _watch_live(self, region: str, tokens: list[Token], starts: list[int]) -> None:
        """Note what can continue the live block: its closer if it is an open fence."""
        self._continuation = None
        self._live_type = ""
        self._fence = None
        if len(starts) != 1:
            return
        token = tokens[starts[0]]
        self._continuation = continuation(token)
        self._await_letter = ends_blank(region) and token.type != "fence"
        if token.type == "table_open":
            self._live_type = "table"
        if token.type != "fence" or not fence_is_open(region, token):
            return
        assert token.map is not None
        opener = offset_of_line(region, token.map[0])
        line = region[opener : region.index("\n", opener)]
        self._open_fence = fence_closer(token)
        self._live_type = "fence"
        self._fence = OpenFence(
            info=token.info,
            indent=len(line) - len(line.lstrip(" ")),
            content_start=opener + len(line) + 1,
        )

    def _tail_due(self) -> bool:
        """Whether to re-render the tail now: it grew, and not too soon after the last.

        An open fence renders only its new lines, and an empty tail is cheap:
        those are rendered every frame.
        """
        live_len = len(self.text) - self._live_from
        if live_len == self._tail_src_len:
            return False
        if self._tail_src_len <= 0 or not self._tail or self._fence is not None:
            return True
        return self._frames_since_tail >= TAIL_EVERY_FRAMES

    def _render_tail(self) -> None:
        live = self.text[self._live_from :]
        self._tail_src_len = len(live)
        self._plain.disarm()
        if self._fence is not None:
            self._frames_since_tail = 0
            self._tail = self._fence.render(live)
            return
        repaired, html = render_tail(live, self._live_type, self._refs, self._lists)
        # Unchanged after repair (a held-back table row or list marker): the
        # same HTML, and the next frame may render at once. A live list may
        # come back rendered already (``tail.LiveList``), else render here.
        if repaired != self._repaired or not self._tail:
            self._frames_since_tail = 0
            self._repaired = repaired
            self._tail = html if html is not None else render_source(repaired, self._refs)[1]
        if self.fast_appends:
            self._plain.arm(live, repaired, self._tail)
