"""The serving bench's load generator: streams over raw asyncio HTTP/1.1.

One ``StreamJob`` is one answer streamed the way its server is used:

- Spool: the user's path. POST the message to ``/c/<conversation>/messages``
  as htmx does (``HX-Request``, ``X-CSRFToken``, the session cookie), read the
  new message's stream URL from the returned HTML (``sse-connect=…``), then
  GET that stream on the same connection and read SSE until ``done``.
- A baseline: ``GET /stream?n=N&delay=D`` and read SSE until ``done``.

Every time is ``time.monotonic()`` (CLOCK_MONOTONIC, the same clock in every
process), so the parent can line results up with its own samples. A client
is an asyncio loop in a worker process (``run_jobs``); it reports the CPU it
used so the report can show that the load generator was not the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode

from bench.sse_wire import ChunkedDecoder, ResponseHead, SseParser, parse_head, words_in

Kind = Literal["spool", "baseline"]
STREAM_URL_RE = re.compile(rb'sse-connect="(/m/[0-9a-f-]+/stream)"')
READ_SIZE = 65536
# EventSource's delay before reconnecting until the server sets one (``retry:``).
DEFAULT_RETRY_MS = 3000
# A page that reconnects more often than this is not getting its answer.
MAX_RECONNECTS = 10
# A stream may finish this long after its last word is due before it counts as
# timed out: an overloaded server is reported late (lateness), not hung.
TIMEOUT_SLACK_S = 20.0


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    kind: Kind


@dataclass(frozen=True, slots=True)
class StreamJob:
    """One stream, started ``at`` seconds after the scenario's start (or, in a
    sequential run, that long after the previous stream ended)."""

    at: float
    words: int
    delay: float
    conversation: str = ""  # Spool only
    session: str = ""
    csrf: str = ""


@dataclass(slots=True)
class StreamResult:
    """What one client saw of one stream; ``frames`` are the events that showed
    new words, as (arrival, highest word shown so far)."""

    words: int
    delay: float
    scheduled: float = 0.0
    t_sent: float = 0.0  # the stream's first request started (POST for Spool)
    send_s: float | None = None  # Spool: POST sent -> its whole response read
    ttft_s: float | None = None  # stream request written -> response head read
    t_end: float = 0.0
    status: int | None = None
    error: str = ""
    done: bool = False
    reconnects: int = 0  # the stream ended without ``done`` and the client came back
    events: int = 0  # SSE events with data, of any kind
    words_seen: int = 0  # distinct bench words shown
    frames: list[tuple[float, int]] = field(default_factory=list)

    @property
    def top_word(self) -> int:
        return self.frames[-1][1] if self.frames else 0

    @property
    def failure(self) -> str:
        """Why the stream counts as an error ("" when it does not)."""
        if self.error:
            return self.error
        if self.top_word < self.words or self.words_seen < self.words:
            return "ended before the last word"
        if not self.done:
            return "no done event"
        return ""


@dataclass(frozen=True, slots=True)
class WorkerReport:
    results: list[StreamResult]
    cpu_s: float  # this client process's CPU time over the run
    wall_s: float


class _Connection:
    """One HTTP/1.1 connection, reused for the requests of one stream as a
    browser's connection pool reuses an idle kept-alive connection."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        await self.close()
        self.reader, self.writer = await asyncio.open_connection(self.target.host, self.target.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> None:
        assert self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.target.host}:{self.target.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    async def head(self) -> ResponseHead:
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        return parse_head(raw[:-4])

    async def body(self, head: ResponseHead) -> bytes:
        """The whole (non-streaming) body."""
        assert self.reader is not None
        if head.chunked:
            decoder, parts = ChunkedDecoder(), []
            while not decoder.finished:
                data = await self.reader.read(READ_SIZE)
                if not data:
                    raise ConnectionError("closed inside a chunked body")
                parts.append(decoder.feed(data))
            return b"".join(parts)
        if head.content_length is not None:
            return await self.reader.readexactly(head.content_length)
        return await self.reader.read()

    async def read(self) -> bytes:
        assert self.reader is not None
        return await self.reader.read(READ_SIZE)


def _cookie(job: StreamJob) -> str:
    return f"sessionid={job.session}; csrftoken={job.csrf}"


@dataclass(slots=True)
class _Shown:
    """What the page shows of the answer so far, across reconnects."""

    words: set[int] = field(default_factory=set)
    top: int = 0


async def _read_stream(
    conn: _Connection, head: ResponseHead, parser: SseParser, shown: _Shown, result: StreamResult
) -> bool:
    """Read SSE until ``done`` or the end of the body, timing every event; True
    when the body ended as HTTP says (so the connection can be reused)."""
    decoder = ChunkedDecoder() if head.chunked else None
    while True:
        data = await conn.read()
        now = time.monotonic()
        if not data:
            return False
        if decoder is not None:
            data = decoder.feed(data)
        for event in parser.feed(data):
            result.events += 1
            if event.event == "done":
                result.done = True
                result.words_seen = len(shown.words)
                return False  # what follows done is not read: a new connection if needed
            numbers = words_in(event)
            if numbers:
                shown.words.update(numbers)
                highest = max(numbers)
                if highest > shown.top:
                    shown.top = highest
                    result.frames.append((now, highest))
        result.words_seen = len(shown.words)
        if decoder is not None and decoder.finished:
            return True


async def _follow(
    conn: _Connection, path: str, headers: dict[str, str], result: StreamResult
) -> None:
    """GET an SSE stream and read it until ``done``, as EventSource does: a
    stream that ends without it is requested again after the ``retry`` delay,
    with ``Last-Event-ID`` once an event carried an id (Spool's stream ends
    at once when asked for a run that has not started yet)."""
    parser, shown = SseParser(), _Shown()
    while True:
        request = dict(headers)
        if parser.last_id:
            request["Last-Event-ID"] = parser.last_id
        sent_at = time.monotonic()
        conn.send("GET", path, request)
        head = await conn.head()
        if result.ttft_s is None:
            result.ttft_s = time.monotonic() - sent_at
        result.status = head.status
        if head.status != 200:
            result.error = f"stream HTTP {head.status}"
            return
        reusable = await _read_stream(conn, head, parser, shown, result) and head.keep_alive
        if result.done or result.reconnects >= MAX_RECONNECTS:
            return
        result.reconnects += 1
        await asyncio.sleep((parser.retry_ms or DEFAULT_RETRY_MS) / 1000)
        parser.reconnected()
        if not reusable:
            await conn.open()


async def _spool_stream(target: Target, job: StreamJob, result: StreamResult) -> None:
    conn = _Connection(target)
    try:
        result.t_sent = time.monotonic()
        await conn.open()
        text = f"Bench answer, please [bench:{job.words}]"
        conn.send(
            "POST",
            f"/c/{job.conversation}/messages",
            {
                "Cookie": _cookie(job),
                "X-CSRFToken": job.csrf,
                "HX-Request": "true",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            urlencode({"text": text}).encode(),
        )
        head = await conn.head()
        page = await conn.body(head)
        result.send_s = time.monotonic() - result.t_sent
        if head.status != 200:
            result.status = head.status
            result.error = f"send HTTP {head.status}"
            return
        match = STREAM_URL_RE.search(page)
        if match is None:
            result.error = "no stream URL in the send response"
            return
        if not head.keep_alive:
            await conn.open()
        headers = {"Cookie": _cookie(job), "Accept": "text/event-stream"}
        await _follow(conn, match.group(1).decode(), headers, result)
    finally:
        result.t_end = time.monotonic()
        await conn.close()


async def _baseline_stream(target: Target, job: StreamJob, result: StreamResult) -> None:
    conn = _Connection(target)
    try:
        result.t_sent = time.monotonic()
        await conn.open()
        path = f"/stream?n={job.words}&delay={job.delay}"
        await _follow(conn, path, {"Accept": "text/event-stream"}, result)
    finally:
        result.t_end = time.monotonic()
        await conn.close()


async def run_stream(target: Target, job: StreamJob, scheduled: float) -> StreamResult:
    """One stream, started at ``scheduled`` (monotonic); never raises."""
    result = StreamResult(words=job.words, delay=job.delay, scheduled=scheduled)
    await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
    stream = _spool_stream if target.kind == "spool" else _baseline_stream
    timeout = job.words * job.delay + TIMEOUT_SLACK_S
    try:
        async with asyncio.timeout(timeout):
            await stream(target, job, result)
    except TimeoutError:
        result.error = "timeout"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        result.error = f"{type(exc).__name__}"
    return result


async def _run(
    target: Target, jobs: Sequence[StreamJob], t0: float, sequential: bool
) -> list[StreamResult]:
    if not sequential:
        return list(await asyncio.gather(*(run_stream(target, j, t0 + j.at) for j in jobs)))
    results = []
    start = t0
    for job in jobs:
        result = await run_stream(target, job, start + job.at)
        results.append(result)
        start = time.monotonic()
    return results


def run_jobs(
    target: Target, jobs: Sequence[StreamJob], t0: float, sequential: bool = False
) -> WorkerReport:
    """Run ``jobs`` from ``t0`` (monotonic) in a fresh event loop: uvloop when
    installed (the bench extras), the cheaper client, else asyncio's own."""
    cpu0 = time.process_time()
    try:
        import uvloop
    except ImportError:
        results = asyncio.run(_run(target, jobs, t0, sequential))
    else:
        results = uvloop.run(_run(target, jobs, t0, sequential))
    wall = time.monotonic() - t0
    return WorkerReport(results, time.process_time() - cpu0, wall)


def warm_up() -> None:
    """Submitted once per worker so the scenarios never pay its import time."""


async def fetch(target: Target, path: str, cookie: str) -> ResponseHead:
    """One GET, body read and dropped: the bench's untimed setup requests."""
    conn = _Connection(target)
    try:
        await conn.open()
        conn.send("GET", path, {"Cookie": cookie})
        head = await conn.head()
        await conn.body(head)
        return head
    finally:
        await conn.close()
