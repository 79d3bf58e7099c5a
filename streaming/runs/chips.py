"""A tool call as the page shows it: a chip, running then finished.

Rendered once by the run, like the answer's blocks, so the stream, a late
subscriber's snapshot and the stored ``Message.html`` show the same chip.
Every text in it comes from the model or a tool and is escaped here.
"""

from __future__ import annotations

from html import escape

RUNNING = "running"
DONE = "done"
ERROR = "error"
# A call the run ended before it finished (Stop, a shutdown, a crash): never
# left spinning, on the page or in the stored answer.
STOPPED = "stopped"


def chip_html(chip_id: str, state: str, text: str) -> str:
    """One chip. Its words say everything ("Calculating 2^10 …", "Calculator
    failed: …"); the spinner of a running one is decoration, hidden from
    screen readers."""
    spinner = ""
    if state == RUNNING:
        spinner = '<span class="tool-chip-spinner" aria-hidden="true"></span>'
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
