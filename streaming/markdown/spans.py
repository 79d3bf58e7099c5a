"""Which emphasis and strikethrough spans a partial text leaves open: markdown-it's say.

``open_spans(text)`` reads markdown-it's own delimiter balancing of ``text``
(the renderer's grammar: ``render.MD``), so that the tail repair closes
exactly what the renderer leaves open: ``***`` that closes a strong and an
emphasis together leaves nothing, ``**_**`` leaves its ``_`` as text for good
(inside a matched span), ``a*b`` may open. Counting characters cannot tell
these apart.

What is open. markdown-it pushes one delimiter per ``*`` or ``_`` (one per
``~~``) and its balancing marks each matched opener with the index of its
closer (``end``) and each matched closer as no longer able to open. A
delimiter that can open, found no closer and lies in no matched span (later
closers jump over matched spans, as CommonMark drops what they enclose) is
open: a closer written after ``text`` would look back and find it. Delimiters
in a finished link's text are balanced among themselves (markdown-it keeps
them apart), so only the top level counts.

Why the closers close what they should. ``text`` ends with neither a space
nor a delimiter run (the repair holds those back), so the closers appended
are right-flanking and can close; each looks back for the nearest open
delimiter of its marker, which, closers coming innermost first, is the one it
is for. The one exception is CommonMark's "rule of 3": when the opener could
also close (``a**b``) or the closer run could also open (``.**_``: followed
by another marker's closers), they cannot pair if the sum of their runs'
lengths is a multiple of 3 (unless both are). That opener is undecided, and
``held_from`` says where it starts, so that the repair holds it back.

Finding the delimiters. markdown-it's tokenizer builds every token of the
text, ~20 us a line, where only its delimiters are wanted here. ``_scan``
pushes them as the tokenizer does (the same runs, ``scanDelims`` flags and
lengths, and run adjacency), stopping only where a rule could take a ``*``,
``_``, ``~`` or backtick from the delimiter rules: an escape and a code span
(as markdown-it's rules take them), and a link, image or autolink, which it
skips as the tokenizer would by markdown-it's own rules in silent mode
(``skipToken``). A test compares it with the tokenizer on random texts
(``delimiters_of``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby

from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline.balance_pairs import processDelimiters
from markdown_it.rules_inline.state_inline import Delimiter

from streaming.markdown.render import MD

# What closes an open delimiter, by its marker: strikethrough pairs two tildes.
_STAR = ord("*")
_CLOSER = {_STAR: "*", ord("_"): "_", ord("~"): "~~"}
# Recent answers, by text: a frame's line splice and tail render, and the
# freeze after them, often repair the same text (a fifth of the parses).
_RECENT = 16
_recent: dict[str, OpenSpans] = {}
# What ``_scan`` stops at: an escape, a backtick run, a delimiter run.
_SCAN_RE = re.compile(r"[\\`*_~\[!<]")


@dataclass(frozen=True, slots=True)
class OpenSpans:
    """``closers`` for the spans ``text`` leaves open, innermost first; or, when
    one of them cannot be closed that way, ``held_from``: where to cut ``text``."""

    closers: str
    held_from: int | None = None


_NOTHING_OPEN = OpenSpans("")


def open_spans(text: str) -> OpenSpans:
    """The spans ``text`` leaves open (see the module docstring). ``text`` must
    not end with whitespace or an unescaped ``*``, ``_`` or ``~``. Answers are
    kept for a few recent texts (a pure function's: any thread may share them)."""
    if "*" not in text and "_" not in text and "~" not in text:
        return _NOTHING_OPEN  # no delimiter: no parse
    found = _recent.get(text)
    if found is None:
        if len(_recent) >= _RECENT:
            _recent.clear()
        found = _recent[text] = _open_spans(text)
    return found


def _open_spans(text: str) -> OpenSpans:
    state, positions = delimiters_of(text)
    delimiters = state.delimiters
    processDelimiters(state, delimiters)
    open_ones = []
    covered_until = -1  # the last closer of the matched spans so far
    for index, delim in enumerate(delimiters):
        if delim.end >= 0:
            covered_until = max(covered_until, delim.end)
        elif delim.open and index > covered_until:
            open_ones.append(delim)
    if not open_ones:
        return _NOTHING_OPEN
    closers = "".join(_CLOSER[delim.marker] for delim in reversed(open_ones))
    starts = [positions[delim.token] for delim in open_ones]
    held_from = _undecided(text, closers, open_ones, starts)
    return OpenSpans(closers) if held_from is None else OpenSpans("", held_from)


def delimiters_of(text: str) -> tuple[StateInline, dict[int, int]]:
    """An inline state of ``text`` holding its top-level delimiters as
    markdown-it's tokenizer pushes them (not balanced yet), and where each
    starts in ``text``, by its ``token``."""
    positions: dict[int, int] = {}
    state = StateInline(text, MD, {}, [])
    _scan(state, positions)
    return state, positions


def _scan(state: StateInline, positions: dict[int, int]) -> None:
    """Push the delimiters of ``state.src`` as the tokenizer would (see the
    module docstring), and record where they start.

    ``token`` stands for the index of the delimiter's text token: what
    balancing reads of it is whether two delimiters are adjacent (one run),
    so it grows by one within a run and by two between runs.
    """
    src = state.src
    delimiters = state.delimiters
    token = 0
    i = 0
    while (found := _SCAN_RE.search(src, i)) is not None:
        i = found.start()
        char = src[i]
        if char == "\\":
            i += 2  # an escape: the next character is text (or a line break)
            continue
        if char in "[!<":
            # A link, image or autolink, whole, as the tokenizer would take it
            # (its rules in silent mode); else the character is text.
            state.pos = i
            MD.inline.skipToken(state)
            i = state.pos
            continue
        end = i + 1
        while end < len(src) and src[end] == char:
            end += 1
        if char == "`":
            # A code span up to the next run of the same length; else text.
            closer = _closing_run(src, end, end - i)
            i = closer if closer >= 0 else end
            continue
        scanned = state.scanDelims(i, char != "_")
        marker = ord(char)
        if char == "~":
            if scanned.length < 2:
                i = end
                continue
            width, length, start = 2, 0, i + scanned.length % 2  # an odd "~" is text
        else:
            width, length, start = 1, scanned.length, i
        for position in range(start, end, width):
            delimiters.append(
                Delimiter(marker, length, token, -1, scanned.can_open, scanned.can_close)
            )
            positions[token] = position
            token += 1
        token += 1
        i = end


def _closing_run(text: str, start: int, length: int) -> int:
    """The end of the first run of exactly ``length`` backticks from ``start``, or -1."""
    tick = text.find("`", start)
    while tick >= 0:
        end = tick
        while end < len(text) and text[end] == "`":
            end += 1
        if end - tick == length:
            return end
        tick = text.find("`", end)
    return -1


def _undecided(
    text: str, closers: str, open_ones: list[Delimiter], starts: list[int]
) -> int | None:
    """Where the last open delimiter run starts that ``closers`` would not
    close (the rule of 3), if any. Closers of one marker in a row are one run;
    its flanking (markdown-it's ``scanDelims`` on ``text + closers``) and
    length are what the rule looks at."""
    if all(not opener.close for opener in open_ones) and len(set(closers)) == 1:
        return None  # one closer run, at the end: it cannot open, nor the openers close
    probe = StateInline(text + closers, MD, {}, [])
    start = len(text)
    held_from: int | None = None
    pairs = list(zip(open_ones, starts, strict=True))
    for marker, run in groupby(reversed(pairs), key=lambda pair: pair[0].marker):
        openers = list(run)
        closer_run = probe.scanDelims(start, marker == _STAR)
        start += len(_CLOSER[marker]) * len(openers)
        for opener, position in openers:
            if (
                opener.length  # 0 for strikethrough: no rule of 3
                and (opener.close or closer_run.can_open)
                and (opener.length + closer_run.length) % 3 == 0
                and (opener.length % 3 or closer_run.length % 3)
            ):
                held_from = position if held_from is None else max(held_from, position)
    if held_from is not None:
        # From the start of the open part of its run ("**" of "a.**,").
        same_run = set(starts)
        while held_from - 1 in same_run and text[held_from - 1] == text[held_from]:
            held_from -= 1
    return held_from


def first_changed_run(src: str, other: str, starts: list[tuple[int, int]]) -> int | None:
    """The index of the first ``(a, b)`` of ``starts`` where the delimiter run
    starting at ``a`` in ``src`` and the one at ``b`` in ``other`` differ in
    length or in how they may open and close (markdown-it's ``scanDelims``);
    None if they all agree."""
    if not starts:
        return None
    one = StateInline(src, MD, {}, [])
    two = StateInline(other, MD, {}, [])
    for index, (a, b) in enumerate(starts):
        if one.scanDelims(a, src[a] != "_") != two.scanDelims(b, other[b] != "_"):
            return index
    return None
