from __future__ import annotations

from streaming.events import Event, EventType
from streaming.snapshot import fold


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
