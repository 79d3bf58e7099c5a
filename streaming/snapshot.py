"""Fold a run's events into what a page shows right now.

A subscriber that connects without ``Last-Event-ID`` (new page, other tab,
reconnect after an error) gets this instead of a replay, so nothing is
appended twice and nothing is announced again.

``compact`` and ``compact_prefix`` fold a run's log the same way, for the log
to keep (``streaming/eventlog/memory.py``): what a late reader needs, not
every frame.

The fold keeps the answer's text beside its HTML (the deltas joined, reset
by a ``replace`` that carries ``text``), and the reasoning apart from the
answer (its own blocks, tail and text, and whether the model is still
thinking), reset by a ``replace`` that carries ``reasoning``: the JSON stream
(``chatapp/json_projection.py``) starts a subscriber from it, and a folded
``replace`` carries it, so the text so far survives compaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from streaming.events import Event, EventType, ReasoningState, ReplaceData, ToolCallState
from streaming.markdown.ops import apply_ops

# The events that change what the answer shows (the rest only tell about it).
CONTENT: Final = frozenset(
    {
        EventType.BLOCK,
        EventType.TAIL,
        EventType.REPLACE,
        EventType.TOOL_START,
        EventType.TOOL_RESULT,
        EventType.REASONING_BLOCK,
        EventType.REASONING_TAIL,
        EventType.REASONING_DONE,
    }
)


@dataclass(frozen=True, slots=True)
class Reasoning:
    """The model's thinking as a page shows it (streaming/runs/reasoning.py).

    ``since``: wall-clock seconds when the thinking began; ``duration_ms``:
    None while the model still thinks."""

    blocks_html: str = ""
    tail_html: str = ""
    text: str = ""
    since: float | None = None
    duration_ms: float | None = None
    done: bool = False

    @property
    def html(self) -> str:
        return self.blocks_html + self.tail_html

    @property
    def started(self) -> bool:
        return self.since is not None or self.done or bool(self.text)

    def as_data(self) -> ReasoningState:
        return {
            "html": self.blocks_html,
            "tail": self.tail_html,
            "text": self.text,
            "since": self.since,
            "duration_ms": self.duration_ms,
            "done": self.done,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Reasoning:
        return cls(
            data.get("html", ""),
            data.get("tail", ""),
            data.get("text", ""),
            data.get("since"),
            data.get("duration_ms"),
            bool(data.get("done", False)),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    blocks_html: str
    tail_html: str
    offset: int  # the last event folded in: resume after it
    final: Event | None
    text: str = ""  # the answer's text so far (what Message.content will hold)
    # The tool calls so far, in order: {chip, id, name, arguments} and, once
    # finished, {ok, result, error, duration_ms} (the JSON stream's snapshot).
    tool_calls: tuple[ToolCallState, ...] = ()
    reasoning: Reasoning = Reasoning()

    @property
    def html(self) -> str:
        return self.blocks_html + self.tail_html


def fold(events: list[Event]) -> Snapshot:
    blocks: list[str] = []
    tail = ""
    text: list[str] = []
    calls: dict[str, ToolCallState] = {}  # by chip: unique in the run
    final: Event | None = None
    thought = _ReasoningFold()
    for event in events:
        if thought.apply(event):
            continue
        if event.type is EventType.DELTA:
            text.append(event.data["text"])
        elif event.type is EventType.BLOCK:
            blocks.append(event.data["html"])
        elif event.type is EventType.TAIL:
            ops = event.data.get("ops")
            # A tail grown in place carries only its ops: the same ops the
            # page applies, applied here to the tail folded so far.
            tail = apply_ops(tail, ops) if ops else event.data["html"]
        elif event.type is EventType.REPLACE:
            # A run's replace is the whole answer; a compacted log's also
            # carries the tail that later ops grow.
            blocks, tail = [event.data["html"]], event.data.get("tail", "")
            # Only a replace that changed the text carries it (a Stop's clamp,
            # a fold); a re-render of the same text (late references) does not.
            if "text" in event.data:
                text = [event.data["text"]]
            if "tool_calls" in event.data:  # a fold's: the calls it folded
                folded: list[ToolCallState] = event.data["tool_calls"]
                calls = {call["chip"]: ToolCallState(**call) for call in folded}
        elif event.type is EventType.TOOL_START:
            # A tool call's chip follows the blocks before it (the run has
            # finished the text before it: the tail is empty). A Continue's
            # stored call is in the first frame's blocks already.
            start = event.data
            if not start.get("resumed"):
                blocks.append(start["html"])
            calls[start["chip"]] = ToolCallState(
                chip=start["chip"], id=start["id"], name=start["name"], arguments=start["args"]
            )
        elif event.type is EventType.TOOL_RESULT:
            data = event.data
            if not data.get("resumed"):
                blocks = _chip_finished(blocks, data["running_html"], data["html"])
            call = calls.get(data["chip"])
            if call is None:  # started before what this fold was given
                call = calls[data["chip"]] = ToolCallState(
                    chip=data["chip"], id=data["id"], name=data["name"], arguments={}
                )
            call["ok"] = data["ok"]
            call["result"] = data["result"]
            call["error"] = None if data["ok"] else data["summary"]
            call["duration_ms"] = data["duration_ms"]
        elif event.type is EventType.FINAL:
            final = event
    offset = events[-1].offset if events else 0
    return Snapshot(
        "".join(blocks),
        tail,
        offset,
        final,
        "".join(text),
        tuple(calls.values()),
        thought.result(),
    )


class _ReasoningFold:
    """The reasoning events folded apart from the answer's."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.tail = ""
        self.text: list[str] = []
        self.since: float | None = None
        self.duration_ms: float | None = None
        self.done = False

    def apply(self, event: Event) -> bool:
        """Fold ``event`` in if it is about the reasoning; True when it was only that."""
        data = event.data
        match event.type:
            case EventType.REASONING_DELTA:
                self.text.append(data["text"])
            case EventType.REASONING_BLOCK if data.get("replace"):
                self.blocks, self.tail = [data["html"]], ""
            case EventType.REASONING_BLOCK:
                self.blocks.append(data["html"])
            case EventType.REASONING_TAIL:
                self.tail = data["html"]
            case EventType.REASONING_DONE:
                self.done, self.duration_ms = True, data.get("duration_ms")
            case EventType.STATUS if data.get("state") == "thinking":
                self.since = data.get("since")
            case EventType.REPLACE if "reasoning" in data:
                kept = Reasoning.from_data(data["reasoning"])
                self.blocks, self.tail, self.text = [kept.blocks_html], kept.tail_html, [kept.text]
                self.since, self.duration_ms, self.done = kept.since, kept.duration_ms, kept.done
                return False  # the answer's part of the replace is folded too
            case _:
                return False
        return event.type is not EventType.STATUS

    def result(self) -> Reasoning:
        return Reasoning(
            "".join(self.blocks),
            self.tail,
            "".join(self.text),
            self.since,
            self.duration_ms,
            self.done,
        )


