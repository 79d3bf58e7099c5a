"""LiveTable: a live table's new rows rendered alone equal the full render."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streaming.markdown import stream
from streaming.markdown.inline import InlineMemo
from streaming.markdown.ops import apply_ops
from streaming.markdown.render import BLOCK_MD, render_markdown, top_level_starts
from streaming.markdown.repair import repair_tail
from streaming.markdown.stream import StreamingMarkdown
from streaming.markdown.table import LiveTable
from streaming.markdown.tail import render_source
from tests.test_markdown_support import render_every_frame

CORPUS = sorted((Path(__file__).parent.parent / "bench" / "corpus").glob("*.md"))
_TABLE_RE = re.compile(r"(?:^\|.*\n)+", re.MULTILINE)

CASES = [
    "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n",
    "| a | b | c |\n|:-:|--|-:|\n| 1 \\| x |  | 3 | 4 |\n|  |\n| *em* | `co|de` | [l](/u) |\n",
    "a | b\n--|--\n| 1 | 2 |\n|3|4|\n",  # header without outer pipes
    "| a |\n|---|\n| x |\n- a list ends it\n| y |\n",
    "| a |\n|---|\n| x |\n\n| new | table |\n",
    "| a |\n|---|\n| x |\nno pipe: a lazy row\n| y |\n",
    "  | a |\n  |---|\n  | indented |\n   | more |\n",
    "| a | b |\n|---|---|\n| only one |\n| one | two | three |\n",
    "| a |\n|---|\n| &amp; &copy; \\* |\n| <b>raw</b> |\n| [ref] |\n",
    "| a |\n|---|\n|\n| |\n",
]


def _check_every_prefix(text: str) -> int:
    table = LiveTable(InlineMemo())
    for end in range(1, len(text) + 1):
        live = text[:end]
        lines = live[: live.rfind("\n") + 1]
        tokens = BLOCK_MD.parse(lines, {})
        starts = top_level_starts(tokens)
        if len(starts) != 1 or tokens[starts[0]].type != "table_open":
            table.remember("", "", {})
            continue
        repaired = repair_tail(live, live_type="table")
        full = render_source(repaired, {})[1]
        got = table.render(repaired, {})
        if got is None:
            table.remember(repaired, full, {})
        else:
            assert got == full, live
    return table.hits


@pytest.mark.parametrize("text", CASES)
def test_new_rows_equal_full_render_on_every_prefix(text: str) -> None:
    _check_every_prefix(text)


def test_new_rows_take_the_shortcut() -> None:
    assert _check_every_prefix(CASES[0]) >= 2
    assert _check_every_prefix(CASES[1]) >= 3


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_corpus_tables(path: Path) -> None:
    tables = _TABLE_RE.findall(path.read_text())
    assert sum(_check_every_prefix(table) for table in tables) >= len(tables)


@pytest.mark.parametrize("text", CASES)
def test_frozen_table_equals_one_shot(text: str) -> None:
    table = LiveTable(InlineMemo())
    lines = text.split("\n")
    repaired = "\n".join(lines[:3]) + "\n"
    table.remember(repaired, render_source(repaired, {})[1], {})
    block = text + "\n"
    frozen = table.frozen(block, {})
    tokens = BLOCK_MD.parse(block, {})
    if len(top_level_starts(tokens)) == 1:  # one table: the shortcut must match
        assert frozen is None or frozen == render_markdown(block)


def test_new_rows_are_sent_as_ops_without_diffing_the_tail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    render_every_frame(monkeypatch)
    renderer = StreamingMarkdown()
    renderer.feed("| a | b |\n|---|:-:|\n")
    frames = []
    monkeypatch.setattr(stream, "diff_tail", None)  # not called: the table knows its ops
    for row in ("| 1 | 2 |\n", "| 3 | 4 |\n| 5 | 6 |\n"):
        previous = renderer.html
        frame = renderer.feed(row)
        assert frame.tail_ops is not None
        assert apply_ops(previous, frame.tail_ops) == frame.tail
        frames.append(frame)
    first, second = (frame.tail_ops for frame in frames)
    assert first == [
        (1, '<tbody>\n<tr>\n<td>1</td>\n<td class="align-center">2</td>\n</tr>\n</tbody>\n')
    ]
    assert second is not None
    assert len(second) == 1
    assert second[0][0] == 2  # inside <tbody>
    assert second[0][1].count("<tr>") == 2


def test_ops_are_only_from_the_tail_that_the_table_grew() -> None:
    table = LiveTable(InlineMemo())
    source = "| a |\n|---|\n"
    html = render_source(source, {})[1]
    table.remember(source, html, {})
    grown = table.render(source + "| 1 |\n", {})
    assert grown is not None
    assert table.ops_from(html) == [(1, "<tbody>\n<tr>\n<td>1</td>\n</tr>\n</tbody>\n")]
    assert table.ops_from("<p>something else</p>\n") is None
