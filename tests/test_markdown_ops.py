"""Append-only tail ops: exact on strings, agreeing with a DOM tree, found for plain appends."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaming.markdown import StreamingMarkdown, render_markdown
from streaming.markdown.ops import VOID, TailOp, apply_ops, diff_tail, trailing_run
from tests.test_markdown_support import StreamRun, check_html, random_cuts, render_every_frame
from tests.test_markdown_support import stream as stream_text

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = json.loads((FIXTURES / "commonmark_spec_0.31.2.json").read_text())
CORPUS = sorted((Path(__file__).parent.parent / "bench" / "corpus").glob("*.md"))
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


# --- a DOM-like tree from the stdlib parser: what the browser's ops act on ---


@dataclass
class Node:
    tag: str
    start: str  # the start tag as written
    children: list[Node | str] = field(default_factory=list)

    def last_element_child(self) -> Node | None:
        elements = [c for c in self.children if isinstance(c, Node)]
        return elements[-1] if elements else None

    def inner(self) -> str:
        return "".join(c if isinstance(c, str) else c.outer() for c in self.children)

    def outer(self) -> str:
        return self.start + ("" if self.tag in VOID else self.inner() + f"</{self.tag}>")


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.root = Node("#root", "")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, self.get_starttag_text() or "")
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, (tag, self.stack[-1].tag)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)

    def handle_entityref(self, name: str) -> None:
        self.stack[-1].children.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.stack[-1].children.append(f"&#{name};")


def parse_tree(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], f"unbalanced: {html!r}"
    return builder.root


def apply_ops_to_tree(html: str, ops: list[TailOp]) -> str:
    """The page's semantics: follow lastElementChild ``depth`` times, append the fragment."""
    root = parse_tree(html)
    for depth, fragment in ops:
        node: Node | None = root
        for _ in range(depth):
            assert node is not None
            node = node.last_element_child()
        assert node is not None, (depth, html)
        node.children.extend(parse_tree(fragment).children)
    return root.inner()


def check_frames(run: StreamRun) -> int:
    """Every frame's ops turn the previous tail into its tail, on strings and on a tree."""
    previous = ""
    checked = 0
    for k, frame in enumerate(run.frames):
        if frame.tail_ops is not None:
            assert not frame.new_blocks
            assert apply_ops(previous, frame.tail_ops) == frame.tail
            if len(previous) < 4000 or k % 40 == 0:  # parsing every long tail is quadratic
                assert apply_ops_to_tree(previous, frame.tail_ops) == frame.tail
            for _, fragment in frame.tail_ops:
                assert check_html(fragment).errors == [], fragment
            checked += len(frame.tail_ops)
        previous = frame.tail
    return checked


# --- the string model ---


def test_trailing_run_lists_the_closing_tags_after_the_last_content() -> None:
    html = "<ul>\n<li><p>a <em>b</em></p>\n</li>\n</ul>\n"
    assert [html[i : html.index(">", i) + 1] for i in trailing_run(html)] == [
        "</em>",
        "</p>",
        "</li>",
        "</ul>",
    ]
    assert trailing_run("<p>a</p>\ntext") == []


@pytest.mark.parametrize(
    ("prev", "new", "ops"),
    [
        ("<p>Hello wor</p>\n", "<p>Hello world</p>\n", [(1, "ld")]),
        (
            "<p>a <strong>b</strong></p>\n",
            "<p>a <strong>bc</strong> d</p>\n",
            [(2, "c"), (1, " d")],
        ),
        (
            "<ul>\n<li>a</li>\n</ul>\n",
            "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n",
            [(1, "<li>b</li>\n")],
        ),
        ("<p>a</p>\n", "<p>a</p>\n<h2>b</h2>\n", [(0, "<h2>b</h2>\n")]),
        ("", "<p>x</p>\n", [(0, "<p>x</p>\n")]),
        ("<p>a</p>\n", "<p>a</p>\n", []),
    ],
)
def test_diff_tail_finds_appends(prev: str, new: str, ops: list[TailOp]) -> None:
    assert diff_tail(prev, new) == ops
    assert apply_ops(prev, ops) == new


