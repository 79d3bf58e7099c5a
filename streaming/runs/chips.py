"""A tool call as the page shows it: a chip, running then finished.

Rendered once by the run, like the answer's blocks, so the stream, a late
subscriber's snapshot and the stored ``Message.html`` show the same chip.
Every text in it comes from the model or a tool and is escaped here.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

RUNNING = "running"
DONE = "done"
ERROR = "error"
# A call the run ended before it finished (Stop, a shutdown, a crash): never
# left spinning, on the page or in the stored answer.
STOPPED = "stopped"
# A running chip's spinner: decoration, hidden from screen readers.
SPINNER = '<span class="tool-chip-spinner" aria-hidden="true"></span>'


@dataclass(frozen=True, slots=True)
class ChipRecord:
    """A chip as stored with its call (``ToolRecord.chip``): enough to draw
    it again where it was, for an answer whose run did not save its HTML (a
    crash) or that is continued (Continue).

    ``at``: the length of the answer's text when the chip was shown (it
    comes after that text; ``segments.SegmentedMarkdown.restore``).
    """

    id: str
    state: str
    text: str
    at: int

    @property
    def html(self) -> str:
        return chip_html(self.id, self.state, self.text)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "text": self.text, "at": self.at}

    @classmethod
    def from_dict(cls, data: Any) -> ChipRecord | None:
        """A stored chip; None for a call stored without one (before chips were kept)."""
        if not isinstance(data, dict):
            return None
        return cls(str(data["id"]), str(data["state"]), str(data["text"]), int(data["at"]))


def chip_html(chip_id: str, state: str, text: str) -> str:
    """One chip. Its words say everything ("Calculating 2^10 …", "Calculator
    failed: …"); the spinner of a running one is decoration, hidden from
    screen readers."""
    spinner = SPINNER if state == RUNNING else ""
    return (
        f'<p class="tool-chip tool-chip-{state}" id="{escape(chip_id)}">{spinner}{escape(text)}</p>'
    )


def finished_text(name: str, *, ok: bool, summary: str) -> str:
    """The finished chip's words: the tool's own ("Calculated: 1024"), or why it failed."""
    return summary if ok else f"{tool_label(name)} failed: {summary}"


def stopped_text(name: str) -> str:
    """A call that never finished: "Calculator stopped before it finished"."""
    return f"{tool_label(name)} stopped before it finished"


def running_text(description: str) -> str:
    return f"{description} …"


def tool_label(name: str) -> str:
    """What a tool is called in speech: "calculator" -> "Calculator"."""
    words = name.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else "Tool"


def spoken(name: str, *, ok: bool, result: str, error: str) -> str:
    """The one announcement of a finished call: "Calculator: 1024"."""
    if ok:
        short = result if len(result) <= 120 else result[:117] + "…"
        return f"{tool_label(name)}: {short}"
    return f"{tool_label(name)} failed: {error}"
