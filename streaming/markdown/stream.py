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
   every ``TAIL_EVERY_FRAMES`` frames while it grows. An open top-level fence
   is rendered by ``fence.OpenFence`` instead: completed lines only, each
   highlighted once. ``Frame.tail_ops`` carries the append-only ops
   (``ops.diff_tail``) that turn the previous frame's tail into this one, so
   the wire carries what was added, not the whole tail again; None when
   something shown changed or blocks were frozen in this frame.
3. ``finish`` renders the rest without repairs. If a reference definition
   arrived after a frozen block that may use it, the result is compared with
   the one-shot ``render_markdown`` and, if different, sent as one ``replace``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from markdown_it.token import Token

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
from streaming.markdown.ops import TailOp, diff_tail, trailing_run
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

# Re-render the growing tail at most once per this many frames: 2 at 50 ms
# frames is ~10 visible updates a second, smooth for reading; each costs a
# repair + parse + render of the live block. Plain text appended mid-line is
# shown every frame without a render (``_append_plain``).
TAIL_EVERY_FRAMES = 2

# Plain text appended mid-line to a tail that needed no repair is shown
# without a re-render (see ``_append_plain``): these characters cannot open,
# close or complete any markdown construct, and never need escaping.
_PLAIN_RE = re.compile(r"[^\W_]|[ ,.;:?'-]")
_PLAIN_DELTA_RE = re.compile(r"(?:[^\W_]|[ ,.;:?'-])+")
# What the repair may have added at the end for the fast path still to apply:
# closers of an open code span or emphasis, which plain text goes inside.
_CLOSERS_RE = re.compile(r"[*_~`]*")


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of HTML for the page.

    ``new_blocks``: finished top-level blocks, each appended once (``beforeend``).
    ``tail``: the whole current live tail HTML (replaces the page's tail when
    ``tail_ops`` is None; kept for snapshots either way).
    ``replace``: only from ``finish()``: the full HTML replacing blocks and tail,
    when a late change (a reference definition) altered a frozen block.
    ``spoken``: plain text for screen readers, one string per ``new_blocks``
    entry; from ``finish()`` also one more for the final tail block (if any).
    ``tail_changed``: False when ``tail`` equals the previous frame's, so it
    need not be sent again.
    ``tail_ops``: when not None, append-only ops (``ops.TailOp``) that turn the
    previous frame's ``tail`` into this ``tail`` (``[]``: unchanged). None when
    the tail must be replaced: something shown changed, or this frame has
    ``new_blocks`` (the page's tail then restarts after them), or ``finish()``.
    """

    new_blocks: list[str] = field(default_factory=list)
    tail: str = ""
    replace: str | None = None
    spoken: list[str] = field(default_factory=list)
    tail_changed: bool = True
    tail_ops: list[TailOp] | None = None


class StreamingMarkdown:
    """Renders one streamed answer: ``feed`` per frame, then ``finish`` once.

    Invariant: after ``finish()``, ``"".join(all new_blocks) + final tail`` equals
    ``render_markdown(text)``, or the final frame carries ``replace`` with it
    (counted in ``full_replacements``). ``html`` is the snapshot for a late
    subscriber: all blocks sent plus the current tail.
    """

    # Tests turn the plain-text fast path off to compare it with full renders.
    fast_appends = True

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
        self._append_at: int | None = None  # where plain text joins the tail; None: no fast path
        self._append_depth = 0  # the TailOp depth of that position
        self._append_pending = ""  # trailing spaces of the source, not shown yet
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
        if not new_blocks and self._append_at is not None:
            appended = self._append_plain()
            if appended is not None:
                return appended
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
        self._append_at = None
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
        """Whether to re-render the tail now: it grew, and not too soon after the last."""
        live_len = len(self.text) - self._live_from
        if live_len == self._tail_src_len:
            return False
        return self._tail_src_len <= 0 or self._frames_since_tail >= TAIL_EVERY_FRAMES

    def _render_tail(self) -> None:
        live = self.text[self._live_from :]
        self._tail_src_len = len(live)
        self._frames_since_tail = 0
        self._append_at = None
        if self._fence is not None:
            self._tail = self._fence.render(live)
            return
        env: dict[str, Any] = {"references": dict(self._refs)}
        repaired = repair_tail(live, live_type=self._live_type)
        tokens = MD.parse(repaired, env)
        self._tail = "".join(render_block(block, env) for block in split_blocks(tokens))
        shown = live.rstrip(" ")
        line = shown[shown.rfind("\n") + 1 :]
        spaces = live[len(shown) :]
        closers = repaired[len(shown) : len(repaired) - len(spaces)]
        if not (
            self.fast_appends
            and repaired.startswith(shown)
            and repaired.endswith(spaces)
            and _CLOSERS_RE.fullmatch(closers)
            and _PLAIN_RE.fullmatch(shown[-1:])
            and any(char.isalpha() for char in line)
        ):
            return
        run = trailing_run(self._tail)
        if run and self._tail.endswith(shown[-1], 0, run[0]):
            self._append_at, self._append_depth = run[0], len(run)
            self._append_pending = spaces

    def _append_plain(self) -> Frame | None:
        """The frame for plain text appended mid-line since the last render, or None.

        Only after a render whose source needed no repair but closers at the
        end (of an open code span or emphasis) and ends, mid-line after a
        letter, with plain text that shows as the last text before the tail's
        innermost closing tag. Appending more plain text (no newline,
        no markup character) there is exactly what a re-render would produce:
        it cannot start or end a block (the line already has a letter, so its
        start is decided) nor open, close or complete inline markup. Trailing
        spaces are held back, as rendering strips them.
        """
        assert self._append_at is not None
        delta = self.text[self._live_from + self._tail_src_len :]
        if not _PLAIN_DELTA_RE.fullmatch(delta):
            return None
        self._tail_src_len += len(delta)
        shown = delta.rstrip(" ")
        if not shown:
            self._append_pending += delta
            return Frame(tail=self._tail, tail_changed=False, tail_ops=[])
        html = self._append_pending + shown
        self._append_pending = delta[len(shown) :]
        at = self._append_at
        self._tail = self._tail[:at] + html + self._tail[at:]
        self._append_at = at + len(html)
        return Frame(tail=self._tail, tail_ops=[(self._append_depth, html)])
