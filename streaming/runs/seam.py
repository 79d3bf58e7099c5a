"""Where a continuation meets the partial answer it continues (Continue).

A continued answer is stored as one text: the partial answer, then what the
model wrote next. ``Seam`` joins the two as the continuation streams in, so
that the stored text has no repeated and no missing words at the join.

Contract: ``head`` is the partial answer without its trailing whitespace (the
run's renderer starts from it, a prefill is sent as it); every string that
``feed`` and ``flush`` return is appended to it, in order, and
``head + "".join(returned)`` is the continued answer. A continuation that
brings nothing (empty, whitespace only, or only a repeat) leaves the partial
answer exactly as it was, trailing whitespace included.

Two modes:

- ``verbatim`` (the model server took the partial answer as a prefill and
  continued its own text): the continuation follows ``head`` as written.
- otherwise (the model was asked, in a new turn, to continue): models often
  start again a few words back, restart the sentence or the code block, or
  drop the space a new turn begins without. The rule, in order:

  1. Leading whitespace of the continuation is set aside. Inside an open code
     fence, a first line that reopens a fence with an info string
     (```` ```python ````) is dropped: the model restarted the block.
  2. Overlap: the longest suffix of ``head`` that starts a word or a line
     (within ``OVERLAP_WINDOW`` characters), holds a letter or digit, and
     that the continuation begins with, is the repeat; it is trimmed. A
     repeat that ends inside a word is the cut word taken up again to
     complete it ("jum" then "jumps"), except after leading whitespace
     outside code ("is a" then " answer" repeats nothing). The one case the
     strings cannot tell apart: a word cut after letters it goes on with
     ("S" then "SE" of "SSE") reads as a repeat, because a model that repeats
     the cut word is common and such a word is rare.
  3. Without an overlap the join keeps the whitespace on either side as it
     is (a cut inside a word continues that word). Only when neither side
     has any: a line break before a block the continuation opens (a heading,
     list item, quote, fence or table row: one line break when it continues
     a block of the same kind, else a blank line), and outside code a space
     after a sentence's end before a capital letter.

  The continuation is held back while it could still be a repeat (at most
  ``OVERLAP_WINDOW`` characters), so a repeat never reaches the page.

``after_break`` (either mode): the partial answer ends at a tool call's chip,
so the continuation opens a new segment below it and the renderer puts the
paragraph break there (``segments.SegmentedMarkdown``): the join's own
whitespace (the model's, the partial's, a glued space) is left out, or the
stored text would read "chip.\n\n It is" (a failure or Stop in the round
after a call).
"""

from __future__ import annotations

import re

# How far back a repeat is looked for: a sentence or a few lines of code.
# Held-back text is bounded by it too (about 300 tokens).
OVERLAP_WINDOW = 1200

_WORD = re.compile(r"\w")
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
# A block the continuation opens: heading, list item, quote, fence, table row.
_BLOCK_START = re.compile(r"^(#{1,6}(?:\s|$)|[-*+]\s|\d{1,9}[.)]\s|>|`{3}|~{3}|\|)")
_SENTENCE_END = ".!?"


