"""StreamingMarkdown: the frozen-blocks invariant, tail repair in frames, the frame protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.markdown_bench import frames
from streaming.markdown import Frame, StreamingMarkdown, render_markdown
from streaming.markdown.tail import render_source, render_tail
from tests.test_markdown_support import check_html, random_cuts, render_every_frame, stream

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = json.loads((FIXTURES / "commonmark_spec_0.31.2.json").read_text())
CORPUS = sorted((Path(__file__).parent.parent / "bench" / "corpus").glob("*.md"))
FENCE_MARKERS = ("```", "~~~")

# Spec examples are small and many: few random splits each, plus char by char.
SPEC_SETTINGS = settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _cuts(text: str) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(text)), max_size=min(len(text), 40))


def _assert_frames_sound(text: str, pages: list[str]) -> None:
    final = render_markdown(text)
    final_text = check_html(final).text
    for page in pages:
        report = check_html(page)
        assert report.errors == [], (page, report.errors)
        for marker in FENCE_MARKERS:
            # A fence marker may show outside code only if the final render shows one.
            assert marker not in report.text or marker in final_text, page


@pytest.mark.parametrize("example", SPEC, ids=lambda e: f"spec{e['example']}")
def test_spec_example_char_by_char_equals_one_shot(example: dict[str, str]) -> None:
    text = example["markdown"]
    run = stream(text, list(range(len(text))))
    assert run.result == render_markdown(text)
    assert run.renderer.html == run.result
    _assert_frames_sound(text, run.shown())


@pytest.mark.parametrize("example", SPEC, ids=lambda e: f"spec{e['example']}")
@SPEC_SETTINGS
@given(data=st.data())
def test_spec_example_random_split_equals_one_shot(
    example: dict[str, str], data: st.DataObject
) -> None:
    text = example["markdown"]
    run = stream(text, data.draw(_cuts(text)))
    assert run.result == render_markdown(text)
    _assert_frames_sound(text, run.shown())


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_corpus_random_split_equals_one_shot(path: Path, data: st.DataObject) -> None:
    text = path.read_text()
    run = stream(text, random_cuts(data, text, (8, 60)))
    assert run.result == render_markdown(text)
    assert run.final.replace is None
    # Checking every whole page is quadratic; the tails are what the repairs shape.
    final_text = check_html(render_markdown(text)).text
    for frame in run.frames:
        report = check_html("".join(frame.new_blocks) + frame.tail)
        assert report.errors == [], frame.tail
        assert "```" not in report.text or "```" in final_text, frame.tail


def test_finished_blocks_are_sent_once_and_never_change() -> None:
    text = "# Title\n\nFirst paragraph.\n\n- a\n- b\n\nLast words"
    run = stream(text, list(range(len(text))))
    streamed = [b for f in run.frames for b in f.new_blocks]
    # The list is finished by a letter in column 0 after a blank line.
    assert streamed == [
        "<h1>Title</h1>\n",
        "<p>First paragraph.</p>\n",
        "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n",
    ]
    assert run.final.new_blocks == []
    assert run.final.tail == "<p>Last words</p>\n"
    assert run.result == render_markdown(text)


def test_blocks_freeze_as_soon_as_nothing_can_change_them() -> None:
    renderer = StreamingMarkdown()
    assert renderer.feed("# Title\n").new_blocks == ["<h1>Title</h1>\n"]
    assert renderer.feed("Para").new_blocks == []
    assert renderer.feed("graph\n").new_blocks == []  # a setext underline may follow
    assert renderer.feed("\n").new_blocks == ["<p>Paragraph</p>\n"]
    assert renderer.feed("- a\n\n").new_blocks == []  # the list may go on
    assert renderer.feed("  b\n\n").new_blocks == []
    assert renderer.feed("N").new_blocks == [render_markdown("- a\n\n  b\n")]
    assert renderer.feed("ext\n```\nx\n```\n").new_blocks == [
        "<p>Next</p>\n",
        render_markdown("```\nx\n```\n"),
    ]
    assert renderer.finish().tail == ""
    assert renderer.html == render_markdown(renderer.text)


@pytest.mark.parametrize(
    ("text", "expected_blocks"),
    [
        ("Para\n---\n\nnext\n", ["<h2>Para</h2>\n"]),  # setext turns the paragraph into h2
        ("- a\n\n- b\n\nafter\n", ["<ul>\n<li>\n<p>a</p>\n</li>\n<li>\n<p>b</p>\n</li>\n</ul>\n"]),
        ("> a\nlazy\n\nafter\n", ["<blockquote>\n<p>a\nlazy</p>\n</blockquote>\n"]),
        ("    code\n\nafter\n", ["<pre><code>code\n</code></pre>\n"]),
        ("| a |\n| - |\n| 1 |\n\nafter\n", [render_markdown("| a |\n| - |\n| 1 |\n")]),
    ],
)
def test_growing_blocks_freeze_only_when_finished(text: str, expected_blocks: list[str]) -> None:
    run = stream(text, list(range(len(text))))
    assert [b for f in run.frames for b in f.new_blocks] == expected_blocks
    assert run.result == render_markdown(text)


def test_late_reference_definition_sends_one_counted_replacement() -> None:
    text = "See [foo] here.\n\nMore text.\n\n[foo]: https://example.org\n\nEnd.\n"
    run = stream(text, list(range(len(text))))
    assert run.final.replace == render_markdown(text)
    assert 'href="https://example.org"' in run.final.replace
    assert run.renderer.full_replacements == 1
    assert run.renderer.html == run.final.replace


def test_reference_defined_before_use_needs_no_replacement() -> None:
    text = "[foo]: https://example.org\n\nSee [foo].\n\nEnd.\n"
    run = stream(text, list(range(len(text))))
    assert run.final.replace is None
    assert run.result == render_markdown(text)
    assert run.renderer.full_replacements == 0


def test_unclosed_fence_shows_a_highlighted_closed_code_block() -> None:
    renderer = StreamingMarkdown()
    frame = renderer.feed("Intro\n\n```python\ndef f(x):\n    return x\n")
    assert '<div class="code-block">' in frame.tail
    assert '<span class="k">def</span>' in frame.tail
    assert "```" not in frame.tail


def test_partial_fence_opener_is_held_back() -> None:
    renderer = StreamingMarkdown()
    assert renderer.feed("```pyth").tail == ""
    assert 'class="language-python"' in renderer.feed("on\nx = 1\n").tail


def test_half_typed_inline_markup_never_shows_raw() -> None:
    renderer = StreamingMarkdown()
    assert renderer.feed("Some **bol").tail == "<p>Some <strong>bol</strong></p>\n"
    assert "[" not in renderer.feed("d** and [a link](https://exa").tail
    assert renderer.finish().tail == render_markdown(renderer.text)


def test_tail_changed_is_false_when_nothing_new_is_shown() -> None:
    renderer = StreamingMarkdown()
    first = renderer.feed("Hello")
    again = renderer.feed("")
    assert first.tail_changed
    assert not again.tail_changed
    assert again.tail == first.tail


def test_long_code_block_grows_by_small_appends_every_line() -> None:
    renderer = StreamingMarkdown()
    frames = [renderer.feed("```python\n")]
    frames += [renderer.feed(f"value_{i} = compute({i}, 'x')\n") for i in range(300)]
    final = renderer.finish()
    assert all(f.tail_changed and f.tail_ops is not None for f in frames[1:])
    sent = len(frames[0].tail) + sum(len(h) for f in frames[1:] for _, h in f.tail_ops or [])
    assert sent + len(final.tail) <= 3 * len(final.tail)
    assert frames[-1].tail == final.tail  # simple lines: highlighted as in the final block


def test_open_fence_holds_back_its_partial_line() -> None:
    renderer = StreamingMarkdown()
    renderer.feed("```python\nx = 1\n")
    frame = renderer.feed("zeta = ")
    assert not frame.tail_changed
    assert "zeta" not in frame.tail
    frame = renderer.feed("2\n")
    assert frame.tail_ops is not None
    assert "".join(h for _, h in frame.tail_ops).count('class="n">zeta<') == 1


def test_spoken_has_one_entry_per_block_and_the_final_tail() -> None:
    renderer = StreamingMarkdown()
    first = renderer.feed("# Intro\n\n```python\nx = 1\ny = 2\n```\n\n| a | b |\n|---|---|\n")
    assert first.spoken == ["Intro.", "Code block, Python, 2 lines."]
    final = renderer.finish()
    assert final.spoken == ["Table, 2 columns, 0 rows."]


def test_crlf_split_across_deltas_is_one_line_end() -> None:
    text = "a\r\n\r\n- b\r\n"
    run = stream(text, [1, 2, 3, 4, 5])
    assert run.result == render_markdown(text)
    assert run.renderer.text == "a\n\n- b\n"


def test_feed_after_finish_is_an_error() -> None:
    renderer = StreamingMarkdown()
    renderer.finish()
    with pytest.raises(RuntimeError):
        renderer.feed("x")


def test_frame_defaults_match_the_contract() -> None:
    frame = Frame([])
    assert (frame.tail, frame.replace, frame.spoken, frame.tail_changed) == ("", None, [], True)
    assert frame.tail_ops is None


def _check_tails(deltas: list[str]) -> int:
    """Feed ``deltas``; check each frame's tail is the full render of the source it
    shows (reading the renderer's bookkeeping); return how many were checked."""
    renderer = StreamingMarkdown()
    checked = 0
    for delta in deltas:
        frame = renderer.feed(delta)
        if renderer._fence is not None or renderer._tail_src_len < 0:
            continue  # an open fence shows its complete lines, highlighted one by one
        start = renderer._live_from
        live = renderer.text[start : start + renderer._tail_src_len]
        repaired, _ = render_tail(live, renderer._live_type, renderer._refs, None)
        assert frame.tail == render_source(repaired, renderer._refs)[1], live
        checked += 1
    return checked


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_every_tail_is_the_full_render_of_the_source_it_shows(path: Path) -> None:
    # The shortcuts (plain appends, spliced lines, live lists and tables, the
    # inline memo) must each give what a full repair-and-render would.
    assert _check_tails(frames(path.read_text(), 60)) > 10


def test_every_tail_char_by_char_on_commonmark_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    render_every_frame(monkeypatch)
    assert sum(_check_tails(list(example["markdown"])) for example in SPEC) > 5000


PLAIN_PUNCTUATION = [
    'See [f(x)](http://a.b) and (more) text = 5% of $x {y} ^z @w "q" a/b + c.\n',
    'A *b*(c) and `d`(e) then [g] (h) [i](j "t") k (l) "m".\n',
    "## Title (draft) = done\n\nNext (para) ends.\n",
    '- item (one) = 1\n- two "x" (y)\n\n> quote (a) + b\n',
    "| a (b) | c |\n|---|---|\n| d (e) | f=g |\n",
]


@pytest.mark.parametrize("text", PLAIN_PUNCTUATION)
def test_every_tail_with_punctuation_typed_as_plain_text(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ``()/=+"%$@{}^`` are appended without a render; next to links, code spans,
    # emphasis, headings, lists, quotes and tables each frame must still be exact.
    render_every_frame(monkeypatch)
    assert _check_tails(list(text)) > 10
    assert _check_tails([text[k : k + 3] for k in range(0, len(text), 3)]) > 5


@pytest.mark.parametrize(
    "text",
    [
        "Combined **bold and *italic*** text",
        "*a **b*** c and more",
        "_a __b___ c and more",
        "***a** b* c and more",
        "*a _b_* c and **d __e__** f",
    ],
)
@pytest.mark.parametrize("every_frame", [False, True], ids=["cadence", "every-frame"])
def test_spans_closed_together_show_no_stray_marker(
    text: str, every_frame: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every span of these texts is closed and the final render shows no marker:
    # no frame may show one, whatever the deltas (with the render cadence, a
    # render may fall on any of them; without it, each frame re-renders).
    if every_frame:
        render_every_frame(monkeypatch)
    assert not set("*_") & set(check_html(render_markdown(text)).text)
    for size in range(1, 9):
        run = stream(text, list(range(0, len(text), size)))
        for page in run.shown():
            assert not set("*_") & set(check_html(page).text), (size, page)