@pytest.mark.parametrize(
    ("prev", "new"),
    [
        ("<p>Title</p>\n", "<h2>Title</h2>\n"),  # setext: a paragraph became a heading
        ("<p>a <em>b</em></p>\n", "<p>a *b</p>\n"),  # a repair taken back
        ("<p>a &lt;</p>\n", "<p>a &amp;</p>\n"),
        ("<p>ab</p>\n", "<p>a</p>\n"),  # shrank
        ("<ul>\n<li>a</li>\n</ul>\n", "<ul>\n<li>\n<p>a</p>\n</li>\n</ul>\n"),  # became loose
    ],
)
def test_diff_tail_refuses_changes_to_what_is_shown(prev: str, new: str) -> None:
    assert diff_tail(prev, new) is None


def test_apply_ops_rejects_a_depth_beyond_the_trailing_run() -> None:
    with pytest.raises(ValueError, match="depth"):
        apply_ops("<p>a</p>\n", [(2, "x")])


# --- plain appends are always ops ---


def _slow_renderer() -> StreamingMarkdown:
    renderer = StreamingMarkdown()
    renderer.fast_appends = False  # every frame a full re-render, diffed by diff_tail
    return renderer


def _ops_every_frame(pieces: list[str]) -> list[list[TailOp]]:
    renderer = _slow_renderer()
    found = []
    with pytest.MonkeyPatch.context() as patch:
        render_every_frame(patch)
        renderer.feed(pieces[0])
        for piece in pieces[1:]:
            frame = renderer.feed(piece)
            assert frame.tail_ops is not None, (piece, frame.tail)
            found.append(frame.tail_ops)
    return found


@settings(max_examples=30, deadline=None)
@given(st.lists(WORDS, min_size=2, max_size=20))
def test_words_added_to_a_paragraph_are_ops(words: list[str]) -> None:
    ops = _ops_every_frame(["Start"] + [f" {w}" for w in words])
    assert all(depth == 1 for frame_ops in ops for depth, _ in frame_ops)


@settings(max_examples=30, deadline=None)
@given(st.lists(WORDS, min_size=2, max_size=12))
def test_items_added_to_a_list_are_ops(items: list[str]) -> None:
    _ops_every_frame([f"- {item}\n" for item in items])


@settings(max_examples=30, deadline=None)
@given(st.lists(WORDS, min_size=2, max_size=30), st.sampled_from(["python", "", "js"]))
def test_lines_added_to_a_code_block_are_ops(lines: list[str], lang: str) -> None:
    _ops_every_frame([f"```{lang}\n", *(f"{w} = {w}({w!r})\n" for w in lines)])


# --- every frame of real streams ---


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_corpus_frames_ops_apply_exactly(path: Path, data: st.DataObject) -> None:
    text = path.read_text()
    run = stream_text(text, random_cuts(data, text, (3, 40)))
    assert check_frames(run) > 0
    assert run.result == render_markdown(text)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_corpus_plain_appends_equal_full_renders(path: Path, data: st.DataObject) -> None:
    """The plain-text fast path shows exactly what a full re-render would."""
    text = path.read_text()
    size = data.draw(st.integers(2, 30), label="delta size")
    bounds = [*range(0, len(text), size), len(text)]
    fast, slow = StreamingMarkdown(), _slow_renderer()
    with pytest.MonkeyPatch.context() as patch:
        render_every_frame(patch)
        for a, b in itertools.pairwise(bounds):
            assert fast.feed(text[a:b]).tail == slow.feed(text[a:b]).tail, text[:b][-80:]


@pytest.mark.parametrize("example", SPEC, ids=lambda e: f"spec{e['example']}")
def test_spec_example_frames_ops_apply_exactly(example: dict[str, str]) -> None:
    text = example["markdown"]
    check_frames(stream_text(text, list(range(len(text)))))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([e["markdown"] for e in SPEC]),
    st.sampled_from([e["markdown"] for e in SPEC]),
)
def test_diff_tail_between_any_renders_is_exact_when_found(a: str, b: str) -> None:
    prev, new = render_markdown(a), render_markdown(a + b)
    ops = diff_tail(prev, new)
    if ops is not None:
        assert apply_ops(prev, ops) == new
        assert apply_ops_to_tree(prev, ops) == new
