"""An open top-level code fence in the live tail, rendered line by line.

Re-highlighting a growing fence from its first line on every frame costs
O(n²) over the block. ``OpenFence`` instead renders each *completed* line
once. With a plain ``RegexLexer`` (most languages) the lexer's state stack is
carried from one call to the next (``lexing.lex_from``), so a line inside a
multi-line string is lexed as the string it is, at the cost of that line
alone. Other lexers highlight the new lines alone or, when the previous line
ended inside a string or a multi-line comment, with up to ``CONTEXT_LINES``
lines before them, keeping only the new lines' output. Pygments' HTML output
is balanced per line (spans are closed and re-opened at each newline), so the
kept lines are a balanced fragment and the tail only ever grows by appending
inside ``<code>`` (``CODE_DEPTH``): the ops are small, and known without
comparing the tails.

The unfinished last line is held back until its newline: code appears line by
line, and a partial line is never shown with a highlighting that the next
frame would take back. A construct that only its end identifies (a Python
docstring, told from a string by its closing quotes) may show differently
from the final render while the fence is open.

The finished block (``final_html``, which needs no parse: the fence's lines
are its content) is lexed in one piece, as the one-shot render does. Each
chunk of lines streamed keeps its HTML where that lexing gives its lines the
tokens they were streamed with (up to where a newline splits a token:
``_runs``), so most blocks are formatted and sanitised once; the other lines
(the docstring's) are formatted from the block's tokens.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from functools import lru_cache
from itertools import accumulate

from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.token import Token
from pygments import format as format_tokens
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer

from streaming.markdown.blocks import offset_of_line
from streaming.markdown.highlight import code_block_html, lexer_for, normalise_lang
from streaming.markdown.lexing import TokenPair, is_plain_regex_lexer, lex_from
from streaming.markdown.render import sanitise

# Lines lexed before the new ones for context when the last line ended inside
# a string or multi-line comment (a docstring): enough for most; lexed only
# then, as Pygments costs about as much per context line as per new line.
CONTEXT_LINES = 12
# The last span of a line's HTML: a string or comment class may go on.
_LAST_CLASS_RE = re.compile(r'<span class="([a-z0-9]+)">[^<]*</span>\s*$')

_FORMATTER = HtmlFormatter(nowrap=True)
_CODE_END = "</code></pre></div>\n"
# The TailOp depth of the <code> element: tail > div.code-block > pre > code.
CODE_DEPTH = 3


class OpenFence:
    """The tail HTML of one open fence whose content starts at ``content_start``.

    ``render(live)`` takes the whole live source (opener line included) each
    time; what was rendered before is kept, so each call costs O(new lines).
    """

    def __init__(self, *, info: str, indent: int, content_start: int) -> None:
        self._info = info
        self._lexer: Lexer | None = lexer_for(normalise_lang(info))
        # The state stack of a plain RegexLexer after the lines so far, or None
        # for other lexers (lexed with context lines instead).
        self._stack: list[str] | None = ["root"] if is_plain_regex_lexer(self._lexer) else None
        # The lines so far lexed with ``_stack``, in the chunks rendered: each
        # chunk's end offset in the code, tokens and HTML.
        self._chunks: list[tuple[int, list[TokenPair], str]] | None = (
            [] if self._stack is not None else None
        )
        self._indent = indent
        self._content_start = content_start
        self._head = _head(info)
        self._lines: list[str] = []  # completed source lines, indentation removed
        self._last = ""  # the sanitised HTML of the last lines rendered
        self._done = content_start  # source offset up to which lines are rendered
        self._shown = self._head  # the tail HTML up to the end of the code
        self._html = self._head + _CODE_END

    @classmethod
    def opened_by(cls, token: Token, region: str) -> OpenFence:
        """The open fence whose opening line ``token`` (parsed from ``region``) maps."""
        assert token.map is not None
        opener = offset_of_line(region, token.map[0])
        line = region[opener : region.index("\n", opener)]
        indent = len(line) - len(line.lstrip(" "))
        return cls(info=token.info, indent=indent, content_start=opener + len(line) + 1)

    def render(self, live: str) -> tuple[str, str]:
        """The tail HTML for ``live`` (the whole live source of the open fence) and
        the HTML added to the code element since the last call."""
        end = live.rfind("\n") + 1
        added = ""
        if end > self._done:
            new = [self._strip(line) for line in live[self._done : end].split("\n")[:-1]]
            self._done = end
            added = self._highlight(new)
            self._last = added
            self._lines.extend(new)
            # Grown in place (its only reference dropped first), then closed.
            shown, self._shown = self._shown, ""
            shown += added
            self._shown = shown
            self._html = shown + _CODE_END
        return self._html, added

    def final_html(self, source: str) -> str | None:
        """The finished block's HTML, as ``render_block`` makes it, from ``source``:
        the live source up to the closing line. None if tabs indent the content
        of an indented fence (markdown-it counts them in columns; not done here)."""
        lines = source[self._content_start :].split("\n")[:-1]
        if self._indent and any("\t" in line[: self._indent + 1] for line in lines):
            return None
        stripped = [self._strip(line) for line in lines]
        code = "".join(line + "\n" for line in stripped)
        info = unescapeAll(self._info) if self._info else ""
        streamed = stripped[: len(self._lines)] == self._lines
        if self._chunks is None or self._lexer is None or not streamed:
            return sanitise(code_block_html(code, info))
        # The block is lexed in one piece, as the one-shot render does; the lines
        # that this gives the tokens they were streamed with keep their HTML.
        tokens = list(self._lexer.get_tokens(code))
        if "".join(value for _, value in tokens) != code:
            # Pygments changed the text (a newline added to the empty fence, a
            # byte order mark dropped): the offsets of the chunks do not apply.
            return sanitise(code_block_html(code, info, tokens))
        return self._head + self._body_of(tokens) + _CODE_END

    def _body_of(self, tokens: list[TokenPair]) -> str:
        """The code element's HTML for the whole block's ``tokens``: the streamed
        chunks whose lines lex the same (``_runs``), the other lines formatted."""
        assert self._chunks is not None
        starts = [0, *accumulate(len(value) for _, value in tokens)]
        parts: list[str] = []
        start = formatted = 0  # code offsets: this chunk's start; formatted up to
        for end, streamed, html in self._chunks:
            piece = _cut(tokens, starts, start, end)
            if piece == streamed or _runs(piece) == _runs(streamed):
                if formatted < start:
                    parts.append(_format(_cut(tokens, starts, formatted, start)))
                parts.append(html)
                formatted = end
            start = end
        if formatted < starts[-1]:
            parts.append(_format(_cut(tokens, starts, formatted, starts[-1])))
        return "".join(parts)

    def _strip(self, line: str) -> str:
        # CommonMark: up to the opener's indentation is removed from each line.
        spaces = len(line) - len(line.lstrip(" "))
        return line[min(spaces, self._indent) :]

    def _highlight(self, new: list[str]) -> str:
        if self._lexer is None:
            return sanitise(escapeHtml("".join(line + "\n" for line in new)))
        source = "".join(line + "\n" for line in new)
        if self._stack is not None:  # carry the lexer's state from line to line
            assert self._chunks is not None
            tokens, self._stack = lex_from(self._lexer, source, self._stack)
            html = _format(tokens)
            start = self._chunks[-1][0] if self._chunks else 0
            self._chunks.append((start + len(source), tokens, html))
            return html
        last = _LAST_CLASS_RE.search(self._last)
        in_text = last is not None and (last.group(1)[0] == "s" or last.group(1) == "cm")
        context = self._lines[-CONTEXT_LINES:] if in_text else []
        source = "".join(line + "\n" for line in [*context, *new])
        html = highlight(source, self._lexer, _FORMATTER)
        start = 0
        for _ in context:  # each source line is one output line (see the docstring)
            start = html.index("\n", start) + 1
        return sanitise(html[start:])


@lru_cache(maxsize=256)
def _head(info: str) -> str:
    """The code-block HTML up to the code, for fence ``info`` (as an empty block's)."""
    empty = sanitise(code_block_html("", info))
    assert empty.endswith(_CODE_END)
    return empty.removesuffix(_CODE_END)


def _format(tokens: list[TokenPair]) -> str:
    """Sanitised HTML of lexed code lines (whole lines: Pygments' HTML of a line
    depends on that line's tokens alone)."""
    return sanitise(format_tokens(tokens, _FORMATTER)) if tokens else ""


def _cut(tokens: list[TokenPair], starts: list[int], start: int, end: int) -> list[TokenPair]:
    """The tokens of the code from offset ``start`` to ``end`` (line starts), the
    tokens across them cut there (``starts``: each token's offset, then the end)."""
    first = bisect_right(starts, start) - 1
    last = bisect_left(starts, end)
    if starts[first] == start and starts[last] == end:
        return tokens[first:last]
    cut = tokens[first:last]
    if starts[last] > end:  # the last first: the first may be the same token
        ttype, value = cut[-1]
        cut[-1] = (ttype, value[: end - starts[last - 1]])
    if starts[first] < start:
        ttype, value = cut[0]
        cut[0] = (ttype, value[start - starts[first] :])
    return cut


def _runs(tokens: list[TokenPair]) -> list[TokenPair]:
    """``tokens`` cut at newlines, with same-type neighbours joined: two token
    lists with the same runs format to the same HTML. (Pygments' HTML formatter
    joins same-class neighbours on a line, and a newline only ends the line:
    ``"\n  "`` lexed in one piece or as ``"\n"`` then ``"  "`` shows the same.)"""
    runs: list[TokenPair] = []
    for ttype, value in tokens:
        for k, part in enumerate(value.split("\n")):
            if k:
                runs.append((None, "\n"))
            if not part:
                continue
            if runs and runs[-1][0] is ttype:
                runs[-1] = (ttype, runs[-1][1] + part)
            else:
                runs.append((ttype, part))
    return runs
