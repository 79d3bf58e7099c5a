"""lex_from: Pygments' RegexLexer loop, resumable line by line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name

from streaming.markdown.fence import OpenFence
from streaming.markdown.lexing import is_plain_regex_lexer, lex_from
from streaming.markdown.render import render_markdown

CORPUS = sorted((Path(__file__).parent.parent / "bench" / "corpus").glob("*.md"))
SAMPLES = {
    "python": 'x = """a\nmulti-line\nstring"""\ndef f(a: int) -> str:\n    return f"{a!r}"  # c\n',
    "javascript": "// a comment\nconst s = `tem\nplate ${x}`;\nlet re = /a+b/g;\n",
    "sql": "SELECT a, 'it''s'\nFROM t -- note\nWHERE b = 1;\n",
    "bash": 'for f in *.py; do\n  echo "$f" \\\n    | wc -l\ndone\n',
    "rust": 'fn main() {\n    let s = r#"raw\nstring"#;\n}\n',
}


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_one_call_equals_pygments(lang: str) -> None:
    lexer = get_lexer_by_name(lang, stripnl=False)
    assert is_plain_regex_lexer(lexer)
    expected = [(t, v) for _, t, v in lexer.get_tokens_unprocessed(SAMPLES[lang])]
    assert lex_from(lexer, SAMPLES[lang], ["root"])[0] == expected


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_line_by_line_carries_the_state(lang: str) -> None:
    lexer = get_lexer_by_name(lang, stripnl=False)
    stack = ["root"]
    tokens = []
    for line in SAMPLES[lang].splitlines(keepends=True):
        new, stack = lex_from(lexer, line, stack)
        tokens += new
    assert "".join(v for _, v in tokens) == SAMPLES[lang]
    whole = lex_from(lexer, SAMPLES[lang], ["root"])[0]
    # Multi-line strings and comments keep their token types across lines.
    assert {t for t, _ in tokens} == {t for t, _ in whole}


def test_open_fences_of_the_corpus_mostly_stream_as_their_final_highlight() -> None:
    fences = []
    for path in CORPUS:
        fences += re.findall(r"^```(\w*)\n(.*?)^```\n", path.read_text(), re.M | re.S)
    exact = 0
    for info, code in fences:
        fence = OpenFence(info=info, indent=0, content_start=len(info) + 4)
        source = f"```{info}\n"
        for line in code.splitlines(keepends=True):
            source += line
            html, _ = fence.render(source)
        exact += html == render_markdown(f"```{info}\n{code}```\n")
    # A docstring is told from a string only by its closing quotes: that one
    # shows as a string until the fence closes.
    assert exact >= len(fences) - 1
