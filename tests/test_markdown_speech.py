"""Speech for screen readers, read from the HTML: markup stripped, code and tables summarised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streaming.markdown import speech_for_markdown
from streaming.markdown.render import parse, render_block, split_blocks
from streaming.markdown.speech import (
    WHOLE_ANSWER_CHARS,
    _speech_by_pieces,
    speech_for_answer,
    speech_for_html,
)

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = sorted((Path(__file__).parent.parent / "bench" / "corpus").glob("*.md"))


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("# Getting **started**", ["Getting started."]),
        ("Use `pip`   and\n*read* [the docs](https://x.org)!", ["Use pip and read the docs!"]),
        ("- one\n- two:\n  - nested", ["one. two: nested."]),
        ("```python\na = 1\nb = 2\n```", ["Code block, Python, 2 lines."]),
        ("```\nx\n```", ["Code block, 1 line."]),
        ("```nosuchlang\nx\ny\ny\n```", ["Code block, 3 lines."]),
        ("    indented\n", ["Code block, 1 line."]),
        (
            "| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 |\n| 4 | 5 | 6 |",
            ["Table, 3 columns, 2 rows."],
        ),
        ("> quoted text", ["quoted text."]),
        ("![a cat](https://x.org/cat.png)", ["Image: a cat."]),
        ("---", [""]),
        ("One.\n\nTwo.", ["One.", "Two."]),
        ("![a *cat* on [a mat](/m)](/c.png)", ["Image: a cat on a mat."]),  # alt as shown
        ("- item\n\n  ```py\n  x = 1\n  ```", ["item. Code block, Python, 1 line."]),
        ("> | a |\n> |---|\n> | 1 |", ["Table, 1 column, 1 row."]),
        ("Tom &amp; Jerry  \nnext", ["Tom & Jerry next."]),
        ("```\n```", ["Code block, 0 lines."]),
    ],
)
def test_speech_for_blocks(text: str, spoken: list[str]) -> None:
    assert speech_for_markdown(text) == spoken


def test_the_text_only_path_reads_as_the_general_one() -> None:
    # speech_for_html reads text-only blocks with a few regex passes; the
    # piece-by-piece reader (needed for code and tables) must agree on them.
    spec = json.loads((FIXTURES / "commonmark_spec_0.31.2.json").read_text())
    texts = [example["markdown"] for example in spec] + [p.read_text() for p in CORPUS]
    checked = 0
    for text in texts:
        env: dict[str, Any] = {}
        for block in split_blocks(parse(text, env)):
            html = render_block(block, env)
            assert speech_for_html(html) == _speech_by_pieces(html), html
            checked += 1
    assert checked > 900


def test_a_short_answer_is_read_whole() -> None:
    blocks = ["Getting started.", "", "Code block, Python, 2 lines.", "Done."]
    assert speech_for_answer(blocks) == "Getting started. Code block, Python, 2 lines. Done."


def test_a_long_answer_is_read_up_to_the_limit_then_counted() -> None:
    blocks = [f"Paragraph {i} is twenty chars." for i in range(10)]  # 29-30 chars each
    spoken = speech_for_answer(blocks, limit=100)
    assert spoken == (
        "Paragraph 0 is twenty chars. Paragraph 1 is twenty chars. "
        "Paragraph 2 is twenty chars. … 7 more blocks."
    )
    assert speech_for_answer(blocks[:4], limit=100).endswith("… 1 more block.")
    # Exactly at the limit is still whole.
    three = " ".join(blocks[:3])
    assert speech_for_answer(blocks[:3], limit=len(three)) == three


def test_a_first_block_longer_than_the_limit_is_still_read_whole() -> None:
    long = "word " * 50 + "end."
    assert speech_for_answer([long, "Next."], limit=20) == f"{long} … 1 more block."


def test_a_long_answer_read_once_stays_within_the_default_limit() -> None:
    blocks = [b for b in speech_for_markdown((CORPUS[0]).read_text()) if b]
    whole = " ".join(blocks)
    assert len(whole) > 2 * WHOLE_ANSWER_CHARS, "the corpus answer is meant to be long"
    kept, _, counted = speech_for_answer(blocks).partition(" … ")
    assert whole.startswith(kept)
    assert WHOLE_ANSWER_CHARS - max(map(len, blocks)) < len(kept) <= WHOLE_ANSWER_CHARS
    n = next(n for n in range(1, len(blocks)) if " ".join(blocks[:n]) == kept)
    assert counted == f"{len(blocks) - n} more blocks."
