"""Freezing (``freeze.Freezing``): finished blocks from what the live tail already holds."""

from __future__ import annotations

import pytest
from markdown_it.token import Token

from streaming.markdown import StreamingMarkdown, freeze, render, render_markdown
from tests.test_markdown_support import render_every_frame


@pytest.mark.parametrize(
    "deltas",
    [
        ["> ```\n> aaa", "\n\nbbb\n"],  # code keeps the newline the tail did not show
        ["    code", "\n\ntext\n"],
        ["A paragraph", "\n\nNext.\n"],
        ["- item one\n- item two", "\n\nAfter.\n"],
    ],
)
def test_a_block_frozen_from_the_tail_it_showed_is_its_final_render(
    deltas: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    render_every_frame(monkeypatch)
    renderer = StreamingMarkdown()
    for delta in deltas:
        renderer.feed(delta)
    renderer.finish()
    assert renderer.html == render_markdown("".join(deltas))


@pytest.mark.parametrize(
    "deltas",
    [
        ["Some words", " and more (plain) words.\n\nNext.\n"],
        ["- an item", " that ends here\n\nAfter.\n"],
        ["> quoted", " text\n\nAfter.\n"],
        ["Some `code` and", " words.\n\nNext.\n"],
    ],
)
def test_words_typed_since_the_tail_showed_are_appended_when_the_block_freezes(
    deltas: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    render_every_frame(monkeypatch)
    renderer = StreamingMarkdown()
    renderer.feed(deltas[0])
    assert renderer._tail_exact
    monkeypatch.setattr(renderer._line, "frozen", None)  # not needed: no re-render
    renderer.feed(deltas[1])
    assert renderer.block_count >= 1
    renderer.finish()
    assert renderer.html == render_markdown("".join(deltas))


@pytest.mark.parametrize("first", ["> **Note:** a one-line quote", "A one-line paragraph"])
def test_a_one_line_quote_or_paragraph_freezes_at_its_blank_line_without_a_parse(
    first: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    render_every_frame(monkeypatch)
    renderer = StreamingMarkdown()
    renderer.feed(first)
    monkeypatch.setattr(freeze, "block_parse", None)  # the splice knows the block
    frame = renderer.feed("\n\n")
    assert frame.new_blocks == [render_markdown(first)]


def test_a_list_ended_by_lines_that_arrive_together_is_frozen_without_parsing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    render_every_frame(monkeypatch)
    renderer = StreamingMarkdown()
    for delta in ("- one\n", "- two", "\n\n"):
        renderer.feed(delta)
    parsed: list[str] = []

    def block_parse(src: str) -> list[Token]:
        parsed.append(src)
        return render.block_parse(src)

    monkeypatch.setattr(freeze, "block_parse", block_parse)
    frame = renderer.feed("## Next\n\nText")
    assert frame.new_blocks[0] == render_markdown("- one\n- two\n")
    assert not any("two" in src for src in parsed)  # only what follows the list
    renderer.finish()
    assert renderer.html == render_markdown("- one\n- two\n\n## Next\n\nText")
