"""The incremental renderer: frozen top-level blocks plus one live tail.

How a frame is made (``feed``):

1. Freezing. Only complete lines decide structure (a partial ``#hashtag`` line
   is briefly an ATX heading). When new complete lines arrived, the live
   region's complete lines are block-parsed (no inline pass); if they hold two
   or more top-level blocks, all but the last are finished: markdown is
   line-oriented, so appending lines can change only the last block. They are
   parsed in full, rendered and sanitised once, sent once, and the live region
   moves to the start of the last block. Reference definitions found in the
   frozen part are carried to later parses. An open top-level code fence is
   only re-parsed when a line that may close it arrives.
2. The tail: the live region is repaired (``repair.repair_tail``) and rendered.
   Re-sending the whole tail every frame would cost O(n²) bytes for a long
   block, so the cadence adapts to the tail's size: the tail is re-rendered
   only while the tail bytes sent stay within ``TAIL_BYTES_BUDGET`` times the
   HTML produced so far (finished blocks + this tail). Small tails early in a
   block update every frame; a 300-line code fence updates less often as it
   grows. ``Frame.tail_changed`` says whether ``tail`` differs from the
   previous frame's.
3. ``finish`` renders the rest without repairs. If a reference definition
   arrived after a frozen block that may use it, the result is compared with
   the one-shot ``render_markdown`` and, if different, sent as one ``replace``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from markdown_it.token import Token

from streaming.markdown.render import (
    BLOCK_MD,
    MD,
    render_block,
    render_markdown,
    split_blocks,
    top_level_starts,
)
from streaming.markdown.repair import repair_tail
from streaming.markdown.speech import speech_for_block

# Tail HTML re-sent may total at most this many times the HTML produced so far.
# Every finished block is also sent once, so the wire carries at most about
# (1 + budget) x the final HTML: 2.5x, under the 3x target with room for the
# tail sent when a block freezes (which is never deferred).
TAIL_BYTES_BUDGET = 1.5
# At most one tail re-render per this many frames (~10 paints/s at 50 ms
# frames): reading speed does not need more, and each costs a full parse.
TAIL_EVERY_FRAMES = 2


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of HTML for the page.

    ``new_blocks``: finished top-level blocks, each appended once (``beforeend``).
    ``tail``: HTML replacing the live tail (always the whole current tail).
    ``replace``: only from ``finish()``: the full HTML replacing blocks and tail,
    when a late change (a reference definition) altered a frozen block.
    ``spoken``: plain text for screen readers, one string per ``new_blocks``
    entry; from ``finish()`` also one more for the final tail block (if any).
    ``tail_changed``: False when ``tail`` equals the previous frame's, so it
    need not be sent again.
    """

    new_blocks: list[str] = field(default_factory=list)
    tail: str = ""
    replace: str | None = None
    spoken: list[str] = field(default_factory=list)
    tail_changed: bool = True


def _offset_of_line(src: str, line: int) -> int:
    """Offset where 0-based ``line`` starts in ``src`` (lines end with "\\n" only)."""
    offset = 0
    for _ in range(line):
        offset = src.index("\n", offset) + 1
    return offset


# A line that may start a top-level block, or follow a one-line block (a
# heading, a fence's closer) that the next line cannot continue.
_MARKER_LINE_RE = re.compile(r" {0,3}(?:[#>*+\-=_|:`~]|\d{1,9}[.)])")


def _may_start_block(text: str, start: int, end: int, continuation: re.Pattern[str] | None) -> bool:
    """Whether a complete line in ``text[start:end]`` may begin a new top-level block.

    A cheap filter before the block parse, which costs O(block) per line on a
    long list or table. A false positive costs one parse; a false negative
    only delays freezing (the tail renders the extra block meanwhile) until a
    later line passes, so the filter may be blunt: indented lines, paragraph
    continuations and lines that ``continuation`` matches (the live block's
    own list marker, ``>``, table rows) never pass.
    """
    previous_start = text.rfind("\n", 0, max(start - 1, 0)) + 1 if start else start
    previous = text[previous_start:start] if start else ""
    for line in text[start:end].split("\n")[:-1]:
        after_blank = not previous.strip()
        after_marker = _MARKER_LINE_RE.match(previous) is not None
        previous = line
        if not line.strip() or line[0] in " \t":
            continue
        if continuation is not None and continuation.match(line):
            continue
        if after_blank or after_marker or _MARKER_LINE_RE.match(line) is not None:
            return True
    return False


def _continuation(token: Token) -> re.Pattern[str] | None:
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


