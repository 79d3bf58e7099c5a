"""The one reasoning parser: every delta field spelling, <think> tags cut anywhere."""

from __future__ import annotations

import itertools

import pytest

from streaming.providers.base import ProviderEvent, ReasoningDelta, TextDelta
from streaming.providers.think import REASONING_FIELDS, ReasoningParser


def split(events: list[ProviderEvent]) -> tuple[str, str]:
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    return reasoning, answer


def feed_content(pieces: list[str]) -> tuple[str, str]:
    parser = ReasoningParser()
    events: list[ProviderEvent] = []
    for piece in pieces:
        events.extend(parser.feed({}, piece))
    events.extend(parser.flush())
    return split(events)


@pytest.mark.parametrize("field", REASONING_FIELDS)
def test_each_field_spelling_is_reasoning(field: str) -> None:
    parser = ReasoningParser()
    events = parser.feed({field: "Hm, "}, None) + parser.feed({field: "six."}, "6")
    assert split(events) == ("Hm, six.", "6")
    assert parser.field == field


def test_two_fields_with_the_same_text_are_read_once() -> None:
    parser = ReasoningParser()
    events: list[ProviderEvent] = []
    for piece in ("Let ", "me ", "see."):
        events += parser.feed({"reasoning": piece, "reasoning_content": piece}, None)
    assert split(events) == ("Let me see.", "")


def test_the_first_field_a_stream_uses_is_the_only_one_read() -> None:
    parser = ReasoningParser()
    events = parser.feed({"reasoning": "one "}, None)
    events += parser.feed({"reasoning_content": "one ", "reasoning": "two"}, None)
    events += parser.feed({"reasoning_text": "three"}, None)
    assert split(events) == ("one two", "")


THOUGHT, ANSWER = "Compare a and b.\nb wins.", "The answer is **b**."
CONTENT = f"<think>{THOUGHT}</think>\n\n{ANSWER}"


def test_think_tags_cut_at_every_pair_of_places_split_exactly() -> None:
    """Every way of cutting the content in three pieces, tags cut included."""
    for i, j in itertools.combinations(range(1, len(CONTENT)), 2):
        pieces = [CONTENT[:i], CONTENT[i:j], CONTENT[j:]]
        assert feed_content(pieces) == (THOUGHT, ANSWER), pieces


def test_one_character_at_a_time() -> None:
    assert feed_content(list(CONTENT)) == (THOUGHT, ANSWER)


def test_an_unclosed_think_at_the_end_is_reasoning_not_answer() -> None:
    assert feed_content(["<thi", "nk>still going</th"]) == ("still going</th", "")


def test_a_tag_prefix_that_is_not_a_tag_is_answer() -> None:
    assert feed_content(["<thi", "ng> is not a tag"]) == ("", "<thing> is not a tag")
    assert feed_content(["<thi"]) == ("", "<thi")


def test_a_think_later_in_the_answer_is_answer() -> None:
    assert feed_content(["Sure: ", "<think>x</think>"]) == ("", "Sure: <think>x</think>")


def test_fields_and_tags_in_one_stream_never_mix() -> None:
    parser = ReasoningParser()
    events = parser.feed({"reasoning_content": "field thought"}, None)
    events += parser.feed({}, "Answer <think>")
    events += parser.flush()
    assert split(events) == ("field thought", "Answer <think>")
