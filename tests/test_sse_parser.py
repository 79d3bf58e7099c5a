"""The tests' SSE parser (tests/support/sse_parser.py) against the spec's rules."""

from __future__ import annotations

from tests.support.sse_parser import SSEParser

STREAM = (
    "\ufeffretry: 1000\r\n\r\n: ping\n\n"
    'id: 1\nevent: delta\ndata: {"text": "é"}\n\n'
    "id: 2\r\nevent: status\r\ndata: a\r\ndata: b\r\n\r\n"
    "data: no id\rid\r\r"
).encode()


def test_every_cut_gives_the_same_events_and_ids() -> None:
    whole = SSEParser().feed(STREAM)
    assert [(e.event, e.data, e.last_event_id) for e in whole] == [
        ("delta", '{"text": "é"}', "1"),
        ("status", "a\nb", "2"),
        ("message", "no id", ""),  # a bare "id" field clears the id
    ]
    for cut in range(len(STREAM) + 1):
        parser = SSEParser()
        events = parser.feed(STREAM[:cut]) + parser.feed(STREAM[cut:])
        assert events == whole, cut
        assert parser.last_event_id == "", "the last block's bare id: clears it"
        assert parser.retry_ms == 1000


def test_an_id_counts_only_once_its_event_is_complete() -> None:
    parser = SSEParser()
    parser.feed(b"id: 1\ndata: x\n\nid: 2\ndata: y\n")
    assert parser.last_event_id == "1", "event 2 was cut off: a reconnect asks after 1"
    assert [e.data for e in parser.feed(b"\n")] == ["y"]
    assert parser.last_event_id == "2"
