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
are its content) is lexed in one piece, as the one-shot render does. When
that gives the tokens streamed line by line (up to where a newline splits a
token: ``_runs``), the lines' HTML is the block's and is reused, so the
block is formatted and sanitised once; otherwise (the docstring) it is
rendered from those tokens.
"""

from __future__ import annotations

import re

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
        # The tokens of the lines so far, when lexed with ``_stack``.
        self._tokens: list[TokenPair] | None = [] if self._stack is not None else None
        self._indent = indent
        self._content_start = content_start
        empty = sanitise(code_block_html("", info))
        assert empty.endswith(_CODE_END)
        self._head = empty.removesuffix(_CODE_END)
        self._lines: list[str] = []  # completed source lines, indentation removed
        self._body: list[str] = []  # their sanitised HTML, in chunks
        self._done = content_start  # source offset up to which lines are rendered
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
            self._body.append(added)
            self._lines.extend(new)
            self._html = self._html[: -len(_CODE_END)] + added + _CODE_END
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
        if self._tokens is None or self._lexer is None:
            return sanitise(code_block_html(code, info))
        # The block is lexed in one piece, as the one-shot render does; where that
        # gives the tokens streamed line by line, the lines' HTML is the block's.
        tokens = list(self._lexer.get_tokens(code))
        shown = self._shown_html(tokens, stripped)
        return shown if shown is not None else sanitise(code_block_html(code, info, tokens))

    def _shown_html(self, tokens: list[TokenPair], lines: list[str]) -> str | None:
        """The streamed HTML completed with ``lines`` not shown yet, if the streamed
        tokens and theirs are ``tokens``, the whole block's (``lexing`` docstring)."""
        assert self._tokens is not None
        assert self._lexer is not None
        assert self._stack is not None
        done = len(self._lines)
        if lines[:done] != self._lines:
            return None
        rest = "".join(line + "\n" for line in lines[done:])
        rest_tokens = lex_from(self._lexer, rest, self._stack)[0] if rest else []
        streamed = [*self._tokens, *rest_tokens]
        if tokens != streamed and _runs(tokens) != _runs(streamed):
            return None
        return self._html[: -len(_CODE_END)] + _format(rest_tokens) + _CODE_END

    def _strip(self, line: str) -> str:
        # CommonMark: up to the opener's indentation is removed from each line.
        spaces = len(line) - len(line.lstrip(" "))
        return line[min(spaces, self._indent) :]

    def _highlight(self, new: list[str]) -> str:
        if self._lexer is None:
            return sanitise(escapeHtml("".join(line + "\n" for line in new)))
        source = "".join(line + "\n" for line in new)
        if self._stack is not None:  # carry the lexer's state from line to line
            assert self._tokens is not None
            tokens, self._stack = lex_from(self._lexer, source, self._stack)
            self._tokens.extend(tokens)
            return _format(tokens)
        last = _LAST_CLASS_RE.search(self._body[-1]) if self._body else None
        in_text = last is not None and (last.group(1)[0] == "s" or last.group(1) == "cm")
        context = self._lines[-CONTEXT_LINES:] if in_text else []
        source = "".join(line + "\n" for line in [*context, *new])
        html = highlight(source, self._lexer, _FORMATTER)
        start = 0
        for _ in context:  # each source line is one output line (see the docstring)
            start = html.index("\n", start) + 1
        return sanitise(html[start:])


def _format(tokens: list[TokenPair]) -> str:
    """Sanitised HTML of lexed code lines (whole lines: Pygments' HTML of a line
    depends on that line's tokens alone)."""
    return sanitise(format_tokens(tokens, _FORMATTER)) if tokens else ""


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
