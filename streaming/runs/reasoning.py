"""A run's reasoning: the model's thinking, streamed apart from the answer.

The run hands every ``ReasoningDelta`` to its ``ReasoningTrack``, which
frames it exactly as the answer is framed (the run's frame pacing decides
when), with a renderer of its own so its blocks never mix with the answer's:

- ``status {state: "thinking", since}`` once, when the first thought arrives
  (``since``: wall-clock seconds, so a page rendered later can show how long
  the model has been thinking);
- ``reasoning_delta {text}``, ``reasoning_block {html}``, ``reasoning_tail
  {html}`` per frame, like ``delta``/``block``/``tail``;
- ``reasoning_done {duration_ms}`` when the thinking is over: the answer's
  first words arrive, the model calls a tool, or, with neither, the run ends
  (Stop, failure, the model only thought). A model that thinks again in a
  later tool round streams into the same disclosure, and that period's end
  sends ``reasoning_done {duration_ms, again: true}`` with the periods' sum
  (tool time is not thinking time): the summary is updated, nothing is said;
- at the end, the last blocks and tail, rendered without repairs.

The events share the log's offsets with the answer's, so resume and
snapshot rules are the same (``streaming/snapshot.py`` folds them apart).

A Continue starts from the stored thinking (``resume``): it is sent again
as one frame ending in ``reasoning_done {again: true}`` (shown, not said),
thinking in the continuation is appended to it and its periods add to the
stored duration. ``part_text`` and ``part_ms`` are this run's own share,
which the metrics sum with the stored ones (``RunMetrics.then``).
A reasoning tail is sent whole each frame (no ops): reasoning is shown
collapsed, so the page does not paint it as it grows.
"""

from __future__ import annotations

import time

from streaming.events import THINKING, Emit, EventType, ReasoningDoneData
from streaming.markdown import StreamingMarkdown


class ReasoningTrack:
    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._markdown = StreamingMarkdown()
        self.pending = ""  # received, not yet framed
        self._last_tail: str | None = None
        self.first_at: float | None = None  # first thought received (monotonic)
        self.first_frame_at: float | None = None  # first thought handed to subscribers
        self._period_at: float | None = None  # this thinking period's first thought
        self.ended_at: float | None = None  # this period is over (answer, tool call, end)
        self._spent = 0.0  # seconds of the periods before this one
        self._periods = 0
        self._resumed_chars = 0  # stored thinking a Continue started from
        self._resumed_s = 0.0
        self.html = ""  # set by finish(): the whole reasoning's HTML

    @property
    def started(self) -> bool:
        return self.first_at is not None

    @property
    def thinking(self) -> bool:
        """Thoughts arrived and no answer yet: the page says "Thinking…"."""
        return self.first_at is not None and self.ended_at is None

    @property
    def text(self) -> str:
        return self._markdown.text

    @property
    def part_text(self) -> str:
        """This run's thinking, without the stored thinking a Continue resumed."""
        return self._markdown.text[self._resumed_chars :].lstrip("\n")

    @property
    def part_ms(self) -> float | None:
        """This run's thinking time (None: it did not think)."""
        total = self.duration_ms
        if total is None or self.first_at is None:
            return None
        return round(total - self._resumed_s * 1000, 1)

    @property
    def duration_ms(self) -> float | None:
        """Time spent thinking, every period's (None until the first is over)."""
        if self._period_at is None or self.ended_at is None:
            return round(self._resumed_s * 1000, 1) if self._resumed_chars else None
        return round((self._spent + self.ended_at - self._period_at) * 1000, 1)

    async def resume(self, text: str, duration_ms: float | None) -> None:
        """A Continue's stored thinking, as the track's first frame: neither said
        nor counted in this part's metrics."""
        if not text:
            return
        frame = self._markdown.feed(text)
        await self._emit(EventType.REASONING_DELTA, {"text": self._markdown.text})
        for html in frame.new_blocks:
            await self._emit(EventType.REASONING_BLOCK, {"html": html})
        self._last_tail = frame.tail
        await self._emit(EventType.REASONING_TAIL, {"html": frame.tail})
        self._resumed_chars = len(self._markdown.text)
        self._resumed_s = self._spent = (duration_ms or 0) / 1000
        self._periods = 1  # the next period's end updates the summary, unsaid
        done: ReasoningDoneData = {"duration_ms": duration_ms, "again": True}
        await self._emit(EventType.REASONING_DONE, done)

    async def add(self, text: str) -> None:
        """A thought received; framed by ``frame()`` when the run's pacing says."""
        if not text:
            return
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
            await self._emit(EventType.STATUS, {"state": THINKING, "since": time.time()})
            if self._resumed_chars and not self._markdown.text.endswith("\n"):
                text = "\n\n" + text  # the continuation's thinking: a paragraph of its own
        if self._period_at is None or self.ended_at is not None:
            # A period begins: the first, or a later tool round thinking again.
            if self._period_at is not None and self.ended_at is not None:
                self._spent += self.ended_at - self._period_at
            self._period_at, self.ended_at = now, None
        self.pending += text

    async def frame(self) -> None:
        if not self.pending:
            return
        delta, self.pending = self.pending, ""
        start = len(self._markdown.text)
        frame = self._markdown.feed(delta)
        await self._emit(EventType.REASONING_DELTA, {"text": self._markdown.text[start:]})
        if self.first_frame_at is None:
            self.first_frame_at = time.monotonic()
        for html in frame.new_blocks:
            await self._emit(EventType.REASONING_BLOCK, {"html": html})
        if frame.new_blocks or frame.tail != self._last_tail:
            self._last_tail = frame.tail
            await self._emit(EventType.REASONING_TAIL, {"html": frame.tail})

    async def end(self) -> None:
        """This thinking period is over (the answer starts, a tool is called,
        or the run ends): frame what is left and say how long the thinking took."""
        if not self.thinking:
            return
        self.ended_at = time.monotonic()
        self._periods += 1
        await self.frame()
        if self._periods == 1:
            await self._emit(EventType.REASONING_DONE, {"duration_ms": self.duration_ms})
        else:
            done: ReasoningDoneData = {"duration_ms": self.duration_ms, "again": True}
            await self._emit(EventType.REASONING_DONE, done)

    async def finish(self) -> None:
        """The run ends: the rest rendered, without repairs (``html`` is then whole)."""
        if self.first_at is None and not self._resumed_chars:
            return
        await self.frame()
        final = self._markdown.finish()
        if final.replace is not None:
            await self._emit(EventType.REASONING_BLOCK, {"html": final.replace, "replace": True})
        else:
            for html in final.new_blocks:
                await self._emit(EventType.REASONING_BLOCK, {"html": html})
            if final.tail != self._last_tail:
                await self._emit(EventType.REASONING_TAIL, {"html": final.tail})
        self.html = self._markdown.html


def seconds_text(duration_ms: float | None) -> int:
    """Whole seconds for "Thought for N s" (at least 1: "0 s" reads as nothing)."""
    return max(1, round((duration_ms or 0) / 1000))