class Seam:
    def __init__(self, partial: str, *, verbatim: bool, after_break: bool = False) -> None:
        self.head = partial.rstrip()
        self._trailing = partial[len(self.head) :]
        self._verbatim = verbatim
        self._after_break = after_break
        self._held = ""
        self._decided = False
        self._fence = open_fence(self.head)
        # Only a fence opened before the cut line can be reopened: a cut in
        # the opening line itself ("```py") is repeated, not reopened.
        self._reopenable = open_fence(self.head.rpartition("\n")[0]) is not None
        self._candidates = _candidates(self.head)

    @property
    def decided(self) -> bool:
        return self._decided

    def feed(self, text: str) -> str:
        """The part of ``text`` to append now ("" while it may still be a repeat)."""
        if self._decided:
            return text
        self._held += text
        return self._decide(final=False)

    def flush(self) -> str:
        """The continuation ended: what is still held, joined."""
        if self._decided:
            return ""
        return self._decide(final=True)

    def _decide(self, *, final: bool) -> str:
        held = self._held
        if self._verbatim:
            if not held and not final:
                return ""
            return self._done(held or self._trailing)
        body = held.lstrip()
        if not body:
            # Whitespace only: the partial's own, else the model's.
            return self._done(self._trailing or held) if final else ""
        reopened = False
        if self._fence is not None and self._reopenable:
            first, newline, rest = body.partition("\n")
            if not newline and not final and _could_open(first, self._fence):
                return ""  # the first line may still turn out to reopen the fence
            if newline and _reopens(first, self._fence):
                reopened, held = True, rest
                body = held.lstrip()
                if not body:
                    return self._done(self._trailing) if final else ""
        lead = held[: len(held) - len(body)]
        head = self.head
        best = 0  # length of the repeat
        for i in self._candidates:  # longest first
            size = len(head) - i
            if head[i] != body[0] or size <= best:
                continue
            if len(body) <= size:
                if head.startswith(body, i):
                    if not final:
                        return ""  # still possibly this repeat: wait for more
                    return self._done(self._trailing)  # the whole continuation repeats
            elif body.startswith(head[i:]):
                # A repeat that ends inside a word completes the cut word;
                # after leading whitespace outside code it is a new word that
                # merely starts with the same letters ("is a", " answer").
                if lead and self._fence is None and _inside_word(body, size):
                    continue
                best = size
        if best:
            return self._done(body[best:])
        if self._trailing or lead:
            gap = self._trailing + lead
            if reopened and "\n" not in gap:
                gap = "\n" + gap
            return self._done(gap + body)
        return self._done(self._glue(body, reopened) + body)

    def _glue(self, body: str, reopened: bool) -> str:
        """What goes between ``head`` and ``body`` when neither has whitespace there."""
        if self._fence is not None:
            return "\n" if reopened or body.startswith(self._fence[0] * 3) else ""
        kind = _block_kind(body)
        # Not where the head ends mid-marker or mid-row ("#" + "# x", "|--" + "-|").
        if (kind and self.head[-1] not in "#>-|") or (kind == "table" and self.head[-1] == "|"):
            last_line = self.head.rpartition("\n")[2].lstrip()
            return "\n" if _block_kind(last_line) == kind else "\n\n"
        if self.head[-1] in _SENTENCE_END and body[0].isupper():
            return " "
        return ""

    def _done(self, text: str) -> str:
        self._decided = True
        self._held = ""
        # Whatever joins it is whitespace: the segment break replaces it.
        return text.lstrip() if self._after_break else text


def _inside_word(text: str, at: int) -> bool:
    return bool(_WORD.match(text[at])) and bool(_WORD.match(text[at - 1]))


def open_fence(text: str) -> str | None:
    """The marker (```` ``` ```` or ``~~~``, full length) of a code fence left
    open at the end of ``text``, or None."""
    fence: str | None = None
    for line in text.split("\n"):
        m = _FENCE_LINE.match(line)
        if m is None:
            continue
        marker, info = m.group(1), m.group(2)
        if fence is None:
            if not (marker[0] == "`" and "`" in info):
                fence = marker
        elif marker[0] == fence[0] and len(marker) >= len(fence) and not info.strip():
            fence = None
    return fence


def _reopens(line: str, fence: str) -> bool:
    m = _FENCE_LINE.match(line)
    return m is not None and m.group(1)[0] == fence[0] and bool(m.group(2).strip())


def _could_open(partial_line: str, fence: str) -> bool:
    """A first line not yet complete that may become a fence with an info string."""
    stripped = partial_line.strip()
    if len(stripped) < 3:
        return set(stripped) <= {fence[0]}
    return _FENCE_LINE.match(partial_line) is not None and stripped[0] == fence[0]


def _block_kind(line: str) -> str:
    m = _BLOCK_START.match(line)
    if m is None:
        return ""
    marker = m.group(1)
    if marker[0] in "-*+" or marker[0].isdigit():
        return "list"
    return {"#": "heading", ">": "quote", "|": "table"}.get(marker[0], "fence")


def _candidates(head: str) -> list[int]:
    """Where in ``head`` a repeat can start, longest suffix first: at a word
    after whitespace or punctuation, holding a letter or digit up to the end."""
    start = max(0, len(head) - OVERLAP_WINDOW)
    last_word = max((m.start() for m in _WORD.finditer(head, start)), default=-1)
    found = []
    for i in range(start, last_word + 1):
        c = head[i]
        if c.isspace():
            continue
        before = head[i - 1] if i else " "
        if before.isspace() or (_WORD.match(c) and not _WORD.match(before)):
            found.append(i)
    return found
