"""Fold a run's events into what a page shows right now.

A subscriber that connects without ``Last-Event-ID`` (new page, other tab,
reconnect after an error) gets this instead of a replay, so nothing is
appended twice and nothing is announced again.
"""

from __future__ import annotations

from dataclasses import dataclass

from streaming.events import Event, EventType
from streaming.markdown.ops import apply_ops


@dataclass(frozen=True, slots=True)
class Snapshot:
    blocks_html: str
    tail_html: str
    offset: int  # the last event folded in: resume after it
    final: Event | None

    @property
    def html(self) -> str:
        return self.blocks_html + self.tail_html


def fold(events: list[Event]) -> Snapshot:
    blocks: list[str] = []
    tail = ""
    final: Event | None = None
    for event in events:
        if event.type is EventType.BLOCK:
            blocks.append(event.data["html"])
        elif event.type is EventType.TAIL:
            ops = event.data.get("ops")
            # A tail grown in place carries only its ops: the same ops the
            # page applies, applied here to the tail folded so far.
            tail = apply_ops(tail, ops) if ops else event.data["html"]
        elif event.type is EventType.REPLACE:
            blocks, tail = [event.data["html"]], ""
        elif event.type is EventType.FINAL:
            final = event
    return Snapshot("".join(blocks), tail, events[-1].offset if events else 0, final)
