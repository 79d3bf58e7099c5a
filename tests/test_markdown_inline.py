"""InlineMemo: inline parses reused across frames render exactly as fresh parses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it.rules_core import StateCore
from markdown_it.rules_core.text_join import text_join
from markdown_it.token import Token

from streaming.markdown.inline import InlineMemo, parse_env
from streaming.markdown.render import MD, inline_html, render_inline, render_markdown, sanitise

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = json.loads((FIXTURES / "commonmark_spec_0.31.2.json").read_text())
CORPUS = sorted((Path(__file__).parent.parent / "bench" / "corpus").glob("*.md"))
# Pieces of inline markup that open, close or break constructs across cuts.
PIECES = st.sampled_from(
    [
        "word", "two words", " ", "  ", "\n", "*", "**", "_", "__", "~~", "`", "``", "[", "]",
        "](/u)", "![", "<", ">", "&amp;", "&", "\\", "\\*", "!", "(", ")", "x_y", "a*b", "…",
    ]
)  # fmt: skip


def _fresh(src: str, env: dict[str, Any]) -> str:
    """markdown-it's own pipeline for one inline text: parse, text_join, render."""
    children: list[Token] = []
    token = Token("inline", "", 0, content=src, children=children)
    MD.inline.parse(src, MD, env, children)
    text_join(StateCore(src, MD, env, [token]))
    return sanitise(MD.renderer.render([token], MD.options, env))


def _check_growing(text: str, memo: InlineMemo, step: int = 1) -> None:
    env = parse_env({}, memo)
    plain_env = parse_env({}, None)
    for end in range(1, len(text) + 1, step):
        src = text[:end]
        expected = _fresh(src, plain_env)
        assert render_inline(src, env, memo) == expected, src
        assert inline_html(memo.parse(MD, src, env), env) == expected, src


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_growing_corpus_lines_render_as_fresh_parses(path: Path) -> None:
    memo = InlineMemo()
    lines = [line for line in path.read_text().splitlines() if len(line) > 60]
    for line in lines:
        _check_growing(line, memo, step=3)
    assert memo.hits > len(lines)  # prefixes were reused


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=40))
def test_growing_random_markup_renders_as_fresh_parses(pieces: list[str]) -> None:
    _check_growing("".join(pieces), InlineMemo())


def test_spec_examples_as_inline_text_render_as_fresh_parses() -> None:
    memo = InlineMemo()
    for example in SPEC:
        _check_growing(example["markdown"], memo, step=2)


def test_stored_tokens_are_not_changed_by_the_core_rules() -> None:
    # text_join merges adjacent text tokens in place: stored prefixes must not
    # be the tokens it merges into, or a later parse would show stale text.
    memo = InlineMemo()
    text = "A long enough sentence with `code` and *emphasis* that keeps growing, "
    for k in range(1, 6):
        src = text * k + "tail\\*"
        env = parse_env({}, memo)
        tokens = MD.parse(src, env)
        assert MD.renderer.render(tokens, MD.options, env) == render_markdown(src)


def test_a_new_reference_definition_is_seen() -> None:
    memo = InlineMemo()
    text = "See [the docs] for the details of this particular long enough sentence."
    before = render_inline(text, parse_env({}, memo), memo)
    refs = {"THE DOCS": {"title": "", "href": "https://x.org/", "map": [0, 1]}}
    after = render_inline(text, parse_env(refs, memo), memo)
    assert "<a " not in before
    assert '<a href="https://x.org/"' in after
