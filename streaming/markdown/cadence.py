"""When the live tail is re-rendered: a budget that keeps render work linear.

Plain words typed mid-line are appended without a render, and an open fence
renders each line as it completes; everything else (markup, a new line, a new
list item or table row) needs a render of the tail, which costs markdown-it's
fixed price plus the length of what is re-rendered (the line being typed when
it can be spliced, else the whole live block).

``Cadence`` decides when such a render is due:

- not more often than every ``TAIL_EVERY_FRAMES`` frames;
- not while the partial line the last render held back (a table row, a list
  marker) is still held back the same way: nothing would change;
- when the *budget* allows: every character that arrives earns
  ``RENDER_BUDGET`` characters of render, and a render spends its cost
  (``RENDER_OVERHEAD`` + its length). Total render work is thus at most
  ``RENDER_BUDGET`` times the answer's length plus the forced renders below,
  however long a list, table or paragraph grows;
- but at least every ``MAX_TAIL_WAIT_FRAMES`` frames, and at once for the first
  text of a new block, so that nothing waits long to be shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from streaming.markdown.repair import holds_back_partial

TAIL_EVERY_FRAMES = 2  # at 50 ms frames: at most ~10 renders a second
RENDER_BUDGET = 3
RENDER_OVERHEAD = 100  # a render's fixed cost (markdown-it's, nh3's), in characters
MAX_TAIL_WAIT_FRAMES = 6  # 300 ms at 50 ms frames
_MAX_BUDGET = 4000  # what a long quiet stretch (an open fence) may save up
# A line that may be (or open) code: inside code a partial line is shown, not
# held back, so the shortcut for unchanged held-back lines is not taken.
_MAY_BE_CODE_RE = re.compile(r"^(?: {4}|\t)|```|~~~", re.MULTILINE)


class Cadence:
    """The render schedule of one renderer's live tail."""

    def __init__(self) -> None:
        self.frames = 0  # frames since the last tail render
        self._budget = 0
        self._held: str | None = None  # the live complete lines, if their partial line was held

    def tick(self, chars: int) -> None:
        """A frame with ``chars`` new characters."""
        self.frames += 1
        self._budget = min(self._budget + RENDER_BUDGET * chars, _MAX_BUDGET)

    def due(self, text: str, live_from: int, *, fresh: bool, cost: Callable[[], int]) -> bool:
        """Whether the tail of ``text[live_from:]`` should be re-rendered now.

        ``fresh``: the tail shows nothing of this block yet. ``cost``: the
        render's cost in characters (asked only when it decides).
        """
        if not fresh and self.frames < TAIL_EVERY_FRAMES:
            return False
        if self._held is not None and self._still_held(text, live_from):
            return False
        return fresh or self.frames >= MAX_TAIL_WAIT_FRAMES or self._budget >= cost()

    def rendered(self, live: str, cost: int) -> None:
        """The tail of ``live`` was re-rendered at ``cost``."""
        self._budget = max(self._budget - cost, 0)
        lines_end = live.rfind("\n") + 1
        partial = live[lines_end:]
        held = partial and holds_back_partial(partial) and not _MAY_BE_CODE_RE.search(live)
        self._held = live[:lines_end] if held else None

    def restart(self) -> None:
        """The live region moved (blocks were frozen)."""
        self._held = None

    def _still_held(self, text: str, live_from: int) -> bool:
        assert self._held is not None
        lines_end = text.rfind("\n") + 1
        partial = text[lines_end:]
        return (
            lines_end - live_from == len(self._held)
            and holds_back_partial(partial)
            and not _MAY_BE_CODE_RE.search(partial)
            and text.startswith(self._held, live_from)
        )
