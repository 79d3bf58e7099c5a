"""Lexing an open code fence line by line, carrying Pygments' state across calls.

``pygments.lexer.RegexLexer.get_tokens_unprocessed`` takes an initial state
stack but does not return the final one, so highlighting each new line of an
open fence alone loses multi-line strings and comments (a docstring's lines
would show as code). ``lex_from`` is that method's loop (Pygments 2.x, BSD
licence), returning the stack as well, so each line is lexed once, in the
state the previous lines left. The finished block is lexed again in one
piece, exactly as the one-shot render does (a regex may look past a line's
end); where that agrees, the lines' HTML is reused (``fence.OpenFence``).
Lexers that override the method (or are not ``RegexLexer``\\ s) are not
handled here (``is_plain_regex_lexer``).
"""

from __future__ import annotations

from typing import Any

from pygments.lexer import Lexer, RegexLexer
from pygments.token import Error, Whitespace, _TokenType

TokenPair = tuple[Any, str]


def is_plain_regex_lexer(lexer: Lexer | None) -> bool:
    """Whether ``lexer`` lexes with ``RegexLexer``'s own loop (which ``lex_from`` copies)."""
    return (
        isinstance(lexer, RegexLexer)
        and type(lexer).get_tokens_unprocessed is RegexLexer.get_tokens_unprocessed
    )


def lex_from(lexer: Lexer, text: str, stack: list[str]) -> tuple[list[TokenPair], list[str]]:
    """``(token type, value)`` pairs of ``text`` lexed from state ``stack``, and the
    state stack at its end."""
    tokendefs = lexer._tokens
    statestack = list(stack)
    statetokens = tokendefs[statestack[-1]]
    out: list[TokenPair] = []
    pos = 0
    while True:
        for rexmatch, action, new_state in statetokens:
            match = rexmatch(text, pos)
            if not match:
                continue
            if action is not None:
                if type(action) is _TokenType:
                    out.append((action, match.group()))
                else:
                    out.extend((token, value) for _, token, value in action(lexer, match))
            pos = match.end()
            if new_state is not None:
                _transition(statestack, new_state)
                statetokens = tokendefs[statestack[-1]]
            break
        else:
            if pos >= len(text):
                break
            if text[pos] == "\n":  # no rule matched at a line end: back to "root"
                statestack = ["root"]
                statetokens = tokendefs["root"]
                out.append((Whitespace, "\n"))
            else:
                out.append((Error, text[pos]))
            pos += 1
    return out, statestack


def _transition(statestack: list[str], new_state: Any) -> None:
    """Apply a processed state transition (a tuple of states, ``-n`` pops, or "#push")."""
    if isinstance(new_state, tuple):
        for state in new_state:
            if state == "#pop":
                if len(statestack) > 1:
                    statestack.pop()
            elif state == "#push":
                statestack.append(statestack[-1])
            else:
                statestack.append(state)
    elif isinstance(new_state, int):
        # Pop, but keep at least one state on the stack.
        if abs(new_state) >= len(statestack):
            del statestack[1:]
        else:
            del statestack[new_state:]
    elif new_state == "#push":
        statestack.append(statestack[-1])
    else:
        raise AssertionError(f"wrong state def: {new_state!r}")
