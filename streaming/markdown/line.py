"""The line being typed: re-render only it while the rest of the tail stays.

Most tail renders follow a few words added to the last line of a paragraph,
list item or block quote, and a full render costs O(whole live block): a
block parse, the repair's own block parse, rendering and sanitising all of it.
``LiveLine`` renders only the last line's inline content (through the
``InlineMemo``, so O(new text)) and splices its HTML between the parts of the
previous tail HTML before and after it.

When the splice is taken. After a full render of ``repaired =
repair_tail(live)``, the *base*, a later ``live`` is spliced if it only added
characters to the same last line (no newline), and in the base:

- the repair changed nothing before that line and repaired the line on its
  own: ``repaired == live[:start] + repair_inline(live[start:])``, which is
  what ``repair_tail`` does for a paragraph line, and does again for the new
  line, unless the new partial line is held back (``holds_back_partial``),
  which falls back to a full render;
- the line's inline HTML (its text past its container markers: ``>``, list
  markers, indentation) is found at the end of the base HTML, right after a
  ``<p>`` or ``<li>`` and followed only by closing tags: the line is a whole
  paragraph, or a tight list item's whole text, and the last thing shown;
- its raw text does not start with ``[`` (a reference definition is decided
  by its whole line), and no definition is in the tail (its label may be used).

Why the block structure cannot change meanwhile: a line's block role is
decided by its start (container markers, indentation), which the base already
shows followed by paragraph text; characters added at its end cannot make it
a heading, list, fence, table delimiter or thematic break (those partial lines
are held back whole), nor change earlier lines. The new inline content is
the new repaired line past the same container markers, stripped as
markdown-it strips a paragraph.

New items: when the newlines since the base end the base line and further
lines, each starting with the base line's container markers (list numbers
aside), those are the next items of the same tight list: each complete item
is rendered as it is and the partial one repaired, joined by ``</li><li>``.
A base whose last line is held back (a new item's bare marker) does not
replace a spliceable one that the new text still extends.

``frozen`` gives a finished block's final HTML the same way: its last line is
then complete and must need no repair. Tests compare the splice with the
full render on every prefix of the CommonMark examples, the corpus and
hand-made cases, and every frame of streamed runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from streaming.markdown.inline import InlineMemo, parse_env
from streaming.markdown.items import Step, next_item
from streaming.markdown.render import render_inline
from streaming.markdown.repair import container_length, holds_back_partial, repair_inline
from streaming.markdown.shapes import BLOCK_STARTS, HEADING_RE, first_shape, heading_text

_CLOSING_TAGS_RE = re.compile(r"(?:\s*</[a-z][a-z0-9]*>)*\s*")
# One complete line starting with a pipe: a paragraph, or a table's header row.
_HEADER_CANDIDATE_RE = re.compile(r" {0,3}\|[^\n]*\n(?=[^\n]*\Z)")
# The HTML right before a whole paragraph's inline content (tight items have no <p>).
_OPENERS = ("<p>", "<li>")
# (before, after) of a line that is a whole paragraph or a one-line block quote.
_ENDED_BY_BLANK = frozenset({("<p>", "</p>\n"), ("<blockquote>\n<p>", "</p>\n</blockquote>\n")})


@dataclass(frozen=True, slots=True)
class _Splice:
    """Where the last line's inline HTML sits in the base tail HTML."""

    start: int  # offset of the last line in the live source
    container: str  # the repaired line's text before the inline content
    env: dict[str, Any]  # the base parse's env: references, and the memo
    before: str  # tail HTML before the line's inline HTML
    after: str  # closing tags after it
    # Enclosing list items' (container, after), innermost last: known when the
    # line's list was entered by ``LiveLine`` itself (``items.next_item``).
    parents: tuple[tuple[str, str], ...] = ()


