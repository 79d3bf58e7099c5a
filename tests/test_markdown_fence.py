"""OpenFence.final_html: a closed fence's HTML, reusing the lines streamed while open."""

from __future__ import annotations

import re
from itertools import accumulate, pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pygments import format as format_tokens
from pygments.token import Comment, Name, Text, Whitespace

from streaming.markdown import fence as fence_module
from streaming.markdown.fence import OpenFence, _cut, _runs
from streaming.markdown.lexing import TokenPair
from streaming.markdown.render import render_markdown, sanitise

CORPUS = sorted((Path(__file__).parent.parent / "bench" / "corpus").glob("*.md"))
FENCES = sorted(
    {
        (info, code)
        for path in CORPUS
        for info, code in re.findall(r"^```(\w*)\n(.*?)^```\n", path.read_text(), re.M | re.S)
    }
)
DOCSTRING = 'def f():\n    """Docstring\n    on two lines."""\n    return 1\n'


def _streamed(info: str, code: str, shown_lines: int) -> tuple[OpenFence, str]:
    """An open fence that showed ``shown_lines`` lines of ``code``, and its source."""
    fence = OpenFence(info=info, indent=0, content_start=len(info) + 4)
    source = f"```{info}\n"
    for line in code.splitlines(keepends=True)[:shown_lines]:
        source += line
        fence.render(source)
    return fence, f"```{info}\n{code}"


def _counting_sanitise(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    sanitised: list[str] = []
    real = sanitise

    def counting(html: str) -> str:
        sanitised.append(html)
        return real(html)

    monkeypatch.setattr(fence_module, "sanitise", counting)
    return sanitised


@pytest.mark.parametrize(
    ("info", "code"), FENCES, ids=[f"{info}-{k}" for k, (info, _) in enumerate(FENCES)]
)
def test_final_html_is_the_one_shot_render(info: str, code: str) -> None:
    for shown in (0, code.count("\n") // 2, code.count("\n")):
        fence, source = _streamed(info, code, shown)
        assert fence.final_html(source) == render_markdown(f"```{info}\n{code}```\n")


def test_most_corpus_fences_reuse_their_streamed_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    reused = 0
    for info, code in FENCES:
        fence, source = _streamed(info, code, code.count("\n"))
        sanitised = _counting_sanitise(monkeypatch)
        fence.final_html(source)
        reused += not sanitised  # every line was shown: nothing left to sanitise
    # JSON's lexer is not a plain RegexLexer (not streamed by state), and one
    # Python docstring lexes differently in one piece.
    plain = [f for f in FENCES if f[0] != "json"]
    assert reused >= len(plain) - 1


def test_lines_split_across_chunks_by_one_token_keep_their_html(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # JavaScript's whitespace rule takes "\n  " in one token when the block is
    # lexed in one piece, but streamed line by line it ends at each newline.
    code = "function f() {\n  if (x) {\n    return 1;\n  }\n}\n"
    fence, source = _streamed("javascript", code, code.count("\n"))
    sanitised = _counting_sanitise(monkeypatch)
    assert fence.final_html(source) == render_markdown(f"```javascript\n{code}```\n")
    assert sanitised == []


def test_lines_not_shown_yet_are_the_only_ones_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "x = 1\ny = 2\nz = 3\n"
    fence, source = _streamed("python", code, 2)
    sanitised = _counting_sanitise(monkeypatch)
    assert fence.final_html(source) == render_markdown(f"```python\n{code}```\n")
    assert len(sanitised) == 1
    assert "z" in sanitised[0]
    assert "x" not in sanitised[0]


def test_only_a_docstring_s_lines_are_formatted_again(monkeypatch: pytest.MonkeyPatch) -> None:
    fence, source = _streamed("python", DOCSTRING, DOCSTRING.count("\n"))
    shown = fence.render(source)[0]
    sanitised = _counting_sanitise(monkeypatch)
    final = fence.final_html(source)
    assert final == render_markdown(f"```python\n{DOCSTRING}```\n")
    assert final != shown  # the streamed lines showed a string, not a docstring
    # The docstring's lines (lexed as one token in one piece) are formatted
    # again; the lines before and after it keep their streamed HTML.
    assert len(sanitised) == 1
    assert "Docstring" in sanitised[0]
    assert "on two lines" in sanitised[0]
    assert "def" not in sanitised[0]
    assert "return" not in sanitised[0]


_TYPES = [Text, Whitespace, Name, Comment]


@st.composite
def _tokens_and_resplit(draw: st.DrawFn) -> tuple[list[TokenPair], list[TokenPair]]:
    """Tokens, and the same text cut into more tokens of the same types."""
    pieces = draw(
        st.lists(
            st.tuples(st.sampled_from(_TYPES), st.text(alphabet="ab <&\n", min_size=1)),
            max_size=12,
        )
    )
    resplit: list[TokenPair] = []
    for ttype, value in pieces:
        cut = draw(st.integers(0, len(value)))
        resplit += [(ttype, part) for part in (value[:cut], value[cut:]) if part]
    return pieces, resplit


@given(_tokens_and_resplit())
def test_tokens_with_the_same_runs_format_the_same(
    pair: tuple[list[TokenPair], list[TokenPair]],
) -> None:
    tokens, resplit = pair
    assert _runs(tokens) == _runs(resplit)
    formatter = fence_module._FORMATTER
    assert format_tokens(tokens, formatter) == format_tokens(resplit, formatter)


def test_runs_tell_token_types_apart() -> None:
    assert _runs([(Whitespace, "    ")]) != _runs([(Text, "    ")])
    assert _runs([(Whitespace, "\n  ")]) == _runs([(Whitespace, "\n"), (Whitespace, "  ")])


@given(_tokens_and_resplit(), st.data())
def test_tokens_cut_at_line_starts_format_piece_by_piece(
    pair: tuple[list[TokenPair], list[TokenPair]], data: st.DataObject
) -> None:
    tokens = pair[0]
    code = "".join(value for _, value in tokens)
    starts = [0, *accumulate(len(value) for _, value in tokens)]
    line_starts = [k + 1 for k, char in enumerate(code) if char == "\n"]
    cuts = sorted(set(data.draw(st.lists(st.sampled_from(line_starts)))) if line_starts else [])
    bounds = [0, *[c for c in cuts if 0 < c < len(code)], len(code)]
    pieces = [_cut(tokens, starts, a, b) for a, b in pairwise(bounds) if a < b]
    assert ["".join(v for _, v in piece) for piece in pieces] == [
        code[a:b] for a, b in pairwise(bounds) if a < b
    ]
    formatter = fence_module._FORMATTER
    whole = format_tokens(tokens, formatter)
    assert "".join(format_tokens(piece, formatter) for piece in pieces) == whole
