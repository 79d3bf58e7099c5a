from __future__ import annotations

from streaming.events import Event, EventType
from streaming.snapshot import compact, compact_prefix, fold


def ev(offset: int, type: EventType, **data: object) -> Event:
    return Event(offset, type, dict(data))


def test_fold_keeps_blocks_and_the_latest_tail() -> None:
    snap = fold(
        [
            ev(1, EventType.STATUS, state="streaming"),
            ev(2, EventType.DELTA, text="a"),
            ev(3, EventType.TAIL, html="<p>a</p>"),
            ev(4, EventType.BLOCK, html="<p>a</p>"),
            ev(5, EventType.TAIL, html="<p>b</p>"),
        ]
    )
    assert snap.html == "<p>a</p><p>b</p>"
    assert snap.offset == 5
    assert snap.final is None


def test_replace_resets_everything_before_it() -> None:
    snap = fold(
        [
            ev(1, EventType.BLOCK, html="<p>old</p>"),
            ev(2, EventType.TAIL, html="<p>t</p>"),
            ev(3, EventType.REPLACE, html="<p>new</p>"),
            ev(4, EventType.FINAL, status="complete"),
        ]
    )
    assert snap.html == "<p>new</p>"
    assert snap.final is not None


def test_empty_log() -> None:
    assert fold([]).offset == 0


def test_a_tail_grown_by_ops_folds_to_the_tail_the_renderer_made() -> None:
    """Tail events carry ops or html, never both: folding must rebuild every tail."""
    from pathlib import Path

    from streaming.markdown import StreamingMarkdown

    corpus = Path(__file__).resolve().parents[1] / "bench" / "corpus"
    for name in ("answer_long.md", "code_300_lines.md"):
        text = (corpus / name).read_text()
        markdown = StreamingMarkdown()
        events: list[Event] = []
        with_ops = 0
        for start in range(0, len(text), 23):  # ~6 tokens a frame
            frame = markdown.feed(text[start : start + 23])
            events += [ev(len(events) + 1, EventType.BLOCK, html=b) for b in frame.new_blocks]
            ops = None if frame.new_blocks else frame.tail_ops
            with_ops += bool(ops)
            data = {"ops": ops} if ops else {"html": frame.tail}
            events.append(Event(len(events) + 1, EventType.TAIL, data))
            snapshot = fold(events)
            assert snapshot.tail_html == frame.tail, (name, start)
            assert snapshot.html == markdown.html, (name, start)
        assert with_ops > 100, "the test must exercise tails grown by ops"


def _finished() -> list[Event]:
    return [
        ev(1, EventType.STATUS, state="streaming"),
        ev(2, EventType.DELTA, text="a\n\nb"),
        ev(3, EventType.TAIL, html="<p>a</p>"),
        ev(4, EventType.BLOCK, html="<p>a</p>"),
        ev(5, EventType.TAIL, html="<p>b</p>"),
        ev(6, EventType.DELTA, text="c"),
        ev(7, EventType.TAIL, ops=[[1, "c"]]),
        ev(8, EventType.ANNOUNCE, text="bc"),
        ev(9, EventType.USAGE, prompt_tokens=3, completion_tokens=2),
        ev(10, EventType.FINAL, status="complete"),
    ]


def test_compact_folds_the_content_into_one_replace_and_keeps_what_followed() -> None:
    events = _finished()
    compacted = compact(events)
    assert [(e.offset, e.type) for e in compacted] == [
        (7, EventType.REPLACE),
        (8, EventType.ANNOUNCE),
        (9, EventType.USAGE),
        (10, EventType.FINAL),
    ]
    # The text rides along: a JSON subscriber starts from it after compaction.
    assert compacted[0].data == {"html": "<p>a</p><p>bc</p>", "text": "a\n\nbc"}
    assert compacted[1:] == events[7:]
    folded, original = fold(compacted), fold(events)
    assert (folded.html, folded.offset, folded.final, folded.text) == (
        original.html,
        original.offset,
        original.final,
        "a\n\nbc",
    )


def test_compact_leaves_a_log_without_content_and_a_compacted_log_as_they_are() -> None:
    bare = [ev(1, EventType.STATUS, state="streaming"), ev(2, EventType.FINAL, status="failed")]
    assert compact(bare) == bare
    once = compact(_finished())
    assert compact(once) == once


def _live() -> list[Event]:
    return _finished()[:-3]  # up to the tail grown by ops, no final


def test_compact_prefix_keeps_what_every_reader_ends_with() -> None:
    events = _live()
    whole = fold(events)
    for count in range(len(events) + 1):
        compacted = compact_prefix(events, count)
        assert [e.offset for e in compacted] == list(
            range(compacted[0].offset, events[-1].offset + 1)
        )
        # A reader that applied the first ``applied`` events reads the rest.
        for applied in range(len(events) + 1):
            after = events[applied - 1].offset if applied else 0
            rest = [e for e in compacted if e.offset > after]
            seen = fold(events[:applied] + rest)
            assert (seen.html, seen.text) == (whole.html, whole.text), (count, applied)


def test_compact_prefix_keeps_the_tail_apart_for_the_ops_that_follow() -> None:
    events = _live()
    compacted = compact_prefix(events, 5)  # up to the tail <p>b</p>, before its ops
    assert compacted[0] == ev(5, EventType.REPLACE, html="<p>a</p>", tail="<p>b</p>", text="a\n\nb")
    assert compacted[1:] == events[5:]
    assert fold(compacted).tail_html == "<p>bc</p>"
    assert compact_prefix(events, 1) == events


def test_fold_joins_the_deltas_and_a_replace_with_text_resets_them() -> None:
    events = [
        ev(1, EventType.DELTA, text="Hello "),
        ev(2, EventType.DELTA, text="world, and more"),
        ev(3, EventType.REPLACE, html="<p>x</p>"),  # a re-render: same text
    ]
    assert fold(events).text == "Hello world, and more"
    clamped = [*events, ev(4, EventType.REPLACE, html="<p>Hello</p>", text="Hello")]
    assert fold(clamped).text == "Hello"
    assert fold([*clamped, ev(5, EventType.DELTA, text="!")]).text == "Hello!"
