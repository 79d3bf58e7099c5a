"""A live table: earlier rows rendered once, each new row on its own.

A live top-level table is shown row by row (``repair_tail`` holds a partial
row back), and re-rendering all of it for every new row costs O(rows²) over
the table, plus markdown-it's fixed cost per call. ``LiveTable`` renders the
header once, from the header and delimiter rows (once the stream's parse has
made the live block a table), keeps that or the last full render, and
appends the rows of the new complete lines to it, rendering each row as
markdown-it's table rule does: the line is split on unescaped pipes, the
outer empty cells dropped, cut or padded to the header's column count, and
each cell's trimmed text rendered inline; the column alignments are read from
the header cells of the kept HTML. The rows added are also the frame's
append ops (``ops_from``: inside ``<tbody>``), so the tails need no diff.

Why it is exact: a body row depends only on its own line and on the column
count and alignments that the header and delimiter rows fix. The shortcut is
taken only for lines that surely are body rows: they start with ``|`` after
fewer than four spaces, so no other block (a list, quote, heading, fence,
thematic break, indented code) can begin there and end the table. Anything
else (a line without a leading pipe, a blank line) renders in full. A test
compares it with the full render on every prefix of the corpus' tables and of
hand-made edge cases.
"""

from __future__ import annotations

import re
from typing import Any

from markdown_it.common.utils import mdTrim
from markdown_it.rules_block.table import escapedSplit

from streaming.markdown.inline import InlineMemo, parse_env
from streaming.markdown.ops import TailOp
from streaming.markdown.render import render_inline

_END_BODY = "</tbody>\n</table>\n"
_END_HEAD = "</thead>\n</table>\n"
_HEADER_CELL_RE = re.compile(r'<th(?: class="(align-[a-z]+)")?>')
_ROW_LINE_RE = re.compile(r" {0,3}\|")
# markdown-it ends a table once it has padded this many missing cells; below
# rows x columns of that, it cannot have.
_MAX_PADDED_CELLS = 0x10000


class LiveTable:
    """Extends the previous render of a live table by its new rows."""

    def __init__(self, memo: InlineMemo | None) -> None:
        self.hits = 0  # renders that took the shortcut (tests check it is used)
        self._memo = memo
        self._last: tuple[str, str, int] = ("", "", -1)  # (repaired, html, references)
        self._cells: list[str] = []  # each column's opening tag
        self._rows = 0  # lines of the table so far
        # The last ``render``: the HTML it extended, and the ops that did it.
        self._grown: tuple[str, list[TailOp]] = ("", [])

    def remember(self, repaired: str, html: str, refs: dict[str, Any]) -> None:
        """Note a full render of the live table."""
        if not (html.startswith("<table>") and html.count("<table>") == 1):
            repaired = ""  # not one table: no shortcut from this render
        self._last = (repaired, html, len(refs))
        head = html[: html.find("</thead>")]
        self._cells = [
            f'<td class="{match.group(1)}">' if match.group(1) else "<td>"
            for match in _HEADER_CELL_RE.finditer(head)
        ]
        self._rows = repaired.count("\n")

    def frozen(self, block: str, refs: dict[str, Any]) -> str | None:
        """The final HTML of the finished table ``block`` from the last render and
        the rows added since, or None.

        A table's repair only holds back a partial row, so the render of its
        complete lines is the one-shot render of the block.
        """
        old, html, _ = self._last
        if not old or not html.startswith("<table>"):
            return None
        if old.rstrip() == block.rstrip():
            return html
        return self.render(block.rstrip() + "\n", refs)

    def render(self, repaired: str, refs: dict[str, Any]) -> str | None:
        """The HTML of ``repaired`` from the last render plus its new rows, or None."""
        if not self._last[0] and not self._head(repaired, refs):
            return None
        old, html, count = self._last
        if count != len(refs) or not self._cells or not repaired.startswith(old):
            return None
        if repaired == old:
            self.hits += 1
            self._grown = (html, [])
            return html
        added = repaired[len(old) :]
        if not added.endswith("\n") or not old.endswith("\n"):
            return None
        lines = added[:-1].split("\n")
        if not all(_ROW_LINE_RE.match(line) for line in lines):
            return None
        self._rows += len(lines)
        if self._rows * len(self._cells) > _MAX_PADDED_CELLS:
            return None  # markdown-it may have stopped padding rows: render in full
        body = "".join(self._row(line, refs) for line in lines)
        previous = html
        if html.endswith(_END_BODY):  # rows go at the end of <tbody>, the table's last child
            html = html[: -len(_END_BODY)] + body + _END_BODY
            self._grown = (previous, [(2, body)])
        elif html.endswith(_END_HEAD):  # the first row: <tbody> goes at the end of <table>
            tbody = "<tbody>\n" + body + "</tbody>\n"
            html = html[: -len("</table>\n")] + tbody + "</table>\n"
            self._grown = (previous, [(1, tbody)])
        else:
            return None
        self.hits += 1
        self._last = (repaired, html, count)
        return html

    def ops_from(self, tail: str) -> list[TailOp] | None:
        """The ops (``ops.TailOp``) that turn ``tail`` into the last ``render``'s
        HTML, if that render extended ``tail`` itself, else None."""
        previous, ops = self._grown
        return ops if previous == tail else None

    def _head(self, repaired: str, refs: dict[str, Any]) -> bool:
        """Render the table's header from its first two lines, as markdown-it's
        table rule does (the parse that made the live block a table validated
        them), and keep it as the last render."""
        body = repaired.lstrip("\n")
        lines = body.split("\n", 2)
        if len(lines) < 3:
            return False  # the delimiter row is not complete
        header, delimiter = lines[0], lines[1]
        aligns = []
        columns = delimiter.split("|")
        for i, column in enumerate(columns):
            cell = mdTrim(column)
            if not cell:
                if i in (0, len(columns) - 1):
                    continue  # outer pipes
                return False
            if cell.endswith(":"):
                aligns.append("center" if cell.startswith(":") else "right")
            else:
                aligns.append("left" if cell.startswith(":") else "")
        names = escapedSplit(mdTrim(header))
        if names and names[0] == "":
            names.pop(0)
        if names and names[-1] == "":
            names.pop()
        if not names or len(names) != len(aligns):
            return False
        env = parse_env(refs, self._memo)
        cells = []
        for name, align in zip(names, aligns, strict=True):
            opener = f'<th class="align-{align}">' if align else "<th>"
            cells.append(f"{opener}{self._inline(mdTrim(name), env)}</th>\n")
        head = f"<table>\n<thead>\n<tr>\n{''.join(cells)}</tr>\n</thead>\n</table>\n"
        lines_source = repaired[: len(repaired) - len(body)] + f"{header}\n{delimiter}\n"
        self.remember(lines_source, head, refs)
        return True

    def _row(self, line: str, refs: dict[str, Any]) -> str:
        columns = escapedSplit(mdTrim(line))
        if columns and columns[0] == "":
            columns.pop(0)
        if columns and columns[-1] == "":
            columns.pop()
        env = parse_env(refs, self._memo)
        cells = []
        for i, opener in enumerate(self._cells):
            content = mdTrim(columns[i]) if i < len(columns) and columns[i] else ""
            cells.append(f"{opener}{self._inline(content, env)}</td>\n")
        return "<tr>\n" + "".join(cells) + "</tr>\n"

    def _inline(self, content: str, env: dict[str, Any]) -> str:
        return render_inline(content, env, self._memo) if content else ""
