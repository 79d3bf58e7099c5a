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
Trailing spaces are held back, as rendering strips them. Not after a
possible reference definition (``[label]: /url``): the text typed may be its
title, which turns the lines into a definition that shows nothing.
"""

from __future__ import annotations

import re

from streaming.markdown.ops import TailOp, trailing_run

_PLAIN_RE = re.compile(r"[^\W_]|[ ,.;:?'-]")
_PLAIN_DELTA_RE = re.compile(r"(?:[^\W_]|[ ,.;:?'-])+")
# What the repair may have added at the end for the fast path still to apply.
_CLOSERS_RE = re.compile(r"[*_~`]*")


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
        if not (
            "]:" not in live  # a reference definition's title may be what is typed
            and repaired.startswith(shown)
            and repaired.endswith(spaces)
            and _CLOSERS_RE.fullmatch(closers)
            and _PLAIN_RE.fullmatch(shown[-1:])
            and any(char.isalpha() for char in line)
        ):
            return
        run = trailing_run(tail)
        if run and tail.endswith(shown[-1], 0, run[0]):
            self.armed = True
            self._at, self._depth, self._pending = run[0], len(run), spaces

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
