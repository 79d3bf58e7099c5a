"""The plain-text fast path: show words typed mid-line without re-rendering.

Most frames of prose add a few plain words to the line being typed. After a
full tail render, ``PlainAppend.arm`` checks whether the tail is in a state
where such text can simply be appended to the HTML; if so, ``append`` turns
each later delta of plain text into one ``TailOp`` in O(delta), until any
other character, a newline or a freeze calls for a full render again.

Why it is exact (a test compares it with full renders on the corpus): the
source needed no repair but closers at the end (of an open code span or
emphasis, which plain text goes inside), and it ends mid-line, after a letter
on that line, with a plain character that shows as the last text before the
tail's innermost closing tag. Plain characters (letters, digits, space and
``,.;:?'-``) cannot start or end a block (the line's start is decided by its
letter) nor open, close or complete inline markup, and need no escaping.
Deltas may also hold ``()/=+"%$@{}^``: mid-line they are text too (no
linkify, no raw HTML; ``(`` opens a destination only right after ``]``,
which is not plain, and the sanitiser leaves ``"`` unescaped in text), but a
render ending in one does not arm (``[f(x)](url)`` ends inside a link's text).
Trailing spaces are held back, as rendering strips them. It also arms after
a closed code span (not after the start of its closing run, which the repair
holds back and closes again) or a ``*`` emphasis closed after a letter: plain text
cannot reopen those, and goes after the closed element. Not after a
possible reference definition (``[label]: /url``): the text typed may be its
title, which turns the lines into a definition that shows nothing.
"""

from __future__ import annotations

import re

from streaming.markdown.ops import TailOp, trailing_run

_PLAIN_RE = re.compile(r"[^\W_]|[ ,.;:?'-]")
# What an armed tail may append (see the module docstring).
_PLAIN_DELTA_RE = re.compile(r"(?:[^\W_]|[ ,.;:?'\-()/=+\"%$@{}^])+")
# A source ending with a code span's closing backticks, or with a "*" run closing
# emphasis after a letter or digit (after punctuation, a letter next would
# make the run no closer: "**a.**b" is not bold).
_CLOSED_RE = re.compile(r"`$|[^\W_]\*+$")
# What the repair may have added at the end for the fast path still to apply.
_CLOSERS_RE = re.compile(r"[*_~`]*")


def _closed_count(shown: str, run: list[int], tail: str) -> int:
    """How many elements of the tail's trailing ``run`` the end of ``shown`` closed
    (a code span's backticks: its <code>; a "*" run: <em> for one star, <strong>
    for two), or 0 if the run's tags do not account for it exactly."""
    if shown.endswith("`"):
        return 1 if run and tail.startswith("</code>", run[0]) else 0
    stars = len(shown) - len(shown.rstrip("*"))
    count = 0
    for k, start in enumerate(run):
        if stars == 0:
            return k
        weight = (
            1
            if tail.startswith("</em>", start)
            else 2
            if tail.startswith("</strong>", start)
            else 0
        )
        if not weight or weight > stars:
            return 0
        stars -= weight
        count = k + 1
    return count if stars == 0 else 0


class PlainAppend:
    """Where plain text joins the current tail HTML, if anywhere."""

    def __init__(self) -> None:
        self.armed = False
        self._at = 0  # offset in the tail HTML where text is inserted
        self._depth = 0  # the TailOp depth of that position
        self._pending = ""  # trailing spaces of the source, not shown yet

    def disarm(self) -> None:
        self.armed = False

    def arm(self, live: str, repaired: str, tail: str) -> None:
        """After a full render of ``tail`` from ``repair_tail(live) == repaired``."""
        self.armed = False
        shown = live.rstrip(" ")
        line = shown[shown.rfind("\n") + 1 :]
        spaces = live[len(shown) :]
        closers = repaired[len(shown) : len(repaired) - len(spaces)]
        plain = _PLAIN_RE.fullmatch(shown[-1:]) is not None
        if not (
            "]:" not in live  # a reference definition's title may be what is typed
            and repaired.startswith(shown)
            and repaired.endswith(spaces)
            and _CLOSERS_RE.fullmatch(closers)
            # A code span's closer typed in part is held back, and closed again.
            and not (shown.endswith("`") and "`" in closers)
            and (plain or _CLOSED_RE.search(shown))
            and any(char.isalpha() for char in line)
        ):
            return
        run = trailing_run(tail)
        if plain:
            if run and tail.endswith(shown[-1], 0, run[0]):
                self.armed = True
                self._at, self._depth, self._pending = run[0], len(run), spaces
        else:
            # After a closed code span or emphasis: text goes after the elements
            # its closing run closed (a "*" run of 3 closes <strong> and <em>).
            closed = _closed_count(shown, run, tail)
            if closed and closed < len(run):
                self.armed = True
                self._at, self._depth, self._pending = run[closed], len(run) - closed, spaces

    def append(self, delta: str, tail: str) -> tuple[str, list[TailOp]] | None:
        """The new tail and its ops for source ``delta``, or None: render in full."""
        if not self.armed or not _PLAIN_DELTA_RE.fullmatch(delta):
            return None
        shown = delta.rstrip(" ")
        if not shown:
            self._pending += delta
            return tail, []
        html = self._pending + shown
        self._pending = delta[len(shown) :]
        at = self._at
        self._at += len(html)
        return tail[:at] + html + tail[at:], [(self._depth, html)]
