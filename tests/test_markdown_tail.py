"""The live list shortcut (``tail.LiveList``) agrees with the full tail render."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.markdown_bench import frames
from streaming.markdown import StreamingMarkdown
from streaming.markdown.render import BLOCK_MD, MD, block_parse, parse_after_block, top_level_starts
from streaming.markdown.repair import repair_tail
from streaming.markdown.tail import LiveList, render_source

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = json.loads((FIXTURES / "commonmark_spec_0.31.2.json").read_text())
CORPUS = sorted((Path(__file__).parent.parent / "bench" / "corpus").glob("*.md"))
_LIST_LINE_RE = re.compile(r"^[ \t]*(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)", re.MULTILINE)


CASES = [
    "- a\n- b\n* c\n* d",  # another bullet: another list
    "- a\n* b\n- c\n+ d\n- e",  # lists of one item each
    "1. a\n2. b\n3) c\n4) d",  # another delimiter
    "- a\n- b\n- - -\n- c",  # a thematic break ends the list
    "- a\n\n- b\n- c",  # loose
    "- a\n- b\n\n  c\n- d",  # loose by a blank line inside an item
    "- [a]\n- b\n- [a]: /u\n- c",  # a reference definition in an item
    "3. a\n4. b *c\n5. d `e",  # ordered, not from 1; repairs in the last item
    "- a\n  - b\n- c\n  - d *e\n- f",  # nested
    "- a |\n- b | c\n- d",  # table-header hold-back of an item's line
    "- a\n- b\n# c\n- d",  # a heading ends the list
    "- a\n- b\n```\n- c\n",  # a fence ends the list
    "\n\n- a\n- b\n- c *d",  # leading blank lines (after a freeze)
    "- a\n- b\n-\n- c\n-",  # empty items
    "- a\n- b\nlazy *x\n- c\n  more",  # lazy continuation
    "- a\n- ```\n  code\n- c",  # fence inside an item
    "- a\n- b\n===\n- c\n---\n",  # setext underlines after an item
]


def _list_blocks(text: str) -> list[str]:
    """Each top-level list of ``text`` with the blank line before it."""
    tokens = BLOCK_MD.parse(text)
    lines = text.splitlines(keepends=True)
    found = []
    for i in top_level_starts(tokens):
        token = tokens[i]
        if token.type in ("bullet_list_open", "ordered_list_open") and token.map:
            found.append("\n" + "".join(lines[token.map[0] : token.map[1]]))
    return found


def _check_every_prefix(text: str) -> int:
    lists = LiveList()
    for end in range(1, len(text) + 1):
        live = text[:end]
        fast = lists.render(live, {})
        if fast is not None:
            repaired = repair_tail(live)
            assert fast == (repaired, render_source(repaired, {})[1]), live
    return lists.hits


@pytest.mark.parametrize("text", CASES)
def test_live_list_equals_full_render_on_every_prefix(text: str) -> None:
    _check_every_prefix(text)


def test_live_list_equals_full_render_on_commonmark_examples() -> None:
    examples = [e["markdown"] for e in SPEC if _LIST_LINE_RE.search(e["markdown"])]
    assert sum(_check_every_prefix(text) for text in examples) > 50


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_live_list_equals_full_render_on_corpus_lists(path: Path) -> None:
    blocks = _list_blocks(path.read_text())
    hits = sum(_check_every_prefix(block) for block in blocks)
    assert not blocks or hits > 0  # the shortcut is taken


def _frames(text: str, *, fast_lists: bool) -> list[tuple[object, ...]]:
    renderer = StreamingMarkdown()
    renderer.fast_lists = fast_lists
    renderer.__init__()  # type: ignore[misc]  # the flag is read on construction
    out = [renderer.feed(delta) for delta in frames(text, 60)]
    out.append(renderer.finish())
    return [(f.new_blocks, f.tail, f.tail_ops, f.tail_changed) for f in out]


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_stream_frames_are_the_same_with_and_without_the_list_shortcut(path: Path) -> None:
    text = path.read_text()
    assert _frames(text, fast_lists=True) == _frames(text, fast_lists=False)


def _check_parse_after_block(text: str) -> None:
    for end in range(1, len(text) + 1):
        src = text[:end]
        expected = [t.as_dict() for t in MD.parse(src, {"references": {}})]
        block_parse(src)
        reused = parse_after_block(src, {"references": {}})
        assert [t.as_dict() for t in reused] == expected, src


def test_parse_after_block_equals_a_full_parse() -> None:
    for example in SPEC:
        _check_parse_after_block(example["markdown"])
    for path in CORPUS:
        for block in _list_blocks(path.read_text()):
            _check_parse_after_block(block)


def test_parse_after_block_reuses_only_the_same_source() -> None:
    tokens = block_parse("*a*\n")
    assert MD.renderer.render(parse_after_block("*b*\n", {}), MD.options, {}) == (
        "<p><em>b</em></p>\n"
    )
    tokens = block_parse("*a*\n")
    assert parse_after_block("*a*\n", {})[0] is tokens[0]  # reused
    assert parse_after_block("*a*\n", {})[0] is not tokens[0]  # used up: parsed again
