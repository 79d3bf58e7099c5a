"""The seam of a continued answer: no repeated and no missing words at the join."""

from __future__ import annotations

import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streaming.runs.seam import OVERLAP_WINDOW, Seam, open_fence

# A known answer with prose, a list, code and a table, and no phrase repeated
# back to back (a text that says "very very" cannot tell a repeat from itself).
KNOWN = """## Streaming answers

Spool keeps every answer in the database. When the network drops, the page \
reconnects by itself and resumes after the last event it applied, so nothing \
is lost and nothing arrives twice.

Three things make that work:

- offsets that never change,
- a snapshot for pages that start fresh,
- and a final event that closes each stream.

```python
def area(radius: float) -> float:
    return 3.14159 * radius**2


print(area(2))
```

| Transport | Reconnect |
|---|---|
| SSE | built in |
| WebSocket | by hand |

That is all. Questions are welcome!
"""


def join(partial: str, pieces: list[str], *, verbatim: bool = False) -> str:
    seam = Seam(partial, verbatim=verbatim)
    return seam.head + "".join(seam.feed(p) for p in pieces) + seam.flush()


def word_starts(text: str) -> list[int]:
    return [m.start() for m in re.finditer(r"\S+", text)]


def chunks(text: str, sizes: list[int]) -> list[str]:
    pieces, i = [], 0
    for size in sizes:
        if i >= len(text):
            break
        pieces.append(text[i : i + size])
        i += size
    pieces.append(text[i:])
    return pieces


def cut_word_goes_on_with_itself(cut: int) -> bool:
    fragment = re.search(r"\w+$", KNOWN[:cut])
    return fragment is not None and KNOWN[cut:].startswith(fragment.group())


cuts = st.integers(min_value=1, max_value=len(KNOWN) - 1)
sizes = st.lists(st.integers(min_value=1, max_value=12), max_size=40)


@settings(max_examples=400, deadline=None)
@given(cut=cuts, sizes=sizes)
def test_a_continuation_that_starts_at_the_cut_is_joined_as_it_is(
    cut: int, sizes: list[int]
) -> None:
    """The model picks up exactly where the answer stopped, even inside a word.

    Except where the word goes on with the letters it was cut after ("S" then
    "SE" of "SSE"): that reads as the cut word repeated (see the module).
    """
    assume(not cut_word_goes_on_with_itself(cut))
    assert join(KNOWN[:cut], chunks(KNOWN[cut:], sizes)) == KNOWN


@settings(max_examples=400, deadline=None)
@given(cut=cuts, back=st.integers(min_value=1, max_value=12), sizes=sizes)
def test_a_continuation_that_repeats_the_last_words_is_trimmed(
    cut: int, back: int, sizes: list[int]
) -> None:
    """The model starts again ``back`` words before the cut (the cut word too)."""
    partial = KNOWN[:cut]
    starts = [s for s in word_starts(partial) if re.search(r"\w", partial[s:])]
    if not starts:
        return
    start = starts[-min(back, len(starts))]
    if cut - start > OVERLAP_WINDOW:
        return
    assert join(partial, chunks(KNOWN[start:], sizes)) == KNOWN


@settings(max_examples=200, deadline=None)
@given(cut=cuts, sizes=sizes)
def test_a_prefill_continuation_follows_the_partial_without_its_trailing_space(
    cut: int, sizes: list[int]
) -> None:
    partial = KNOWN[:cut]
    rest = KNOWN[len(partial.rstrip()) :]
    assert join(partial, chunks(rest, sizes), verbatim=True) == KNOWN


def test_a_restarted_sentence_is_trimmed() -> None:
    partial = "It works. The quick brown fox jum"
    assert join(partial, ["The quick brown", " fox jumps over."]) == (
        "It works. The quick brown fox jumps over."
    )


def test_a_new_word_after_a_short_last_word_is_no_repeat() -> None:
    assert join("This is a", [" answer."]) == "This is a answer."
    assert join("Sit in", [" interesting seats."]) == "Sit in interesting seats."


def test_a_repeated_partial_word_is_completed() -> None:
    assert join("the fox jum", ["jumps high"]) == "the fox jumps high"


def test_a_word_going_on_with_the_letters_it_was_cut_after_reads_as_a_repeat() -> None:
    assert join("use S", ["SE here"]) == "use SE here"


def test_a_word_cut_in_two_is_joined_without_a_space() -> None:
    assert join("the fox jum", ["ps high"]) == "the fox jumps high"


