"""Tail repair: what the live tail shows instead of half-typed markup."""

from __future__ import annotations

import pytest

from streaming.markdown.repair import repair_inline, repair_tail


@pytest.mark.parametrize(
    ("src", "shown"),
    [
        ("Hello **wor", "Hello **wor**"),
        ("Hello **world** and *it", "Hello **world** and *it*"),
        ("**bold *it", "**bold *it***"),
        ("x `cod", "x `cod`"),
        ("x ``a`", "x ``a``"),  # the "`" may be the start of the closer
        ("x ``a`b", "x ``a`b``"),
        ("~~str", "~~str~~"),
        ("> quote _em", "> quote _em_"),
        ("- item **bo", "- item **bo**"),
        ("see [link](http://exa", "see link"),
        ("see [link", "see link"),
        ("see [link]", "see link"),
        ("img ![alt](http://", "img "),
        ("img ![al", "img "),
        ("end **", "end "),
        ("end `", "end "),
        ("<http://exa", ""),
        ("mail <a@b.c", "mail "),
        ("AT&amp", "AT"),
        ("foo\\", "foo"),
    ],
)
def test_inline_markup_is_closed_or_held_back(src: str, shown: str) -> None:
    assert repair_tail(src) == shown


@pytest.mark.parametrize(
    "src",
    [
        "a * b",
        "2 * 3 = 6",
        "snake_case_var",
        "&amp; ok",
        "[done](https://x.org) ok",
        "a `b` c",
        # ``***`` (or a mixed run) closing two spans at once: nothing is left open.
        "Combined **bold and *italic*** text",
        "**a *b*** c",
        "*a **b*** c",
        "_a __b___ c",
        "__a _b___ c",
        "***a** b* c",
        "***a* b** c",
        "*a _b_* c",
        "**a __b__** c",
    ],
)
def test_resolved_or_literal_text_is_left_alone(src: str) -> None:
    assert repair_tail(src) == src


@pytest.mark.parametrize(
    ("src", "shown"),
    [
        ("```pyth", ""),  # the language label must not flicker
        ("```python\ndef f():\n``", "```python\ndef f():\n"),  # closer being typed
        ("para\n-", "para\n"),  # list item, setext underline or break?
        ("para\n---", "para\n"),
        ("text\n\n#", "text\n\n"),
        ("text\n1.", "text\n"),
        ("| a | b |\n", ""),  # header row: waits for the delimiter row
        ("| a | b |\n|--", ""),
        ("| a | b |\n|---|---|\n| 1 | 2", "| a | b |\n|---|---|\n"),
    ],
)
def test_undecided_block_markup_is_held_back(src: str, shown: str) -> None:
    assert repair_tail(src) == shown


def test_open_fence_content_is_kept_including_the_partial_line() -> None:
    src = "```python\ndef f():\n    ret"
    assert repair_tail(src) == src
    assert repair_tail(src, live_type="fence") == src


def test_pipe_line_is_shown_once_the_next_line_rules_out_a_table() -> None:
    assert repair_tail("a | b\nnext wor") == "a | b\nnext wor"


@pytest.mark.parametrize(
    ("src", "shown"),
    [
        # A link keeps its text's delimiters apart: without its "[" they could
        # pair with those outside, so that text waits for the link.
        ("see [**Docs**](http://ex", "see "),
        ("*a[*b", "*a*"),
        ("`code`[`c", "`code`"),  # taking "[" out would join the backtick runs
        ("x **[", "x "),  # runs that end what is shown open nothing yet
        ("a *_`", "a "),
        # "**" could close, but "****" would not pair with it (rule of 3).
        ("*a *end.**, a", "*a *end.**"),
    ],
)
def test_what_would_show_a_marker_in_the_wrong_place_waits(src: str, shown: str) -> None:
    assert repair_tail(src) == shown


def test_closers_go_before_trailing_whitespace() -> None:
    assert repair_inline("**bold \n") == "**bold** \n"
