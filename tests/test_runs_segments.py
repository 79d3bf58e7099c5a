"""Text segments with tool chips between (streaming/runs/segments.py), the
chips themselves (chips.py), and how a log with tool events folds and
projects (snapshot, the JSON stream)."""

from __future__ import annotations

import json

from chatapp.json_projection import NDJSON, from_message, payload
from chatapp.models import Message
from streaming.events import Event, EventType
from streaming.markdown import render_markdown
from streaming.runs import chips
from streaming.runs.segments import SegmentedMarkdown, answer_html
from streaming.runs.store import ToolRecord
from streaming.snapshot import compact, fold

RUNNING = chips.chip_html("tool-r-1", chips.RUNNING, "Calculating 2^10 …")
DONE = chips.chip_html("tool-r-1", chips.DONE, "Calculated: 1024")


def test_text_after_a_chip_is_a_new_segment_below_it() -> None:
    md = SegmentedMarkdown()
    md.feed("I will **check**.")
    closing = md.close_segment()
    assert closing is not None
    assert closing.tail == "<p>I will <strong>check</strong>.</p>\n"
    md.add_chip("tool-r-1", RUNNING)
    md.update_chip("tool-r-1", DONE)
    before = len(md.text)
    md.feed("It is 1024.")
    # The deltas the run sends (sliced from the text) carry the separator.
    assert md.text[before:] == "\n\nIt is 1024."
    final = md.finish()
    assert md.text == "I will **check**.\n\nIt is 1024."
    assert md.html == ("<p>I will <strong>check</strong>.</p>\n" + DONE + final.tail)
    assert final.tail == "<p>It is 1024.</p>\n"


def test_an_empty_segment_is_not_closed_and_owes_no_separator() -> None:
    md = SegmentedMarkdown()
    assert md.close_segment() is None
    md.add_chip("tool-r-1", DONE)
    md.feed("1024")
    md.finish()
    assert md.text == "1024"
    assert md.html == DONE + "<p>1024</p>\n"


def test_a_clamped_answer_keeps_the_chips_before_the_cut() -> None:
    md = SegmentedMarkdown()
    md.feed("First part.")
    md.close_segment()
    md.add_chip("tool-r-1", DONE)
    md.feed("Second part, much longer.")
    cut = md.text[: len("First part.\n\nSecond")]
    assert md.render(cut) == render_markdown("First part.") + DONE + render_markdown("Second")
    assert md.render("First") == render_markdown("First")


def test_a_chip_escapes_what_the_model_wrote() -> None:
    html = chips.chip_html('x"><script>', chips.ERROR, "<img src=x onerror=alert(1)> failed")
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; failed" in html
    assert chips.spoken("calculator", ok=True, result="1024", error="") == "Calculator: 1024"
    assert chips.spoken("get_weather", ok=False, result="", error="no such tool") == (
        "Get weather failed: no such tool"
    )


def _log() -> list[Event]:
    start = {"id": "call_1", "chip": "tool-r-1", "name": "calculator"}
    return [
        Event(1, EventType.DELTA, {"text": "Checking."}),
        Event(2, EventType.TAIL, {"html": "<p>Checking.</p>\n"}),
        Event(3, EventType.TAIL, {"html": ""}),
        Event(4, EventType.BLOCK, {"html": "<p>Checking.</p>\n"}),
        Event(5, EventType.TOOL_START, {**start, "args": {"expression": "2^10"}, "html": RUNNING}),
        Event(
            6,
            EventType.TOOL_RESULT,
            {
                **start,
                "ok": True,
                "summary": "Calculated: 1024",
                "result": "1024",
                "duration_ms": 0.2,
                "html": DONE,
                "running_html": RUNNING,
                "spoken": "Calculator: 1024",
            },
        ),
        Event(7, EventType.DELTA, {"text": "\n\nIt is 1024."}),
        Event(8, EventType.TAIL, {"html": "<p>It is 1024.</p>\n"}),
    ]


def test_a_late_subscriber_sees_the_chips_in_place_and_finished() -> None:
    events = _log()
    assert fold(events).html == "<p>Checking.</p>\n" + DONE + "<p>It is 1024.</p>\n"
    assert fold(events[:5]).html == "<p>Checking.</p>\n" + RUNNING
    # Compacted before the result came: the result still finishes the chip.
    head = compact(events[:5])
    assert fold([*head, *events[5:]]).html == fold(events).html
    assert fold([*head, *events[5:]]).text == "Checking.\n\nIt is 1024."


def test_the_json_stream_carries_the_calls() -> None:
    events = _log()
    assert payload(events[4]) == (
        "tool_start",
        {"id": "call_1", "name": "calculator", "arguments": {"expression": "2^10"}},
    )
    assert payload(events[5]) == (
        "tool_result",
        {
            "id": "call_1",
            "name": "calculator",
            "ok": True,
            "result": "1024",
            "error": None,
            "duration_ms": 0.2,
        },
    )


