"""Open emphasis spans (``spans.open_spans``): markdown-it's delimiters, found two ways."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it.parser_inline import ParserInline
from markdown_it.rules_inline import StateInline, emphasis, strikethrough
from markdown_it.rules_inline.balance_pairs import processDelimiters

from streaming.markdown.render import MD
from streaming.markdown.spans import delimiters_of, open_spans

_Rule = Callable[[StateInline, bool], bool]
_POSITIONS = "test_delimiter_positions"


def _recording(rule: _Rule, width: int) -> _Rule:
    """``rule``, also recording where each delimiter it pushes starts in the
    source (``width`` characters each; an odd run of ``~`` first gives one to text)."""

    def tokenize(state: StateInline, silent: bool) -> bool:
        before = len(state.delimiters)
        if not rule(state, silent):
            return False
        added = state.delimiters[before:]
        start = state.pos - len(added) * width
        for k, delim in enumerate(added):
            state.env[_POSITIONS][delim.token] = start + k * width
        return True

    return tokenize


def _reference_tokenizer() -> ParserInline:
    """markdown-it's inline tokenizer with the renderer's rules, its delimiter
    rules recording positions (a link's text is parsed by ``MD``'s own rules:
    only the top level is compared)."""
    parser = ParserInline()
    parser.ruler.at("emphasis", _recording(emphasis.tokenize, 1))
    parser.ruler.at("strikethrough", _recording(strikethrough.tokenize, 2))
    parser.ruler.enableOnly(MD.inline.ruler.get_active_rules())
    return parser


_TOKENIZER = _reference_tokenizer()

# Every character an inline rule acts on, around letters, spaces, punctuation
# and line breaks; and pieces of links, images, autolinks and code spans
# (whole, broken, or with delimiters in them), which random characters rarely make.
_CHARS = st.text(st.sampled_from("*_~`\\ a.\n&;![]()<>:/"), max_size=16)
_PIECES = st.sampled_from(
    [
        "[a](u)", "[*a*](u)", "[a_](u_v)", "[a](u *b)", "[a]", "![*i*](u)", "<http://a_b>",
        "<a*b>", "`c*`", "``a`*``", "*", "**", "_", "~~", "~", "\\*", " ", "a", ".", "[",
        "](", ")", "\n",
    ]
)  # fmt: skip
_TEXTS = _CHARS | st.lists(_PIECES, max_size=10).map("".join)


def _balanced(text: str, *, tokenize: bool) -> list[tuple[int, int, int, bool, bool, int]]:
    if tokenize:
        positions: dict[int, int] = {}
        state = StateInline(text, MD, {_POSITIONS: positions}, [])
        _TOKENIZER.tokenize(state)
    else:
        state, positions = delimiters_of(text)
    processDelimiters(state, state.delimiters)
    return [
        (d.marker, d.length, d.end, d.open, d.close, positions[d.token]) for d in state.delimiters
    ]


@settings(max_examples=2000, deadline=None)
@given(text=_TEXTS)
def test_the_scan_finds_the_delimiters_the_tokenizer_pushes(text: str) -> None:
    # Same runs, flags, lengths and positions, balanced alike (run adjacency too).
    assert _balanced(text, tokenize=False) == _balanced(text, tokenize=True)


@pytest.mark.parametrize(
    ("text", "closers"),
    [
        ("Combined **bold and *italic*** text", ""),  # closed together: nothing open
        ("**bold *it", "***"),
        ("*a _b", "_*"),
        ("~~a **b", "**~~"),
        ("a**_** b", "_"),  # "_" may still open: it is between punctuation
        ("**_** b", ""),  # in a matched span, "_" is text for good
        ("`*a` b", ""),  # in code
        ("\\*a b", ""),  # escaped
        ("[*a](u) b", ""),  # a link's text is balanced on its own
        ("[*a b", "*"),  # no link (yet): the "*" is at the top level
        ("2*3 a", "*"),
        ("snake_case x", ""),  # "_" inside a word opens nothing
    ],
)
def test_open_spans_are_markdown_its_unmatched_openers(text: str, closers: str) -> None:
    assert open_spans(text).closers == closers


def test_an_opener_the_rule_of_3_keeps_from_its_closers_is_held_back() -> None:
    # "**" between "." and "," could close, and "****" (its closers and the two
    # "*"s') would not pair with it: undecided, held back from there.
    spans = open_spans("*a *end.**, a")
    assert (spans.closers, spans.held_from) == ("", 8)
    # "**" then "_": the closer run could open, and cannot pair with "*".
    assert open_spans("_*a *a end.").held_from == 4