def test_a_new_sentence_without_its_space_gets_one() -> None:
    assert join("It works.", ["Then it ends."]) == "It works. Then it ends."


def test_a_list_item_goes_on_its_own_line() -> None:
    assert join("- one\n- two", ["- three"]) == "- one\n- two\n- three"


def test_a_heading_after_a_paragraph_gets_a_blank_line() -> None:
    assert join("Some text.", ["## Next"]) == "Some text.\n\n## Next"


def test_the_whitespace_of_the_partial_is_kept_when_the_model_brings_none() -> None:
    assert join("Para one.\n\n", ["Para two."]) == "Para one.\n\nPara two."


def test_nothing_new_leaves_the_partial_as_it_was() -> None:
    assert join("Para one.\n\n", []) == "Para one.\n\n"
    assert join("Para one.\n\n", ["  \n"]) == "Para one.\n\n"
    assert join("Say it again", ["again"]) == "Say it again"


def join_after_chip(partial: str, pieces: list[str], *, verbatim: bool = False) -> str:
    """What the seam lets through when ``partial`` ends at a tool call's chip."""
    seam = Seam(partial, verbatim=verbatim, after_break=True)
    return "".join(seam.feed(p) for p in pieces) + seam.flush()


def test_after_a_chip_the_continuation_starts_without_joining_whitespace() -> None:
    """The renderer puts the paragraph break below the chip: no space glued
    before a capital, no blank line before a block, none of the model's."""
    assert join_after_chip("Let me work it out.", ["It is", " 1024."]) == "It is 1024."
    assert join_after_chip("Let me work it out.", ["\n\n", "It is 1024."]) == "It is 1024."
    assert join_after_chip("Let me work it out.", ["## Result"]) == "## Result"
    assert join_after_chip("Let me work it out.", ["\n\nIt is"], verbatim=True) == "It is"
    # A repeat of the text before the chip is still trimmed.
    assert join_after_chip("Let me work it out.", ["Let me work it out. It is 1024."]) == (
        "It is 1024."
    )
    # Nothing new: nothing after the chip, not even whitespace.
    assert join_after_chip("Let me work it out.\n\n", ["  \n"]) == ""


def test_a_reopened_code_fence_is_dropped() -> None:
    partial = "Code:\n\n```python\ndef f():\n    ret"
    assert join(partial, ["```python\n", "    return 1\n```\n"]) == (
        "Code:\n\n```python\ndef f():\n    return 1\n```\n"
    )


def test_a_reopened_fence_then_the_next_line() -> None:
    partial = "```python\ndef f():\n"
    assert join(partial, ["```py", "thon\n    return 1\n```"]) == (
        "```python\ndef f():\n    return 1\n```"
    )


def test_a_cut_in_the_fence_line_itself_is_a_repeat_not_a_reopening() -> None:
    assert join("Code:\n\n```p", ["```python\nx = 1\n```"]) == "Code:\n\n```python\nx = 1\n```"


def test_a_closing_fence_after_code_goes_on_its_own_line() -> None:
    assert join("```python\nx = 1", ["```\n\nDone."]) == "```python\nx = 1\n```\n\nDone."


def test_inside_code_the_line_restart_is_trimmed_with_its_indentation() -> None:
    partial = "```python\ndef f():\n    ret"
    assert join(partial, ["    return 1\n```"]) == "```python\ndef f():\n    return 1\n```"


def test_a_repeat_is_held_back_until_it_is_one() -> None:
    seam = Seam("The quick brown fox", verbatim=False)
    assert seam.feed("The qu") == ""
    assert seam.feed("ick brown fox") == ""
    assert seam.feed(" jumps") == " jumps"
    assert seam.feed(" over") == " over"


def test_verbatim_passes_text_through_at_once() -> None:
    seam = Seam("The quick ", verbatim=True)
    assert seam.head == "The quick"
    assert seam.feed(" brown") == " brown"


def test_held_back_text_is_bounded_by_the_window() -> None:
    partial = "word " * 1000
    seam = Seam(partial, verbatim=False)
    out = seam.feed("word " * (OVERLAP_WINDOW // 5 + 5) + "new")
    assert out.endswith("new")


def test_open_fence() -> None:
    assert open_fence("text\n```python\ncode") == "```"
    assert open_fence("```python\ncode\n```") is None
    assert open_fence("~~~~\ncode\n~~~") == "~~~~"
    assert open_fence("``` inline `code` ```") is None