def test_a_snapshot_holds_the_calls_so_far_even_after_compaction() -> None:
    events = _log()
    call = {"chip": "tool-r-1", "id": "call_1", "name": "calculator"}
    assert fold(events[:5]).tool_calls == ({**call, "arguments": {"expression": "2^10"}},)
    finished = {
        **call,
        "arguments": {"expression": "2^10"},
        "ok": True,
        "result": "1024",
        "error": None,
        "duration_ms": 0.2,
    }
    assert fold(events).tool_calls == (finished,)
    head = compact(events[:5])
    assert fold([*head, *events[5:]]).tool_calls == (finished,)
    # A program resuming before the fold is given the calls with the text.
    [replace] = head
    assert payload(replace) == (
        "snapshot",
        {
            "text": "Checking.",
            "tool_calls": [
                {"id": "call_1", "name": "calculator", "arguments": {"expression": "2^10"}}
            ],
        },
    )


def test_a_stored_answer_comes_with_its_calls() -> None:
    message = Message(
        content="It is 1024.",
        status="complete",
        tool_calls=[
            {"id": "call_1", "name": "calculator", "arguments": {"expression": "2^10"},
             "result": "1024", "error": "", "duration_ms": 0.2, "round": 1},
            {"id": "call_2", "name": "weather", "arguments": "{}",
             "result": "Error: no such tool", "error": "no such tool", "duration_ms": 0.1,
             "round": 1},
        ],
    )  # fmt: skip
    lines = [json.loads(line) for line in from_message(message, 0, NDJSON).splitlines()]
    assert lines[0]["event"] == "snapshot"
    assert lines[0]["data"] == {
        "text": "It is 1024.",
        "tool_calls": [
            {"id": "call_1", "name": "calculator", "arguments": {"expression": "2^10"},
             "ok": True, "result": "1024", "error": None, "duration_ms": 0.2},
            {"id": "call_2", "name": "weather", "arguments": "{}", "ok": False,
             "result": "Error: no such tool", "error": "no such tool", "duration_ms": 0.1},
        ],
    }  # fmt: skip


def streamed(*parts: str | tuple[str, str]) -> SegmentedMarkdown:
    """An answer as a run streams it: text pieces and (chip id, html) chips."""
    md = SegmentedMarkdown()
    for part in parts:
        if isinstance(part, str):
            md.feed(part)
        else:
            md.close_segment()
            md.add_chip(part[0], part[1])
    md.finish()
    return md


def test_an_answer_restored_from_its_text_and_chips_is_drawn_as_streamed() -> None:
    second = chips.chip_html("tool-r-2", chips.DONE, "It is 10:00")
    md = streamed(
        "I will *check*.\n",
        ("tool-r-1", DONE),
        ("tool-r-2", second),  # two calls of one turn: no text between
        "It is 1024.\n\n- one\n- two",
        ("tool-r-3", DONE.replace("tool-r-1", "tool-r-3")),
        "Done.",
    )
    stored = [
        chips.ChipRecord("tool-r-1", chips.DONE, "Calculated: 1024", len("I will *check*.\n")),
        chips.ChipRecord("tool-r-2", chips.DONE, "It is 10:00", len("I will *check*.\n")),
        chips.ChipRecord("tool-r-3", chips.DONE, "Calculated: 1024", md.text.index("\n\nDone.")),
    ]
    assert answer_html(md.text, stored) == md.html
    # Continued from there, the text goes on after the last chip.
    again = SegmentedMarkdown()
    again.restore(md.text, stored)
    again.feed(" More.")
    again.finish()
    assert again.text == md.text + " More."
    assert again.html == md.html.replace("<p>Done.</p>", "<p>Done. More.</p>")


def test_a_chip_at_the_end_is_drawn_after_all_the_text() -> None:
    md = streamed("Let me see.", ("tool-r-1", RUNNING))
    stored = [chips.ChipRecord("tool-r-1", chips.RUNNING, "Calculating 2^10 …", 11)]
    assert answer_html(md.text, stored) == md.html == "<p>Let me see.</p>\n" + RUNNING
    # A crash left it running: the stored call says it was stopped, not spinning.
    call = ToolRecord("c1", "calculator", {}, "", "", None, 1, stored[0]).interrupted()
    assert call.error == "Stopped before it finished."
    assert call.chip is not None
    assert call.chip.html == (
        '<p class="tool-chip tool-chip-stopped" id="tool-r-1">'
        "Calculator stopped before it finished</p>"
    )
    assert ToolRecord.from_dict(call.as_dict()) == call
