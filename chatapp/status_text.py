"""What a run's status says to the user: one wording per status.

``#sr-status`` hears it when an answer ends (``chatapp/projection.py``), and
the finished answer's footer shows the same words (``_message_footer.html``,
through ``Message.status_text``), so a reload reads what the live page said.
Statuses come from ``streaming.status.RunStatus``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from streaming.events import GENERATING, THINKING
from streaming.runs.tool_loop import MAX_TOOL_ROUNDS, TOOL_ROUNDS_REASON
from streaming.status import RunStatus

# Said once per transition (docs/accessibility.md, Status and alerts).
STATUS_TEXT: Final[dict[str, str]] = {
    GENERATING: "Generating answer…",
    THINKING: "Thinking…",  # a reasoning model's first thought
    RunStatus.COMPLETE: "Answer complete.",
    RunStatus.STOPPED: "Stopped. The partial answer is kept.",
    RunStatus.INTERRUPTED: "Answer interrupted. Partial answer kept.",
    RunStatus.TRUNCATED: "Answer cut short at the length limit.",
    RunStatus.FAILED: "Answer failed.",
}
# A truncated answer says which budget cut it (streaming/runs/run.py: the
# output-token budget or the model's "length" -> "length", the wall clock ->
# "time_limit").
TRUNCATED_TEXT: Final[dict[str, str]] = {
    "time_limit": "Answer cut short at the time limit.",
    # streaming/runs/tool_loop.py: the model still called tools after the last round.
    TOOL_ROUNDS_REASON: "Answer cut short: the model kept calling tools.",
}


def status_text(status: str, finish_reason: str = "") -> str:
    """The words for ``status`` (a RunStatus, ``generating`` or ``thinking``); "" when
    it has none."""
    if status == RunStatus.TRUNCATED:
        return TRUNCATED_TEXT.get(finish_reason, STATUS_TEXT[RunStatus.TRUNCATED])
    return STATUS_TEXT.get(status, "")


@dataclass(frozen=True, slots=True)
class StatusLine:
    """A finished answer's status line in its footer: ``label`` in bold, then ``text``."""

    text: str
    label: str = ""
    error: bool = False  # styled as an error


def status_line(status: str, finish_reason: str, error_message: str) -> StatusLine | None:
    """The footer's line for a finished answer; None for a complete (or live) one."""
    match status:
        case RunStatus.STOPPED:
            return StatusLine(STATUS_TEXT[RunStatus.STOPPED])
        case RunStatus.FAILED:
            return StatusLine(error_message or "the model did not answer.", "Failed:", True)
        case RunStatus.INTERRUPTED:
            return StatusLine(error_message or "the answer was cut off.", "Interrupted:", True)
        case RunStatus.TRUNCATED if finish_reason == TOOL_ROUNDS_REASON:
            return StatusLine(
                f"Cut short: the model was still calling tools after {MAX_TOOL_ROUNDS} rounds."
            )
        case RunStatus.TRUNCATED:
            limit = "time" if finish_reason == "time_limit" else "length"
            return StatusLine(f"Cut short at the {limit} limit.")
        case _:
            return None
