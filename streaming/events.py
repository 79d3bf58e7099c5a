"""The typed events a run writes to its log: one vocabulary, two projections.

Every event has an ``offset`` (1, 2, 3… per run) that is also its SSE ``id:``,
so a reconnecting client resumes exactly after what it applied. Events are
emitted from one place only, ``streaming/runs/run.py``; grep for ``EventType`` to
find every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    # {text}: answer text since the previous frame, as stored (line ends normalised)
    DELTA = "delta"
    BLOCK = "block"  # {html, spoken}: a finished top-level block, appended once
    TAIL = "tail"  # {html} the unfinished last block, or {ops} that grow the previous tail
    # {html}: whole answer HTML, when earlier blocks changed; {html, text} when
    # the text changed too (a Stop's clamp); a compacted log's: {html, tail, text}
    # and the tool calls it folded, {tool_calls}, if any.
    REPLACE = "replace"
    ANNOUNCE = "announce"  # {text}: what screen readers should hear now
    # {text}: the whole answer's read-out, once at its end (read aloud "only when done")
    ANNOUNCE_DONE = "announce_done"
    STATUS = "status"  # {state}: pending, streaming, ...
    USAGE = "usage"  # {prompt_tokens, completion_tokens}
    # {id (the model's), chip (the page's element id), name, args, text, html}: a
    # tool call shown running (streaming/runs/tool_loop.py)
    TOOL_START = "tool_start"
    # {id, chip, name, ok, summary, result, duration_ms, text, html, running_html,
    # spoken}: the call finished; ``html`` replaces ``running_html`` where it is
    TOOL_RESULT = "tool_result"
    ERROR = "error"  # {code, message, retryable, retry_after: seconds or null}
    FINAL = "final"  # {status, finish_reason, metrics}: always the last event


@dataclass(frozen=True, slots=True)
class Event:
    offset: int
    type: EventType
    data: dict[str, Any]

    @property
    def is_final(self) -> bool:
        return self.type is EventType.FINAL
