"""A TCP proxy on loopback that cuts client connections at chosen byte offsets.

Each connection the proxy accepts takes the next limit from its schedule: it
forwards the request as is, and the response up to that many bytes (counted
from the response's first byte, HTTP headers included), then closes both
sides, as a network drop would: the client sees a response cut mid-way (in
the headers, mid-line, mid-character), the server sees its client leave.
Once the schedule runs out, connections pass through whole. Upstreams are
taken in turn (connection N goes to ``upstreams[N % len]``), so the
reconnects of one client alternate between server processes.

No schedule can starve a client: a request that repeats the previous one's
request line and ``Last-Event-ID`` (its reconnect made no progress, e.g. cut
inside a snapshot larger than the cut offsets) gets twice the previous limit,
again and again until an event gets through, as a real network's good
moments would let it.

``schedule(seed, ...)`` makes a seeded schedule: a failure is replayed by
running with the seed it printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

CHUNK = 64 * 1024


def schedule(seed: int, count: int, low: int, high: int) -> list[int]:
    """``count`` cut offsets, uniform in [``low``, ``high``] bytes of a response."""
    rng = random.Random(seed)
    return [rng.randint(low, high) for _ in range(count)]


@dataclass(frozen=True, slots=True)
class Cut:
    connection: int  # the connection's number, from 0
    after_bytes: int  # response bytes the client got before the cut
    at: float  # time.time() of the cut


class CutProxy:
    def __init__(self, upstreams: Sequence[tuple[str, int]], limits: Iterable[int]) -> None:
        self._upstreams = list(upstreams)
        self._limits: Iterator[int] = iter(limits)
        self.cuts: list[Cut] = []
        self.connections = 0
        self._previous: tuple[bytes, int] = (b"", 0)  # (request key, its limit)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    def __enter__(self) -> CutProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result(5)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        try:
            head = await client_r.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            client_w.close()
            return
        limit = next(self._limits, None)
        key = _request_key(head)
        if limit is not None and key == self._previous[0]:
            limit = max(limit, 2 * self._previous[1])  # no progress last time
        self._previous = (key, limit or 0)
        host, port = self._upstreams[number % len(self._upstreams)]
        try:
            upstream_r, upstream_w = await asyncio.open_connection(host, port)
        except OSError:
            client_w.close()
            return
        upstream_w.write(head)
        request = asyncio.create_task(_pipe(client_r, upstream_w))
        try:
            sent = await _forward(upstream_r, client_w, limit)
            if limit is not None and sent >= limit:
                self.cuts.append(Cut(number, sent, time.time()))
        finally:
            request.cancel()
            # Not waiting for the close: the bytes before the cut were drained
            # to the socket already, and a peer that stopped reading must not
            # hold the proxy.
            client_w.close()
            upstream_w.close()


def _request_key(head: bytes) -> bytes:
    """The request line and its Last-Event-ID: equal for a reconnect that made no progress."""
    lines = head.split(b"\r\n")
    resume = [line for line in lines[1:] if line.lower().startswith(b"last-event-id:")]
    return b"\n".join([lines[0], *resume])


async def _forward(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int | None
) -> int:
    """Copy until EOF or ``limit`` bytes; returns how many were written."""
    sent = 0
    while limit is None or sent < limit:
        want = CHUNK if limit is None else min(CHUNK, limit - sent)
        data = await reader.read(want)
        if not data:
            break
        writer.write(data)
        # Every byte before the cut reaches the client, none after it.
        await writer.drain()
        sent += len(data)
    return sent


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
