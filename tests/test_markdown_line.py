"""LiveLine: a splice of the line being typed equals the full tail render."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streaming.markdown.inline import InlineMemo
from streaming.markdown.line import LiveLine
from streaming.markdown.render import render_markdown
from streaming.markdown.repair import repair_tail
from streaming.markdown.tail import render_source

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = json.loads((FIXTURES / "commonmark_spec_0.31.2.json").read_text())
CORPUS = sorted((Path(__file__).parent.parent / "bench" / "corpus").glob("*.md"))

CASES = [
    "A paragraph with **bold**, `code`, a [link](https://x.org) and *em* going on",
    "- one\n- two with *em and more* text\n- three `co",
    "> quoted *text* that goes on and on with `code` inside",
    "1. first\n2. second with [a link](/u) here\n3. third **bo",
    "Setext candidate\n---",
    "A line | with a pipe | that could be a table",
    "[ref]: /url\n\nuse [ref] and more words after it",
    "# Heading with *em* that is long",
    "Text with \\*escapes\\* and &amp; entities &copy; here",
    "An image ![alt \\* with `code` and \\[x\\]](/u.png) and more words after it",
    "    indented code that goes on",
    "- item\n\n  continued paragraph of the item with **bold**",
    "Para\nwith a second line that has *em*",
    "- a\n  - nested with `code` and more",
    "> - quoted item with **strong** text",
    "Hard break at the end  \nnext line *x*",
    "- a\n  - b *em*\n  - c\n- d `x`\n  1. e\n  2. f\n     - g\n- h",  # nested in and out
    "1. a\n   3. b\n   4. c\n2. d\n- e",  # an ordered list starting at 3; another list
    "- a\n * b\n  + c\n-\n- d\n- # e\n- ```f",  # other markers; held and block items
    "* a\n* b | c\n* d\n  * e\n* f",  # a pipe in a completed item
    "\n\n> **Note:** quoted text that goes on",  # a block's first line, each shape:
    "3. third item start *x* and more",
    "+ plus item `code` here",
    "1) paren item with [a link](/u)",
    "-\ttab item",
    "-     five spaces: code",
    ">    four spaces: code",
    "10. ten and 2024 was a year",
    "1.5 is a number, not a list",
    "## Closing sequence ##  ",  # headings: closing #s are not text
    "### x # y #",
    "#### `code` #tag#",
    "# #",
    "####### seven is text",
]


def _full(live: str) -> tuple[str, str]:
    repaired = repair_tail(live)
    return repaired, render_source(repaired, {})[1]


def _check_every_prefix(text: str, lag: int = 1) -> int:
    """Splice every prefix from a base at most ``lag`` characters old; return the hits."""
    line = LiveLine(InlineMemo())
    since_base = lag
    for end in range(1, len(text) + 1):
        live = text[:end]
        full = _full(live)
        got = line.render(live, {}) if since_base < lag else None
        if got is not None:
            assert got == full, live
            since_base += 1
        else:
            line.reset(live, full[0], full[1], {})
            since_base = 0
    return line.hits


@pytest.mark.parametrize("text", CASES)
@pytest.mark.parametrize("lag", [1, 7, 1000])
def test_splice_equals_full_render_on_every_prefix(text: str, lag: int) -> None:
    _check_every_prefix(text, lag)


def test_splice_is_taken_for_paragraphs_items_and_quotes() -> None:
    for text in CASES[:4]:
        assert _check_every_prefix(text, 1000) > len(text) // 3, text


def test_splice_equals_full_render_on_commonmark_examples() -> None:
    for example in SPEC:
        _check_every_prefix(example["markdown"], lag=5)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_splice_equals_full_render_on_the_corpus(path: Path) -> None:
    blocks = path.read_text().split("\n\n")
    assert sum(_check_every_prefix(block, lag=9) for block in blocks) > 0


@pytest.mark.parametrize("text", CASES)
def test_frozen_block_equals_one_shot(text: str) -> None:
    line = LiveLine(InlineMemo())
    for end in range(1, len(text) + 1):
        live = text[:end]
        if line.render(live, {}) is None:
            line.reset(live, *_full(live), {})
    block = text + "\n\n"
    frozen = line.frozen(block)
    assert frozen is None or frozen == render_markdown(block)
