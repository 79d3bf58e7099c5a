"""A run's answer as frames: deltas, blocks, the tail and what is read out.

The run (``streaming/runs/run.py``) decides *when* a frame is due; its
``AnswerFrames`` decides *what* one holds. Pending provider text becomes one
``delta`` (the text as the renderer keeps it, so the deltas join to exactly
the saved content), the blocks it finished, and the tail, as ops that grow
the page's tail or whole after new blocks. Finished blocks are spoken as
whole ``announce`` events, at most one every ``ANNOUNCE_INTERVAL_S``
(docs/accessibility.md, Announcements), and at the end once more all
together (``announce_done``).

It also keeps, per ``delta``, the answer's length after it: on Stop the
answer is clamped to what the user's page had applied (``finish``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from streaming.events import Emit, Event, EventType
from streaming.markdown import speech_for_answer
from streaming.metrics import RunClock
from streaming.runs.chips import ChipRecord
from streaming.runs.segments import SegmentedMarkdown
from streaming.runs.spec import Resume

# Screen readers get whole blocks, at most this often: bursts of updates merge or
# drop (docs/accessibility.md, Announcements).
ANNOUNCE_INTERVAL_S = 2.5


class AnswerFrames:
    def __init__(self, emit: Emit, clock: RunClock) -> None:
        self._emit = emit
        self._clock = clock  # the first frame's time is the answer's first token
        self.markdown = SegmentedMarkdown()
        self.pending = ""  # provider text not yet framed
        self._marks: list[tuple[int, int]] = []  # (delta event offset, text length after it)
        self._spoken: list[str] = []  # finished blocks not yet announced
        self._answer_speech: list[str] = []  # every finished block's speech, for ANNOUNCE_DONE
        self._last_announce = 0.0
        self._last_tail: str | None = None
        self.resumed_chars = 0  # text the run started from (Continue)
        self.resumed_blocks = 0

    async def resume(self, head: str, chips: Sequence[ChipRecord] = ()) -> None:
        """The stored partial answer as the run's first frame (Continue).

        Rendered by the run's own renderer, so the blocks and the tail that
        follow continue it; sent as one delta (a program rebuilding the text
        from deltas gets it whole) with its blocks and tail, neither announced
        (the user has read it) nor counted in this part's time to first token.
        Its tool calls' ``chips`` are drawn where they were, the text after
        the last one continued.
        """
        frame = self.markdown.restore(head, chips)
        offset = await self._emit(EventType.DELTA, {"text": head})
        self.resumed_chars = len(self.markdown.text)
        self._marks.append((offset, self.resumed_chars))
        if self.markdown.closed_html:
            # The segments and chips before the last chip: one block for the page.
            await self._emit(EventType.BLOCK, {"html": self.markdown.closed_html})
        for html in frame.new_blocks:
            await self._emit(EventType.BLOCK, {"html": html})
        self._last_tail = frame.tail
        await self._emit(EventType.TAIL, {"html": frame.tail})
        self.resumed_blocks = self.markdown.block_count

    async def frame(self) -> None:
        """Turn pending text into one frame: delta, finished blocks, the tail."""
        delta, self.pending = self.pending, ""
        start = len(self.markdown.text)
        frame = self.markdown.feed(delta)
        # The text as the renderer keeps it (and the run stores it: "\r\n" made
        # "\n"), so the deltas join to exactly the saved content.
        offset = await self._emit(EventType.DELTA, {"text": self.markdown.text[start:]})
        self._marks.append((offset, len(self.markdown.text)))
        if self._clock.first_frame_at is None:
            self._clock.first_frame_at = time.monotonic()
        for html in frame.new_blocks:
            await self._emit(EventType.BLOCK, {"html": html})
        self._hear(frame.spoken)
        if frame.new_blocks or frame.tail != self._last_tail:
            # Ops grow the tail the page shows; after new blocks the page's
            # tail no longer matches, so the whole tail is sent. An event
            # carries one or the other, never both: a growing code block
            # would otherwise keep a copy of itself per frame in the log.
            ops = None if frame.new_blocks else frame.tail_ops
            self._last_tail = frame.tail
            await self._emit(EventType.TAIL, {"ops": ops} if ops else {"html": frame.tail})
        now = time.monotonic()
        if self._spoken and now - self._last_announce >= ANNOUNCE_INTERVAL_S:
            await self._announce()

    async def close_text(self) -> None:
        """Before a tool chip: the text so far is sent and its last block
        finished, so the chip comes after it and later text below it."""
        if self.pending:
            await self.frame()
        frame = self.markdown.close_segment()
        if frame is None:
            return
        self._hear(frame.spoken)
        if frame.replace is not None:
            await self._emit(EventType.REPLACE, {"html": frame.replace})
        else:
            # Emptied first: the page never shows the last block twice.
            await self._emit(EventType.TAIL, {"html": ""})
            for html in [*frame.new_blocks, *([frame.tail] if frame.tail else [])]:
                await self._emit(EventType.BLOCK, {"html": html})
        self._last_tail = ""

    async def finish(
        self,
        *,
        stopped: bool,
        seen_offset: int | None,
        resume: Resume | None,
        rerender: bool = False,
    ) -> tuple[str, str]:
        """The last frame, the answer's last blocks and what is still to be
        read out; returns the content to keep and its HTML.

        ``stopped``: the user pressed Stop, and ``seen_offset`` is the last
        event their page applied (see ``_clamped``). ``rerender``: something
        already sent changed (a tool chip settled at the end), so the whole
        answer is sent again.
        """
        if self.pending:
            await self.frame()
        content, html = self._clamped(stopped, seen_offset, resume)
        final = self.markdown.finish()
        self._hear(final.spoken)
        if html is not None:
            # Clamped: the text shrank too, and the JSON stream says so.
            await self._emit(EventType.REPLACE, {"html": html, "text": content})
        elif final.replace is not None:
            html = final.replace
            await self._emit(EventType.REPLACE, {"html": html})
        elif rerender:
            html = self.markdown.html
            await self._emit(EventType.REPLACE, {"html": html})
        else:
            for block in final.new_blocks:
                await self._emit(EventType.BLOCK, {"html": block})
            if final.tail != self._last_tail:
                await self._emit(EventType.TAIL, {"html": final.tail})
            html = self.markdown.html
        if stopped:
            # The user pressed Stop: after "Stopped" nothing more is read out.
            self._spoken.clear()
            self._answer_speech.clear()
        if self._spoken:
            await self._announce()
        if self._answer_speech:
            # Both read-aloud modes are in the log, so every subscriber
            # shares one projection; each page keeps the one its user chose.
            text = speech_for_answer(self._answer_speech)
            await self._emit(EventType.ANNOUNCE_DONE, {"text": text})
        return content, html

    def _clamped(
        self, stopped: bool, seen_offset: int | None, resume: Resume | None
    ) -> tuple[str, str | None]:
        """The content to keep, and replacement HTML when it differs from what was sent.

        On Stop the answer is clamped to what the user's page had applied
        (``seen_offset``): text still in flight when they pressed Stop is not kept.
        """
        text = self.markdown.text
        if not stopped or seen_offset is None:
            return text, None
        # A continued answer keeps at least what it started from.
        seen = self.resumed_chars
        for offset, length in self._marks:
            if offset > seen_offset:
                break
            seen = length
        if seen >= len(text):
            return text, None
        if resume is not None and seen <= self.resumed_chars:
            clamped = resume.text  # nothing new seen: as stored, to the last space
            return clamped, self.markdown.render(clamped)
        clamped = text[:seen]
        return clamped, self.markdown.render(clamped)

    def _hear(self, spoken: list[str]) -> None:
        heard = [text for text in spoken if text]
        self._spoken.extend(heard)
        self._answer_speech.extend(heard)

    async def _announce(self) -> None:
        self._last_announce = time.monotonic()
        text, self._spoken = " ".join(self._spoken), []
        await self._emit(EventType.ANNOUNCE, {"text": text})


def resumed_through(events: Sequence[Event]) -> int | None:
    """The offset of the last event of a Continue's first frame (the run's
    ``status``, then ``AnswerFrames.resume``: one ``delta``, its ``block``s and
    ``tail``; the stored calls told again, ``resumed``, by ``ToolLoop.resume``;
    then the stored thinking's frame up to its ``reasoning_done``), or None
    when ``events`` (a log from its start) do not begin so, or not yet.

    A page that pressed Continue already shows that frame (the POST response
    rendered the stored answer): its stream replays what follows, so what the
    continuation says is heard even when it ended before the page connected.
    """
    if len(events) < 3 or (events[0].type, events[1].type) != (EventType.STATUS, EventType.DELTA):
        return None
    i = 2
    while i < len(events) and events[i].type is EventType.BLOCK:
        i += 1
    if i == len(events) or events[i].type is not EventType.TAIL:
        return None
    end = events[i].offset
    i += 1
    while i < len(events) and events[i].type in _TOLD_CALL and events[i].data.get("resumed"):
        end = events[i].offset
        i += 1
    if i < len(events) and events[i].type is EventType.REASONING_DELTA:
        done = next((e for e in events[i:] if e.type is EventType.REASONING_DONE), None)
        if done is None:
            return None
        end = done.offset
    return end


_TOLD_CALL = (EventType.TOOL_START, EventType.TOOL_RESULT)
