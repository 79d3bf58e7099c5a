"""The JSON projection: run events -> text events for programs (``/m/<id>/events``).

| log event | JSON event | data |
|-----------|------------|------|
| (connect) | snapshot | ``{text}`` (+ ``reasoning``, ``tool_calls``, if any): replaces what
  the client holds |
| delta     | delta    | ``{text}``: appended to the answer |
| reasoning_delta | reasoning | ``{text}``: appended to the reasoning, never the answer |
| reasoning_done | reasoning_done | ``{duration_ms, again?}``: a thinking period is over |
| replace with ``text`` | snapshot | ``{text}`` (a Stop's clamp, a compacted log's fold, with its
  ``reasoning`` and ``tool_calls``) |
| status    | status   | ``{state}`` (``thinking`` when the reasoning starts) |
| usage     | usage    | ``{prompt_tokens, completion_tokens}`` (+ ``reasoning_tokens``): the
  rounds' sum so far |
| tool_start | tool_start | ``{id, name, arguments}``: a call the model made |
| tool_result | tool_result | ``{id, name, ok, result, error, duration_ms}`` |
| error     | error    | ``{code, message, retryable, retry_after}`` |
| title     | title    | ``{title}``: the conversation's title the model proposed (first answer) |
| final     | final    | ``{status, finish_reason, error, metrics}``: always the last |

Blocks, tails, announcements and replaces without text (a re-render of the
same text) are the page's business: nothing is sent for them, and the next
event's id moves past their offsets. ``snapshot`` then ``delta``s rebuild
exactly the text the run saves as ``Message.content``.

Two wire formats of the same events: SSE (``id:`` the offset, ``event:`` the
name, ``data:`` the JSON) and NDJSON (one ``{"id", "event", "data"}`` object a
line). Like the HTML projection, each log event is encoded once per process
and format, and every subscriber of the run writes the same bytes; only
snapshots (which depend on when one connects) are built per subscriber.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, assert_never, cast
from uuid import UUID

from django.utils import timezone

from chatapp.models import Message
from chatapp.projection import FrameMemo
from streaming import sse
from streaming.events import (
    DeltaData,
    ErrorData,
    Event,
    EventType,
    FinalData,
    ReasoningDoneData,
    ReplaceData,
    StatusData,
    TitleData,
    ToolResultData,
    ToolStartData,
    UsageData,
)

Encode = Callable[[str, dict[str, Any], int], bytes]


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sse(name: str, data: dict[str, Any], offset: int) -> bytes:
    # JSON escapes newlines, so each event is a single ``data:`` line.
    return sse.frame(_dumps(data), event=name, id=offset)


def _ndjson(name: str, data: dict[str, Any], offset: int) -> bytes:
    return (_dumps({"id": offset, "event": name, "data": data}) + "\n").encode()


@dataclass(frozen=True, slots=True)
class Wire:
    """One wire format: how events, the opening and heartbeats are written."""

    content_type: str
    opening: bytes  # written once, first
    heartbeat: bytes  # keeps proxies from closing an idle stream
    encode: Encode
    memo: FrameMemo


SSE = Wire(sse.CONTENT_TYPE, sse.retry(), sse.comment(), _sse, FrameMemo())
# A heartbeat is an object too (without id): NDJSON readers often reject blank lines.
NDJSON = Wire(
    "application/x-ndjson; charset=utf-8", b"", b'{"event":"ping"}\n', _ndjson, FrameMemo()
)


def payload(event: Event) -> tuple[str, dict[str, Any]] | None:
    """The JSON event (name, data) for a log event, or None when programs get nothing."""
    # Every kind has its arm (streaming/events.py says how to add one).
    match event.type:
        case EventType.DELTA:
            text = cast(DeltaData, event.data)["text"]
            return ("delta", {"text": text}) if text else None
        case EventType.REASONING_DELTA:
            thought = cast(DeltaData, event.data)["text"]
            return ("reasoning", {"text": thought}) if thought else None
        case EventType.REASONING_DONE:
            done = cast(ReasoningDoneData, event.data)
            again = {"again": True} if done.get("again") else {}
            return "reasoning_done", {"duration_ms": done["duration_ms"]} | again
        case EventType.REPLACE:
            replace = cast(ReplaceData, event.data)
            # Without text it re-renders the same text: nothing for programs.
            if "text" not in replace:
                return None
            calls = replace.get("tool_calls", [])
            thought = replace["reasoning"]["text"] if "reasoning" in replace else ""
            return "snapshot", (
                {"text": replace["text"]}
                | ({"reasoning": thought} if thought else {})
                | ({"tool_calls": [_call(call) for call in calls]} if calls else {})
            )
        case EventType.STATUS:
            return "status", {"state": cast(StatusData, event.data)["state"]}
        case EventType.USAGE:
            usage = cast(UsageData, event.data)
            counted: dict[str, Any] = {
                "prompt_tokens": usage["prompt_tokens"],
                "completion_tokens": usage["completion_tokens"],
            }
            if usage.get("reasoning_tokens") is not None:  # said only by reasoning models
                counted["reasoning_tokens"] = usage.get("reasoning_tokens")
            return "usage", counted
        case EventType.ERROR:
            return "error", _error(cast(ErrorData, event.data))
        case EventType.TITLE:
            return "title", {"title": cast(TitleData, event.data)["title"]}
        case EventType.TOOL_START:
            start = cast(ToolStartData, event.data)
            return "tool_start", {
                "id": start["id"],
                "name": start["name"],
                "arguments": start["args"],
            }
        case EventType.TOOL_RESULT:
            result = cast(ToolResultData, event.data)
            return "tool_result", {
                "id": result["id"],
                "name": result["name"],
                "ok": result["ok"],
                "result": result["result"],
                "error": None if result["ok"] else result["summary"],
                "duration_ms": result["duration_ms"],
            }
        case EventType.FINAL:
            final = cast(FinalData, event.data)
            error = final["error"]
            return "final", {
                "status": final["status"],
                "finish_reason": final["finish_reason"],
                "error": None if error is None else _error(error),
                "metrics": final["metrics"],
            }
        case (
            EventType.BLOCK
            | EventType.TAIL
            | EventType.ANNOUNCE
            | EventType.ANNOUNCE_DONE
            | EventType.REASONING_BLOCK
            | EventType.REASONING_TAIL
        ):
            return None  # the page's business
        case _:
            assert_never(event.type)


def _error(data: ErrorData) -> dict[str, Any]:
    return {
        "code": data["code"],
        "message": data["message"],
        "retryable": data["retryable"],
        "retry_after": data["retry_after"],
    }


def project(event: Event, run: tuple[UUID, datetime | None], wire: Wire) -> bytes:
    """The bytes of a log event in ``wire``'s format, encoded once for all subscribers.

    ``run``: the message's id and when it was last continued (a continued
    answer runs again under its id with offsets from 1), as the HTML memo.
    """
    key = (run, event.offset)
    frames = wire.memo.get(key)
    if frames is None:
        named = payload(event)
        frames = [] if named is None else [wire.encode(*named, event.offset)]
        wire.memo.put(key, frames)
    return b"".join(frames)


def snapshot(
    text: str,
    offset: int,
    wire: Wire,
    tool_calls: Sequence[Mapping[str, Any]] = (),
    *,
    reasoning: str = "",
) -> bytes:
    """The answer so far; the reasoning when the model thought, its tool calls
    so far when it made any (each as ``tool_start`` and, once finished,
    ``tool_result`` would have told it)."""
    data: dict[str, Any] = {"text": text}
    if reasoning:
        data["reasoning"] = reasoning
    if tool_calls:
        data["tool_calls"] = [_call(call) for call in tool_calls]
    return wire.encode("snapshot", data, offset)


def _call(call: Mapping[str, Any]) -> dict[str, Any]:
    """A call as the JSON stream names it (the run's chip id is the page's business)."""
    return {key: value for key, value in call.items() if key != "chip"}


def from_message(message: Message, offset: int, wire: Wire) -> bytes:
    """A finished answer as the database holds it: snapshot, its error, final.

    For a run the log no longer holds (finished long ago, or its process died).
    """
    frames = [
        snapshot(message.content, offset, wire, _stored_calls(message), reasoning=message.reasoning)
    ]
    error = _stored_error(message)
    if error is not None:
        frames.append(wire.encode("error", error, offset))
    final = {
        "status": message.status,
        "finish_reason": message.finish_reason,
        "error": error,
        "metrics": {
            "ttft_ms": message.ttft_ms,
            "provider_ttft_ms": message.provider_ttft_ms,
            "duration_ms": message.duration_ms,
            "prompt_tokens": message.prompt_tokens,
            "output_tokens": message.output_tokens,
            "output_tokens_estimated": message.output_tokens_estimated,
            "tokens_per_s": message.tokens_per_s,
            "answer_ttft_ms": message.answer_ttft_ms,
            "reasoning_ms": message.reasoning_ms,
            "reasoning_tokens": message.reasoning_tokens,
            "reasoning_tokens_estimated": message.reasoning_tokens_estimated,
        },
    }
    frames.append(wire.encode("final", final, offset))
    return b"".join(frames)


def _stored_calls(message: Message) -> list[dict[str, Any]]:
    """The stored calls as the stream tells them (``error`` null when it answered)."""
    return [
        {
            "id": call.get("id"),
            "name": call.get("name"),
            "arguments": call.get("arguments"),
            "ok": not call.get("error"),
            "result": call.get("result"),
            "error": call.get("error") or None,
            "duration_ms": call.get("duration_ms"),
        }
        for call in message.tool_calls or ()
    ]


def _stored_error(message: Message) -> dict[str, Any] | None:
    if not message.error_code:
        return None
    retry_after = None
    if message.retry_after_at is not None:
        # Stored as a moment; the stream says seconds from now, as a live run does.
        retry_after = max(0.0, (message.retry_after_at - timezone.now()).total_seconds())
    return {
        "code": message.error_code,
        "message": message.error_message,
        "retryable": message.error_retryable,
        "retry_after": retry_after,
    }
