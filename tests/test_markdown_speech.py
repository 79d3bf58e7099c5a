"""Speech for screen readers: markdown stripped, code and tables summarised."""

from __future__ import annotations

import pytest

from streaming.markdown import speech_for_markdown


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
    ],
)
def test_speech_for_blocks(text: str, spoken: list[str]) -> None:
    assert speech_for_markdown(text) == spoken
