"""Inline parses reused across frames: a growing paragraph costs O(new text).

markdown-it's inline parser is the costliest step of a tail render (about
two thirds of it), and a live paragraph, list item or quote is re-parsed on
every render although only its end changed. ``InlineMemo`` keeps the tokens of
*clean prefixes* of the texts it parsed and, for a text that starts with one,
parses only the rest.

Why concatenation is exact. A prefix ``a`` is cut just before a non-space
character that follows a space or a newline, and it is *clean*: its own parse
left no markup character in plain text (``* _ ~ [ ] `` and the backtick),
so every emphasis or strikethrough delimiter in it was matched inside it, no
``[`` waits for a ``](…)`` and no backtick run for its closer. Then for any
``b`` starting with a non-space character, ``parse(a + b) == parse(a) +
parse(b)``:

- closers in ``b`` only look back for unmatched openers, and ``a`` has none;
  a delimiter run's flanking depends on its neighbours, and the character
  before ``b`` is whitespace, as the start of a text counts;
- links, images, code spans, autolinks and entities are parsed forwards from
  their first character, and those starting in ``a`` ended in it (autolinks
  and entities cannot contain a space);
- a line break in ``a`` is wholly in it (the newline ends ``a``), and ``b``
  starts with no spaces for the newline rule to skip;
- the HTML of text tokens concatenates, whether or not they are joined.

A prefix only depends on the reference definitions in ``env``, so the memo is
cleared when they change. Tokens given out are never the stored ones where
the core rule ``text_join`` could change them: stored prefixes are already
joined, and the last stored token is copied for each use.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

# The key under which a parse's env carries the memo to the core rule.
ENV_KEY = "spool_inline_memo"
# Characters that, left as plain text by a parse, may still pair with later text.
_OPEN_MARKUP = frozenset("*_~[]`")
# Where a prefix may end: after a space or newline, before a non-space character.
_CUT_RE = re.compile(r"(?<=[ \n])(?=\S)")
# A prefix grows when the text past it is at least this long; the last
# ``_KEEP`` characters, where repairs and typing happen, stay out of it.
_MIN_REST = 64
_KEEP = 24
_MAX_PREFIXES = 8
_MAX_WHOLE = 512
_TEXTS = ("text", "text_special")


def _parse(md: MarkdownIt, src: str, env: Any) -> list[Token]:
    tokens: list[Token] = []
    md.inline.parse(src, md, env, tokens)
    return tokens


def _is_clean(tokens: list[Token]) -> bool:
    """No markup character was left as plain text (see the module docstring)."""
    return not any(
        token.type in ("text", "text_special") and not _OPEN_MARKUP.isdisjoint(token.content)
        for token in tokens
    )


def _copy(token: Token) -> Token:
    return dataclasses.replace(token)


def joined(tokens: list[Token], *, nested: bool = True) -> list[Token]:
    """``tokens`` as ``text_join`` leaves them, without changing any given token.

    Like ``text_join``, the children of a token (an image's alt text) are
    joined too, but not theirs (an image inside an image's alt keeps its
    escapes apart, and they are left out of the alt text).
    """
    out: list[Token] = []
    for token in tokens:
        if token.children and nested:
            token = dataclasses.replace(token, children=joined(token.children, nested=False))
        if token.type == "text_special":
            token = dataclasses.replace(token, type="text")
        if token.type == "text" and out and out[-1].type == "text":
            out[-1] = dataclasses.replace(out[-1], content=out[-1].content + token.content)
        else:
            out.append(token)
    return out


def _reference_key(env: Any) -> tuple[tuple[str, str, str], ...]:
    references = env.get("references") or {}
    return tuple(
        (label, str(ref.get("href")), str(ref.get("title"))) for label, ref in references.items()
    )


@dataclass(slots=True)
class _Entry:
    """A clean prefix (or whole text) with its joined tokens and, once asked, its HTML."""

    src: str
    tokens: list[Token]
    html: str | None = None


class InlineMemo:
    """Clean prefixes of recently parsed inline texts, with their tokens.

    Also keeps whole clean texts (table cells, finished items) for exact reuse.
    ``hits`` counts parses that reused a prefix or a whole text (tests check
    that the memo is used).
    """

    def __init__(self) -> None:
        self.hits = 0
        self._references: tuple[tuple[str, str, str], ...] = ()
        self._prefixes: list[_Entry] = []  # most recently used first
        self._whole: dict[str, _Entry] = {}
        self._no_cut: tuple[str, int] = ("", 0)  # a prefix that did not grow, and until where

    def parse(self, md: MarkdownIt, src: str, env: Any) -> list[Token]:
        """The inline tokens of ``src``, as ``md.inline.parse`` makes them."""
        entry, tail = self._split(md, src, env)
        if entry is None:
            return tail
        stored = entry.tokens
        if tail and stored and stored[-1].type == "text" and tail[0].type in _TEXTS:
            # The core rule ``text_join`` will append to the last stored token.
            return [*stored[:-1], _copy(stored[-1]), *tail]
        return [*stored, *tail]

    def render(
        self, md: MarkdownIt, src: str, env: Any, html_of: Callable[[list[Token]], str]
    ) -> str:
        """``html_of(inline tokens of src)``, for an ``html_of`` whose output for a
        clean prefix and the rest concatenates (the prefix's is kept)."""
        entry, tail = self._split(md, src, env)
        html = html_of(tail) if tail else ""
        if entry is None:
            return html
        if entry.html is None:
            entry.html = html_of(entry.tokens)
        return entry.html + html

    def _split(self, md: MarkdownIt, src: str, env: Any) -> tuple[_Entry | None, list[Token]]:
        """A stored entry that ``src`` starts with, and the tokens of the rest."""
        key = _reference_key(env)
        if key != self._references:
            self._references = key
            self._prefixes.clear()
            self._whole.clear()
        whole = self._whole.get(src)
        if whole is not None:
            self.hits += 1
            return whole, []
        entry = self._longest_prefix(src)
        if entry is not None:
            self.hits += 1
        rest = src[len(entry.src) :] if entry is not None else src
        tail = _parse(md, rest, env)
        clean = _is_clean(tail)
        if entry is None and clean:
            if len(self._whole) >= _MAX_WHOLE:
                self._whole.clear()
            self._whole[src] = _Entry(src, joined(tail))
        if len(rest) >= _MIN_REST:
            if clean:
                self._grow_from(entry, rest, tail)
            else:
                self._grow(md, env, entry, rest)
        return entry, tail

    def _grow_from(self, entry: _Entry | None, rest: str, tail: list[Token]) -> None:
        """Keep a longer prefix for the next parse, cut from this one's tokens.

        ``tail``, the clean parse of ``rest``, ends with plain text (its source
        as it is): every construct before that text closed in it, so ``rest``
        cut after a space inside that text parses as ``tail`` with the text cut
        there (a clean prefix), and needs no parse of its own.
        """
        last = tail[-1]
        if last.type != "text" or not rest.endswith(last.content):
            return
        text = last.content
        cut = 0
        for match in _CUT_RE.finditer(text, 1, len(text) - _KEEP):
            cut = match.start()
        if not cut:
            return
        piece = dataclasses.replace(last, content=text[:cut])
        prefix = entry.src if entry is not None else ""
        if entry is None:
            tokens = joined([*tail[:-1], piece])
        else:  # only the junction can join: the stored tokens are joined already
            tokens = [*entry.tokens[:-1], *joined([*entry.tokens[-1:], *tail[:-1], piece])]
        self._remember(_Entry(prefix + rest[: len(rest) - len(text) + cut], tokens))

    def _longest_prefix(self, src: str) -> _Entry | None:
        best: _Entry | None = None
        for entry in self._prefixes:
            prefix = entry.src
            if (
                (best is None or len(prefix) > len(best.src))
                and src.startswith(prefix)
                and (len(src) == len(prefix) or not src[len(prefix)].isspace())
            ):
                best = entry
        if best is not None:
            self._remember(best)
        return best

    def _grow(
        self, md: MarkdownIt, env: Any, entry: _Entry | None, rest: str
    ) -> tuple[_Entry | None, str]:
        """Extend ``entry`` into ``rest`` at its last cut before the kept end, if clean."""
        prefix = entry.src if entry is not None else ""
        cut = 0
        for match in _CUT_RE.finditer(rest, 1, len(rest) - _KEEP):
            cut = match.start()
        failed, until = self._no_cut
        if not cut or (failed == prefix and len(prefix) + cut < until + _MIN_REST):
            return entry, rest  # no cut, or too soon after the last unclean one
        added = _parse(md, rest[:cut], env)
        if not _is_clean(added):
            self._no_cut = (prefix, len(prefix) + cut)
            return entry, rest
        if entry is None:
            tokens = joined(added)
        else:  # only the junction can join: the stored tokens are joined already
            tokens = [*entry.tokens[:-1], *joined([*entry.tokens[-1:], *added])]
        grown = _Entry(prefix + rest[:cut], tokens)
        self._remember(grown)
        return grown, rest[cut:]

    def _remember(self, entry: _Entry) -> None:
        others = [e for e in self._prefixes if e.src != entry.src]
        self._prefixes = [entry, *others[: _MAX_PREFIXES - 1]]


def parse_env(references: dict[str, Any], memo: InlineMemo | None) -> dict[str, Any]:
    """A parse env with a copy of ``references`` and, if given, the memo."""
    env: dict[str, Any] = {"references": dict(references)}
    if memo is not None:
        env[ENV_KEY] = memo
    return env


def inline_rule(state: StateCore) -> None:
    """The core ``inline`` rule, through the env's ``InlineMemo`` when it has one."""
    memo: InlineMemo | None = state.env.get(ENV_KEY) if isinstance(state.env, dict) else None
    for token in state.tokens:
        if token.type != "inline":
            continue
        if memo is None:
            token.children = token.children or []
            state.md.inline.parse(token.content, state.md, state.env, token.children)
        else:
            token.children = memo.parse(state.md, token.content, state.env)
