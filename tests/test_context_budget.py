"""chatapp/context_budget.py: the prompt fits the model's context, cut at whole turns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatapp.context_budget import (
    FRAMING_TOKENS,
    TooLong,
    estimate_tokens,
    fit,
    prompt_budget,
)
from streaming.providers.base import ChatMessage


def turns(*texts: str) -> list[ChatMessage]:
    return [ChatMessage("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(texts)]


def test_the_estimate_errs_high() -> None:
    english = "The quick brown fox jumps over the lazy dog. " * 20  # ~200 real tokens
    assert estimate_tokens(english) >= len(english) / 4
    chinese = "你好世界" * 50  # about one real token per character
    assert estimate_tokens(chinese) >= len(chinese)
    assert estimate_tokens("") == FRAMING_TOKENS


def test_the_budget_leaves_room_for_the_answer() -> None:
    assert prompt_budget(context_window=8192, max_output_tokens=1024) == 7168
    assert prompt_budget(context_window=1000, max_output_tokens=4096) == 0


def test_everything_fits() -> None:
    history = turns("q1", "a1", "q2", "a2")
    fitted = fit(system="Be brief.", history=history, latest=ChatMessage("user", "q3"), budget=1000)
    assert [m.content for m in fitted.messages] == ["Be brief.", "q1", "a1", "q2", "a2", "q3"]
    assert fitted.messages[0].role == "system"
    assert fitted.dropped == 0


def test_no_system_prompt_sends_none() -> None:
    fitted = fit(system="", history=[], latest=ChatMessage("user", "hi"), budget=100)
    assert fitted.messages == [ChatMessage("user", "hi")]


def test_the_oldest_turns_go_first_and_whole() -> None:
    big = "x" * 300  # 104 tokens each
    history = turns(big, big, big, big, "q3", "a3")
    latest = ChatMessage("user", "q4")
    fitted = fit(system="sys", history=history, latest=latest, budget=300)
    assert [m.content for m in fitted.messages] == ["sys", big, big, "q3", "a3", "q4"]
    assert fitted.dropped == 2
    assert fitted.tokens <= 300


def test_a_question_without_its_answer_is_kept_whole() -> None:
    history = [ChatMessage("user", "q1"), ChatMessage("user", "q2"), ChatMessage("assistant", "a2")]
    fitted = fit(system="", history=history, latest=ChatMessage("user", "q3"), budget=1000)
    assert [m.content for m in fitted.messages] == ["q1", "q2", "a2", "q3"]


def test_too_long_alone() -> None:
    with pytest.raises(TooLong) as caught:
        fit(system="s" * 300, history=[], latest=ChatMessage("user", "u" * 300), budget=150)
    assert caught.value.needed > caught.value.budget == 150


@given(
    st.lists(st.text(max_size=400), max_size=20),
    st.text(max_size=200),
    st.text(max_size=200),
    st.integers(0, 3000),
)
def test_what_is_kept_fits_and_is_a_run_of_whole_turns(
    texts: list[str], system: str, latest_text: str, budget: int
) -> None:
    history = turns(*texts)
    latest = ChatMessage("user", latest_text)
    fixed = (estimate_tokens(system) if system else 0) + estimate_tokens(latest_text)
    if fixed > budget:
        with pytest.raises(TooLong):
            fit(system=system, history=history, latest=latest, budget=budget)
        return
    fitted = fit(system=system, history=history, latest=latest, budget=budget)
    assert fitted.tokens <= budget
    assert sum(estimate_tokens(m.content) for m in fitted.messages) == fitted.tokens
    kept = fitted.messages[1 if system else 0 : -1]
    assert kept == history[fitted.dropped :]
    assert not kept or kept[0].role == "user"
    assert fitted.messages[-1] == latest


def test_attachments_count_with_their_message() -> None:
    from chatapp.context_budget import IMAGE_PATCH_PX, message_tokens, part_tokens
    from streaming.providers.base import FilePart, ImagePart

    note = FilePart("notes.txt", "text/plain", 300, "x" * 300)
    image = ImagePart("data:,", "a.png", "image/png", 10, 2 * IMAGE_PATCH_PX, IMAGE_PATCH_PX + 1)
    assert part_tokens(note) == estimate_tokens(note.as_prompt())
    assert part_tokens(image) == 2 * 2 + FRAMING_TOKENS  # patches, partial ones counted whole
    message = ChatMessage("user", "Read these", parts=(note, image))
    assert message_tokens(message) == estimate_tokens("Read these") + part_tokens(
        note
    ) + part_tokens(image)

    # A long file in an older turn drops that turn, as long text would.
    old = ChatMessage("user", "old", parts=(FilePart("big.txt", "text/plain", 900, "y" * 900),))
    history = [old, ChatMessage("assistant", "ok")]
    fitted = fit(system="", history=history, latest=ChatMessage("user", "new"), budget=100)
    assert fitted.dropped == 2
