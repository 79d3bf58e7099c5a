"""What a status says: every final status has its words, live and in the footer."""

from __future__ import annotations

from typing import get_args

import pytest

from chatapp.status_text import STATUS_TEXT, StatusLine, status_line, status_text
from streaming.events import GENERATING
from streaming.runs.tool_loop import MAX_TOOL_ROUNDS, TOOL_ROUNDS_REASON
from streaming.status import LIVE_STATUSES, FinalStatus, RunStatus

FINAL = get_args(FinalStatus)


def test_every_status_is_live_or_final() -> None:
    assert set(RunStatus) == set(FINAL) | LIVE_STATUSES
    assert not set(FINAL) & LIVE_STATUSES


@pytest.mark.parametrize("status", FINAL)
def test_every_final_status_is_said_when_the_answer_ends(status: RunStatus) -> None:
    assert status_text(status).endswith(".")


def test_live_statuses_say_nothing_but_a_slow_start_does() -> None:
    assert [status_text(s) for s in LIVE_STATUSES] == ["", ""]
    assert status_text(GENERATING) == "Generating answer…"


def test_a_truncated_answer_names_its_limit() -> None:
    assert status_text(RunStatus.TRUNCATED, "length") == "Answer cut short at the length limit."
    assert status_text(RunStatus.TRUNCATED, "time_limit") == "Answer cut short at the time limit."
    line = status_line(RunStatus.TRUNCATED, "time_limit", "")
    assert line == StatusLine("Cut short at the time limit.")


def test_an_answer_cut_off_in_its_tool_rounds_says_so() -> None:
    said = status_text(RunStatus.TRUNCATED, TOOL_ROUNDS_REASON)
    assert said == "Answer cut short: the model kept calling tools."
    assert status_line(RunStatus.TRUNCATED, TOOL_ROUNDS_REASON, "") == StatusLine(
        f"Cut short: the model was still calling tools after {MAX_TOOL_ROUNDS} rounds."
    )


def test_stopped_reads_the_same_live_and_in_the_footer() -> None:
    assert status_line(RunStatus.STOPPED, "", "") == StatusLine(STATUS_TEXT[RunStatus.STOPPED])


@pytest.mark.parametrize(
    ("status", "label", "default"),
    [
        (RunStatus.FAILED, "Failed:", "the model did not answer."),
        (RunStatus.INTERRUPTED, "Interrupted:", "the answer was cut off."),
    ],
)
def test_failures_show_their_error_or_a_default(
    status: RunStatus, label: str, default: str
) -> None:
    assert status_line(status, "", "Boom.") == StatusLine("Boom.", label, error=True)
    assert status_line(status, "", "") == StatusLine(default, label, error=True)


@pytest.mark.parametrize("status", [RunStatus.COMPLETE, *LIVE_STATUSES])
def test_complete_and_live_answers_have_no_status_line(status: RunStatus) -> None:
    assert status_line(status, "stop", "") is None
