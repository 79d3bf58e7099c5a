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
    # the text changed too (a Stop's clamp); a compacted log's: {html, tail, text}.
    REPLACE = "replace"
    ANNOUNCE = "announce"  # {text}: what screen readers should hear now
    # {text}: the whole answer's read-out, once at its end (read aloud "only when done")
    ANNOUNCE_DONE = "announce_done"
    # The model's thinking, apart from the answer (streaming/runs/reasoning.py):
    # {text}, as DELTA; {html} a finished block, as BLOCK ({html, replace: true}:
    # the whole reasoning, re-rendered); {html} the unfinished last block.
    REASONING_DELTA = "reasoning_delta"
    REASONING_BLOCK = "reasoning_block"
    REASONING_TAIL = "reasoning_tail"
    REASONING_DONE = "reasoning_done"  # {duration_ms}: the thinking is over, once
    # {state}: streaming, generating, thinking ({state, since}: wall-clock seconds)
    STATUS = "status"
    USAGE = "usage"  # {prompt_tokens, completion_tokens, reasoning_tokens}
    TOOL_START = "tool_start"  # {id, name, args}
    TOOL_RESULT = "tool_result"  # {id, ok, summary}
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