def _chip_finished(blocks: list[str], running: str, finished: str) -> list[str]:
    """The running chip replaced by the finished one, wherever it is: its own
    block, or inside a ``replace`` that folded it with the blocks around it."""
    for i in range(len(blocks) - 1, -1, -1):
        if running in blocks[i]:
            return [*blocks[:i], blocks[i].replace(running, finished, 1), *blocks[i + 1 :]]
    return blocks


def compact(events: list[Event]) -> list[Event]:
    """A finished run's log as a late reader needs it: one ``replace`` and what followed.

    Every content event up to the last one (blocks, tails, replaces, with the
    deltas, announcements and statuses between them) becomes one ``replace``
    of the whole answer, at the offset of that last content event; the events
    after it (the closing announcement, an error, ``final``) are kept as they
    are. Offsets stay consecutive, so a reader resuming after any offset still
    reads every event it lacks, or the ``replace`` that stands for them, and
    ends with the page the whole log would have given it
    (``fold(applied + read) == fold(events)``, as HTML). What it no longer
    replays: the deltas and the announcements made while the answer grew.
    """
    last = max((i for i, event in enumerate(events) if event.type in CONTENT), default=None)
    if last is None or (last == 0 and events[0].type is EventType.REPLACE):
        return events
    head = fold(events[: last + 1])
    data: ReplaceData = {"html": head.html, "text": head.text}
    if head.tool_calls:
        data["tool_calls"] = list(head.tool_calls)
    if head.reasoning.started:
        data["reasoning"] = head.reasoning.as_data()
    return [Event(head.offset, EventType.REPLACE, dict(data)), *events[last + 1 :]]


def compact_prefix(events: list[Event], count: int) -> list[Event]:
    """A live run's first ``count`` events folded into one ``replace``, then the rest.

    The ``replace`` takes the offset of the last event folded and carries the
    blocks and the tail apart, and the text so far (``{html, tail, text}``),
    so the tail ops that follow grow the same tail on a page that applied it.
    A reader resuming before that offset is reset to the state there, then
    reads on; after it, nothing changes. Offsets stay consecutive.
    """
    if count < 2:
        return events
    head = fold(events[:count])
    data: ReplaceData = {"html": head.blocks_html, "tail": head.tail_html, "text": head.text}
    if head.tool_calls:
        data["tool_calls"] = list(head.tool_calls)
    if head.reasoning.started:
        data["reasoning"] = head.reasoning.as_data()
    return [Event(events[count - 1].offset, EventType.REPLACE, dict(data)), *events[count:]]
