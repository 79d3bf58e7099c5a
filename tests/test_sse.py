from __future__ import annotations

from streaming import sse


def test_frame_with_id_event_and_multiline_data() -> None:
    assert sse.frame("a\nb", event="tail", id=7) == b"id: 7\nevent: tail\ndata: a\ndata: b\n\n"


def test_carriage_returns_cannot_inject_fields() -> None:
    framed = sse.frame("x\r\nevent: evil\rdata: y", event="tail")
    lines = framed.decode().split("\n")
    assert "event: evil" not in lines
    assert all(line.startswith(("event:", "data:")) or line == "" for line in lines)


def test_retry_and_comment() -> None:
    assert sse.retry(1500) == b"retry: 1500\n\n"
    assert sse.comment() == b": ping\n\n"


def test_last_event_id_parsing() -> None:
    assert sse.parse_last_event_id("42") == 42
    assert sse.parse_last_event_id(" 7 ") == 7
    assert sse.parse_last_event_id(None) is None
    assert sse.parse_last_event_id("abc") is None
    assert sse.parse_last_event_id("-1") is None
    # Digits to str.isdigit, but not to int(): never a 500.
    assert sse.parse_last_event_id("²") is None
    assert sse.parse_last_event_id("١٢") is None
