"""The HTML projection: run events -> named SSE events that htmx swaps in.

| log event | SSE event | swapped into |
|-----------|-----------|--------------|
| (connect) | blocks + tail | ``.blocks`` and ``.tail`` (innerHTML): the snapshot |
| block     | block     | ``.blocks`` (beforeend) |
| tail      | tail      | ``.tail`` (innerHTML) |
| tail+ops  | tail-append | ``.tail``, grown in place by static/js/spool.js |
| replace   | blocks + tail | ``.blocks`` = the whole answer, ``.tail`` emptied (or set) |
| announce  | announce  | ``#sr-answer`` (beforeend, a ``<p>``), read aloud "as they stream" |
| announce_done | announce-done | ``#sr-answer`` (beforeend), read aloud "only when done" |
| status    | status    | ``#sr-status`` |
| error     | alert     | ``#sr-alert`` |
| title     | title     | out of band only: the list entries, the heading, ``<title>`` |
| tool_start | tool     | the running chip, appended to ``.blocks`` (static/js/spool.js) |
| tool_result | tool + status | the finished chip in its place; ``#sr-status`` says it once |
| final     | status + done | ``#sr-status``; the footer (and composer, out of band) |
| status thinking | status + reasoning-start | ``#sr-status``; the disclosure shown, counting |
| reasoning_block | reasoning-block | ``.reasoning-body .blocks`` (beforeend) |
| ... replace | reasoning-blocks + tail | ``.reasoning-body`` (a whole re-render) |
| reasoning_tail | reasoning-tail | ``.reasoning-body .tail`` (innerHTML) |
| reasoning_done | reasoning-label + status | the summary ("Thought for N s"); ``#sr-status`` |
| ... again | reasoning-label | a later round's thinking: the summary's sum, unsaid |

The reasoning (streaming/runs/reasoning.py) goes into its own collapsed
``<details>``, never into a live region: screen readers hear "Thinking…" and
"Thought for N seconds." once each, never the thoughts themselves.

Block and tail HTML was rendered once by the run. Each event is projected
once per process too: the SSE bytes are kept (by run, i.e. message and when
it was continued, and offset, for the newest ``PROJECTED_BYTES`` of events of
all runs), and every other subscriber of the same run (a second tab, a
reload) writes the same bytes, the final footer included.
Both read-aloud modes go to every subscriber (so the memo stays one per
event): the page swaps in the one its user chose (``_message.html``,
``static/js/spool.js``) and drops the other.
Only a snapshot is built per subscriber: it depends on when one connects.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime
from typing import assert_never, cast
from uuid import UUID

from asgiref.sync import sync_to_async
from django.template.loader import render_to_string
from django.utils.html import escape, format_html

from chatapp import selectors
from chatapp.models import Conversation, Message
from chatapp.status_text import status_text
from chatapp.tree import versions_of
from streaming import sse
from streaming.events import (
    THINKING,
    AnnounceData,
    BlockData,
    ErrorData,
    Event,
    EventType,
    FinalData,
    ReasoningBlockData,
    ReasoningDoneData,
    ReplaceData,
    StatusData,
    TailData,
    TailHtml,
    ToolResultData,
    ToolStartData,
)
from streaming.runs.reasoning import seconds_text
from streaming.snapshot import Reasoning, Snapshot

# The browser drops SSE events whose data is empty, so "nothing" is one space.
EMPTY = " "


def reset_frames(blocks_html: str, tail_html: str, offset: int | None) -> bytes:
    """Replace everything the page shows for the answer (a snapshot or a replace).

    Two events into the persistent ``.blocks``/``.tail`` elements; the id is
    on the second, so a cut between them replays both.
    """
    return sse.frame(blocks_html or EMPTY, event="blocks") + sse.frame(
        tail_html or EMPTY, event="tail", id=offset
    )


def snapshot_frame(snapshot: Snapshot) -> bytes:
    return reasoning_frames(snapshot.reasoning) + reset_frames(
        snapshot.blocks_html, snapshot.tail_html, snapshot.offset
    )


def reasoning_frames(reasoning: Reasoning, *, now: float | None = None) -> bytes:
    """The reasoning as it is (a snapshot, a compacted log's replace); nothing
    when the model has not thought. Silent: no live region is touched."""
    if not reasoning.started:
        return b""
    frames = sse.frame(reasoning.blocks_html or EMPTY, event="reasoning-blocks")
    frames += sse.frame(reasoning.tail_html or EMPTY, event="reasoning-tail")
    if reasoning.done:
        return frames + sse.frame(thought_for(reasoning.duration_ms), event="reasoning-label")
    return frames + sse.frame(str(thinking_for_s(reasoning, now)), event="reasoning-start")


def stored_reasoning(message: Message) -> Reasoning:
    """A finished message's reasoning, as a snapshot holds a live one's."""
    if not message.reasoning:
        return Reasoning()
    html, text = message.reasoning_html, message.reasoning
    return Reasoning(html, "", text, None, message.reasoning_ms, done=True)


def thought_for(duration_ms: float | None, *, unit: str = "s") -> str:
    """The summary once the thinking is over: "Thought for 12 s"."""
    seconds = seconds_text(duration_ms)
    if unit == "s":
        return f"Thought for {seconds} s"
    return f"Thought for {seconds} second{'' if seconds == 1 else 's'}."


def thinking_for_s(reasoning: Reasoning, now: float | None = None) -> int:
    """Whole seconds the model has been thinking (the page counts on from it)."""
    if reasoning.since is None:
        return 0
    return max(0, int((now if now is not None else time.time()) - reasoning.since))


def _done_html(message_id: UUID) -> str:
    message = Message.objects.select_related("conversation").get(id=message_id)
    # A regenerated answer's footer shows its switcher as soon as it is done.
    message.versions = versions_of(message)
    # The header's live count as it is now that this answer has ended.
    live_count = selectors.live_run_count_of(user_id=message.conversation.user_id)
    return render_to_string(
        "chat/_done.html",
        {"message": message, "conversation": message.conversation, "live_count": live_count},
    )


async def done_frame(message: Message, offset: int | None) -> bytes:
    """The final footer (and the composer back in Send mode), from the saved row."""
    html = await sync_to_async(_done_html)(message.id)
    return sse.frame(html, event="done", id=offset)


def _title_html(conversation_id: UUID) -> str:
    conversation = Conversation.objects.only("id", "title").get(id=conversation_id)
    return render_to_string("chat/_title_oob.html", {"conversation": conversation})


async def title_frame(message: Message, offset: int) -> bytes:
    """The conversation's title as saved (the model's, or the owner's if they
    named it first), swapped out of band where the page shows it."""
    html = await sync_to_async(_title_html)(message.conversation_id)
    return sse.frame(html, event="title", id=offset)


# Subscribers of one run read the same batch within milliseconds of each
# other, so only the newest frames are worth keeping: a bound in bytes (not
# entries) keeps the memo's memory flat whatever the answers hold. 512 KiB is
# ~0.1 s of events at 1,000 live answers (20 events/s of ~250 bytes each),
# seconds at usual loads; a subscriber lagging further behind projects again.
PROJECTED_BYTES = 512 * 1024
# What an entry costs beyond its frames' bytes: key tuple, list, bytes header
# and the ordered dict's share (tracemalloc, CPython 3.13: ~300 bytes).
ENTRY_OVERHEAD = 300


# (message id and when it was last continued: one run), offset.
MemoKey = tuple[tuple[UUID, datetime | None], int]


class FrameMemo:
    """Projected frames by (message, offset); the oldest go first past ``PROJECTED_BYTES``."""

    def __init__(self) -> None:
        self._frames: OrderedDict[MemoKey, list[bytes]] = OrderedDict()
        self.size = 0  # frame bytes plus ENTRY_OVERHEAD per entry

    def get(self, key: MemoKey) -> list[bytes] | None:
        return self._frames.get(key)

    def put(self, key: MemoKey, frames: list[bytes]) -> None:
        self._frames[key] = frames
        self.size += _cost(frames)
        while self.size > PROJECTED_BYTES and len(self._frames) > 1:
            _, dropped = self._frames.popitem(last=False)
            self.size -= _cost(dropped)

    def __iter__(self) -> Iterator[MemoKey]:
        return iter(self._frames)


def _cost(frames: list[bytes]) -> int:
    return ENTRY_OVERHEAD + sum(len(frame) for frame in frames)


_projected = FrameMemo()


async def project(event: Event, message: Message) -> list[bytes]:
    """The SSE frames of a run event, encoded once for all subscribers."""
    # A continued answer runs again under its id with offsets from 1 (Continue):
    # the time it was continued tells its runs apart.
    key = ((message.id, message.continued_at), event.offset)
    frames = _projected.get(key)
    if frames is None:
        frames = await _project(event, message)
        _projected.put(key, frames)
    return frames


async def _project(event: Event, message: Message) -> list[bytes]:
    offset = event.offset
    # Every kind has its arm (streaming/events.py says how to add one).
    match event.type:
        case EventType.BLOCK:
            block = cast(BlockData, event.data)
            return [sse.frame(block["html"], event="block", id=offset)]
        case EventType.TAIL:
            tail = cast(TailData, event.data)
            if "ops" in tail:
                # Growing the tail in place costs the new bytes only (page: spool.js).
                ops = json.dumps(tail["ops"], ensure_ascii=False, separators=(",", ":"))
                return [sse.frame(ops, event="tail-append", id=offset)]
            return [sse.frame(tail["html"] or EMPTY, event="tail", id=offset)]
        case EventType.REPLACE:
            replace = cast(ReplaceData, event.data)
            # A compacted log's replace keeps the tail apart (streaming/snapshot.py),
            # and the reasoning folded with it.
            thought = replace.get("reasoning")
            frames = reasoning_frames(Reasoning.from_data(thought)) if thought else b""
            return [frames + reset_frames(replace["html"], replace.get("tail", ""), offset)]
        case EventType.REASONING_BLOCK:
            block = cast(ReasoningBlockData, event.data)
            if block.get("replace"):
                blocks = sse.frame(block["html"] or EMPTY, event="reasoning-blocks")
                return [blocks + sse.frame(EMPTY, event="reasoning-tail", id=offset)]
            return [sse.frame(block["html"], event="reasoning-block", id=offset)]
        case EventType.REASONING_TAIL:
            html = cast(TailHtml, event.data)["html"]
            return [sse.frame(html or EMPTY, event="reasoning-tail", id=offset)]
        case EventType.REASONING_DONE:
            done = cast(ReasoningDoneData, event.data)
            took = done["duration_ms"]
            if done.get("again"):
                # A later round's thinking: the summary's sum grows, unsaid.
                return [sse.frame(thought_for(took), event="reasoning-label", id=offset)]
            label = sse.frame(thought_for(took), event="reasoning-label")
            return [label + sse.frame(thought_for(took, unit="seconds"), event="status", id=offset)]
        case EventType.ANNOUNCE | EventType.ANNOUNCE_DONE:
            said = cast(AnnounceData, event.data)
            name = "announce" if event.type is EventType.ANNOUNCE else "announce-done"
            return [sse.frame(format_html("<p>{}</p>", said["text"]), event=name, id=offset)]
        case EventType.STATUS:
            state = cast(StatusData, event.data)["state"]
            text = status_text(state)
            if state == THINKING:
                # The disclosure appears and counts from 0; "Thinking…" is said once.
                counting = sse.frame("0", event="reasoning-start")
                return [counting + sse.frame(text, event="status", id=offset)]
            return [sse.frame(text, event="status", id=offset)] if text else []
        case EventType.ERROR:
            what = cast(ErrorData, event.data)["message"]
            return [sse.frame(format_html("<p>{}</p>", what), event="alert", id=offset)]
        case EventType.TITLE:
            return [await title_frame(message, offset)]
        case EventType.TOOL_START:
            # The chip, rendered (and escaped) by the run; its arguments are
            # shown, never said: only the finished call is announced.
            start = cast(ToolStartData, event.data)
            if start.get("resumed"):
                return []  # a Continue's stored call: its chip is in the first frame
            return [sse.frame(start["html"], event="tool", id=offset)]
        case EventType.TOOL_RESULT:
            result = cast(ToolResultData, event.data)
            if result.get("resumed"):
                return []  # told for programs; the page has its chip and said it once
            # Said as text, but a status frame is HTML (spool.js reads its
            # text; htmx would swap it in): the announcement quotes the
            # model's tool name, arguments and errors, so it is escaped.
            return [
                sse.frame(result["html"], event="tool"),
                sse.frame(escape(result["spoken"]), event="status", id=offset),
            ]
        case EventType.FINAL:
            final = cast(FinalData, event.data)
            text = status_text(final["status"], final["finish_reason"])
            # Only the last frame carries the id: a cut between the two
            # replays both rather than losing ``done``.
            return [sse.frame(text, event="status"), await done_frame(message, offset)]
        case EventType.DELTA | EventType.REASONING_DELTA | EventType.USAGE:
            # The JSON projection's business. The id still advances on the
            # next HTML event.
            return []
        case _:
            assert_never(event.type)
