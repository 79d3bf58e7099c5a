"""Speech for screen readers, read from the HTML: markup stripped, code and tables summarised."""

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
        ("![a *cat* on [a mat](/m)](/c.png)", ["Image: a cat on a mat."]),  # alt as shown
        ("- item\n\n  ```py\n  x = 1\n  ```", ["item. Code block, Python, 1 line."]),
        ("> | a |\n> |---|\n> | 1 |", ["Table, 1 column, 1 row."]),
        ("Tom &amp; Jerry  \nnext", ["Tom & Jerry next."]),
        ("```\n```", ["Code block, 0 lines."]),
    ],
)
def test_speech_for_blocks(text: str, spoken: list[str]) -> None:
    assert speech_for_markdown(text) == spoken