class LiveLine:
    """Splices re-renders of the live tail's last line into the previous tail."""

    def __init__(self, memo: InlineMemo | None) -> None:
        self.hits = 0  # renders that took the splice (tests check it is used)
        self._memo = memo
        self._base: tuple[str, str, str, dict[str, Any]] | None = None
        self._splice: _Splice | Literal[False] | None = None  # False: cannot be spliced

    def reset(self, live: str, repaired: str, html: str, refs: dict[str, Any]) -> None:
        """Take a full render of ``live`` as the new base, unless it cannot be
        spliced (its last line is held back: a new item's marker) and the
        current base can still splice what ``live`` extends."""
        old_base, old_splice = self._base, self._splice
        self._base = (live, repaired, html, refs)
        self._splice = self._locate()
        if (
            self._splice is False
            and isinstance(old_splice, _Splice)
            and old_base is not None
            and live.startswith(old_base[0])
        ):
            self._base, self._splice = old_base, old_splice

    def clear(self) -> None:
        self._base = None
        self._splice = None

    def ended_by_blank(self) -> bool:
        """Whether the base is one block that a blank line ends, and nothing else
        shown: a paragraph, or a one-line block quote (its line may follow blank
        lines, and the tail defines nothing: see ``_locate``)."""
        splice = self._splice
        return isinstance(splice, _Splice) and (splice.before, splice.after) in _ENDED_BY_BLANK

    def splice_from(self, text: str, live_from: int) -> int | None:
        """Where ``render(text[live_from:])`` would re-render from, if it may splice
        (it may still decline): the offset in ``text`` of the base's last line."""
        if self._base is None or self._splice is False:
            return None
        base_live = self._base[0]
        start = base_live.rfind("\n") + 1
        if start == len(base_live) or not text.startswith(base_live, live_from):
            return None
        return live_from + start

    def render(self, live: str, refs: dict[str, Any]) -> tuple[str, str] | None:
        """``(repaired, html)`` for ``live`` by splicing, or None: render in full."""
        spliced = self._splice_base(live) if self._base is not None else None
        return spliced if spliced is not None else self._first_line(live, refs)

    def _first_line(self, live: str, refs: dict[str, Any]) -> tuple[str, str] | None:
        """A live region that is one partial line (after blank lines), rendered
        from its inline text alone when its block is known from its start: a
        paragraph (text starting with a letter or digit: no block starts so),
        a block quote, or the first item of a list, each around that text (as
        markdown-it renders them). It becomes the base. A line that the repair
        would hold back shows nothing, without a render: a bare marker, a
        fence opener, a table row, or a complete line of pipes (a header?)."""
        body = live.lstrip("\n")
        header = _HEADER_CANDIDATE_RE.match(body)
        if header and (header.end() == len(body) or holds_back_partial(body[header.end() :])):
            # A paragraph line that may be a table's header (and a held-back partial
            # line): ``repair_tail`` holds it back until the next line tells.
            return live[: len(live) - len(body)], ""
        if not body or "\n" in body or "]:" in body:
            return None
        if holds_back_partial(body):
            # A bare marker or a table row or fence opener being typed: nothing
            # shows yet (not indented: code is shown, not held back).
            return (live[: len(live) - len(body)], "") if body[0] not in " \t" else None
        line = repair_inline(body)
        heading = HEADING_RE.fullmatch(line)
        if heading is not None:  # one line, no splice (its closing #s would be text)
            level, content = len(heading.group(1)), heading_text(heading.group(2) or "")
            env = parse_env(refs, self._memo)
            inner = self._inline_html(content, env) if content else ""
            self._splice = False
            return live[: len(live) - len(body)] + line, f"<h{level}>{inner}</h{level}>\n"
        marker = container_length(line)
        container, content = line[:marker], line[marker:].strip()
        shape = first_shape(container, content, body[marker : marker + 1])
        if shape is None:
            return None
        before, after = shape
        start = len(live) - len(body)
        env = parse_env(refs, self._memo)
        html = before + self._inline_html(content, env) + after
        repaired = live[:start] + line
        self._base = (live, repaired, html, refs)
        self._splice = _Splice(start, container, env, before, after)
        self.hits += 1
        return repaired, html

    def _splice_base(self, live: str) -> tuple[str, str] | None:
        if self._base is None:
            return None
        base_live = self._base[0]
        start = base_live.rfind("\n") + 1
        if start == len(base_live) or not live.startswith(base_live):
            return None
        newlines = live.count("\n", len(base_live))
        if self._splice is None:
            self._splice = self._locate()
        splice = self._splice
        if splice is False:
            return None
        if newlines:
            return self._next_item(live, splice)
        partial = live[start:]
        if holds_back_partial(partial):
            return None
        line = repair_inline(partial)
        prefix = len(splice.container)
        if line[:prefix] != splice.container or line[prefix : prefix + 1].strip() == "":
            return None
        html = self._inline_html(line[prefix:].strip(), splice.env)
        self.hits += 1
        return live[:start] + line, splice.before + html + splice.after

    def _next_item(self, live: str, splice: _Splice) -> tuple[str, str] | None:
        """Splice the list items that follow the base line's, which they complete.

        The base line is a whole item of a tight list (its HTML follows ``<li>``);
        each newline since ends an item, and each following line must start an
        item of that list, of a list nested in the item before it, or of an
        enclosing list ``LiveLine`` entered (``items.next_item``). Complete lines are
        rendered as they are (nothing is left to repair), the partial one
        repaired; if it is held back (a bare marker), the last complete line
        is the one repaired, as ``repair_tail`` does.
        """
        if not splice.before.endswith("<li>"):
            return None
        lines = live[splice.start :].split("\n")
        *done, line = lines
        held = holds_back_partial(line)
        if held and "|" in done[-1]:
            return None  # the repair may hold that line back too (a table header?)
        raws = done if held else lines
        texts = [*raws[:-1], repair_inline(raws[-1])]
        state: Step | None = (splice.container, splice.before, splice.after, splice.parents)
        content = ""
        for k, text in enumerate(texts):
            marker = container_length(text)
            if k == 0 and text[:marker] != splice.container:
                return None
            if k and state is not None:
                state = next_item(state, text[:marker], self._inline_html(content, splice.env))
            content = text[marker:].strip()
            if (
                state is None
                or not content
                or raws[k][marker : marker + 1] == "["
                or (k and content.startswith(BLOCK_STARTS))
            ):
                return None
        assert state is not None
        container, before, after, parents = state
        html = before + self._inline_html(content, splice.env) + after
        start = len(live) - len(line) - (len(raws[-1]) + 1 if held else 0)
        repaired_live = live[:start] + texts[-1] + ("\n" if held else "")
        if not held:
            assert self._base is not None  # spliced from it
            self._base = (live, repaired_live, html, self._base[3])
            self._splice = _Splice(start, container, splice.env, before, after, parents)
        self.hits += 1
        return repaired_live, html

    def frozen(self, block: str) -> str | None:
        """The final HTML of the finished block ``block`` by a last splice, or None.

        The block must end on the base's last line (then complete) and need no
        repair: its render is then the splice of its raw last line.
        """
        if self._base is None:
            return None
        block = block.rstrip()
        base_live = self._base[0]
        start = base_live.rfind("\n") + 1
        if (
            start == len(base_live)
            or not block.startswith(base_live.rstrip())
            or "\n" in block[start:]
        ):
            return None
        line = block[start:]
        if holds_back_partial(line) or repair_inline(line) != line:
            return None
        spliced = self._splice_base(block)
        return spliced[1] if spliced is not None else None

    def _inline_html(self, content: str, env: dict[str, Any]) -> str:
        return render_inline(content, env, self._memo)

    def _locate(self) -> _Splice | Literal[False]:
        """Check the base against the module docstring's conditions; find the line's HTML."""
        assert self._base is not None
        live, repaired, html, refs = self._base
        start = live.rfind("\n") + 1
        if (
            "]:" in live  # a definition in the tail: its label may be used on this line
            or repaired[:start] != live[:start]
            or repaired[start:] != repair_inline(live[start:])
        ):
            return False
        line = repaired[start:]
        prefix = container_length(line)
        content = line[prefix:].strip()
        # A line whose text starts with "[" may be a reference definition, decided
        # by the whole line (the repair may have dropped that "[" from ``line``).
        if not content or live[start + prefix : start + prefix + 1] == "[":
            return False
        env = parse_env(refs, self._memo)
        inline = self._inline_html(content, env)
        at = html.rfind(inline)
        # The line's content is a whole paragraph (or a tight list item's text),
        # and nothing but closing tags follows it.
        if (
            at < 0
            or not html.endswith(_OPENERS, 0, at)
            or not _CLOSING_TAGS_RE.fullmatch(html, at + len(inline))
        ):
            return False
        return _Splice(start, line[:prefix], env, html[:at], html[at + len(inline) :])