def _fence_closer(token: Token) -> re.Pattern[str]:
    char = re.escape(token.markup[0])
    return re.compile(rf"^ {{0,3}}{char}{{{len(token.markup)},}}[ \t]*$", re.MULTILINE)


class StreamingMarkdown:
    """Renders one streamed answer: ``feed`` per frame, then ``finish`` once.

    Invariant: after ``finish()``, ``"".join(all new_blocks) + final tail`` equals
    ``render_markdown(text)``, or the final frame carries ``replace`` with it
    (counted in ``full_replacements``). ``html`` is the snapshot for a late
    subscriber: all blocks sent plus the current tail.
    """

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
        self._block_bytes = 0
        self._frames_since_tail = 0
        self._tail_bytes_sent = 0
        self._open_fence: re.Pattern[str] | None = None  # closer of an open top-level fence
        self._continuation: re.Pattern[str] | None = None  # lines continuing the live block
        self._live_type = ""  # "fence" (open) or "table" when the live region is one such block
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
        if not new_blocks and not self._tail_due():
            return Frame(tail=self._tail, tail_changed=False)
        previous = self._tail
        self._render_tail()
        changed = self._tail != previous
        if changed:
            self._tail_bytes_sent += len(self._tail.encode())
        return Frame(new_blocks, self._tail, None, spoken, changed)

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
        """Finish every complete top-level block but the last; return their HTML and speech."""
        end = self.text.rfind("\n") + 1
        if end <= self._checked_upto:
            return [], []
        new_from, self._checked_upto = self._checked_upto, end
        if self._open_fence is not None:
            if self._open_fence.search(self.text, new_from, end) is None:
                return [], []  # still inside the fence: nothing can finish
            self._open_fence = None
            self._live_type = ""
        if not _may_start_block(self.text, new_from, end, self._continuation):
            return [], []
        region = self.text[self._live_from : end]
        block_tokens = BLOCK_MD.parse(region, {})
        starts = top_level_starts(block_tokens)
        if len(starts) < 2:
            self._watch_live(region, block_tokens, starts)
            return [], []
        env: dict[str, Any] = {"references": dict(self._refs)}
        blocks = split_blocks(MD.parse(region, env))
        finished, last = blocks[:-1], blocks[-1]
        html = [render_block(block, env) for block in finished]
        spoken = [speech_for_block(block) for block in finished]
        assert last[0].map is not None
        boundary_line = last[0].map[0]
        boundary = _offset_of_line(region, boundary_line)
        for label, ref in env["references"].items():
            if label not in self._refs and ref["map"][0] < boundary_line:
                self._refs[label] = ref
                self._late_refs |= self._brackets_frozen
        self._brackets_frozen |= "[" in region[:boundary]
        self._live_from += boundary
        self._blocks.extend(html)
        self._block_bytes += sum(len(h.encode()) for h in html)
        self._tail_src_len = -1
        rest = region[boundary:]
        rest_tokens = BLOCK_MD.parse(rest, {})
        self._watch_live(rest, rest_tokens, top_level_starts(rest_tokens))
        return html, spoken

    def _watch_live(self, region: str, tokens: list[Token], starts: list[int]) -> None:
        """Note what can continue the live block: its closer if it is an open fence."""
        self._continuation = None
        self._live_type = ""
        if len(starts) != 1:
            return
        token = tokens[starts[0]]
        self._continuation = _continuation(token)
        if token.type == "table_open":
            self._live_type = "table"
        if token.type != "fence":
            return
        assert token.map is not None
        closer = _fence_closer(token)
        if closer.search(region, _offset_of_line(region, token.map[0] + 1)) is None:
            self._open_fence = closer
            self._live_type = "fence"

    def _tail_due(self) -> bool:
        """Whether to re-render the tail now (see the module docstring, step 2)."""
        live_len = len(self.text) - self._live_from
        if live_len == self._tail_src_len:
            return False
        if self._tail_src_len <= 0 or not self._tail:
            return True  # nothing shown yet: show it now, it is small
        if self._frames_since_tail < TAIL_EVERY_FRAMES:
            return False
        tail_bytes = len(self._tail.encode())
        estimate = tail_bytes * live_len / self._tail_src_len
        return self._tail_bytes_sent + estimate <= TAIL_BYTES_BUDGET * (
            self._block_bytes + estimate
        )

    def _render_tail(self) -> None:
        live = self.text[self._live_from :]
        env: dict[str, Any] = {"references": dict(self._refs)}
        tokens = MD.parse(repair_tail(live, live_type=self._live_type), env)
        self._tail = "".join(render_block(block, env) for block in split_blocks(tokens))
        self._tail_src_len = len(live)
        self._frames_since_tail = 0
