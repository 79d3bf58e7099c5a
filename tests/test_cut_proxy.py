"""The cut proxy itself: exact cut offsets, whole connections after the schedule,
upstreams in turn, the server told of the cut."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.cut_proxy import CutProxy, schedule

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes


class _Sender(socketserver.BaseRequestHandler):
    """Reads one line, answers with its name and the payload, then waits for the client."""

    def handle(self) -> None:
        self.request.recv(1024)
        self.request.sendall(self.server.name + PAYLOAD)  # type: ignore[attr-defined]
        # A cut reaches us as EOF (the proxy closes the upstream side too).
        self.server.eof.append(self.request.recv(1024) == b"")  # type: ignore[attr-defined]


@pytest.fixture
def upstreams() -> Iterator[list[socketserver.ThreadingTCPServer]]:
    servers = []
    for name in (b"A", b"B"):
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Sender)
        server.daemon_threads = True
        server.name = name  # type: ignore[attr-defined]
        server.eof = []  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def fetch(port: int, last_event_id: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET /s HTTP/1.1\r\nLast-Event-ID: {last_event_id}\r\n\r\n".encode())
        received = b""
        while chunk := s.recv(4096):
            received += chunk
            if received == b"A" + PAYLOAD or received == b"B" + PAYLOAD:
                break  # whole: the server waits for us to leave
        return received


def test_cuts_at_the_scheduled_offsets_then_passes_through(upstreams) -> None:
    addresses = [server.server_address for server in upstreams]
    with CutProxy(addresses, [1, 700, 5000]) as proxy:
        got = [fetch(proxy.port, str(n)) for n in range(4)]
    assert [len(g) for g in got] == [1, 700, 5000, 1 + len(PAYLOAD)]
    assert [g[:1] for g in got] == [b"A", b"B", b"A", b"B"], "upstreams in turn"
    assert got[2] == (b"A" + PAYLOAD)[:5000], "the bytes before a cut are the server's"
    assert [c.after_bytes for c in proxy.cuts] == [1, 700, 5000]
    assert proxy.connections == 4
    eof: list[bool] = upstreams[0].eof
    deadline = time.monotonic() + 5
    while len(eof) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert eof == [True, True], "the server sees its client leave"


def test_a_reconnect_that_made_no_progress_gets_a_longer_connection(upstreams) -> None:
    addresses = [server.server_address for server in upstreams]
    with CutProxy(addresses, [100, 10, 10, 10, 10]) as proxy:
        got = [fetch(proxy.port, last) for last in ("5", "5", "5", "6", "6")]
    assert [len(g) for g in got] == [100, 200, 400, 10, 20]


def test_a_seed_gives_the_same_schedule() -> None:
    assert schedule(7, 30, 1, 100) == schedule(7, 30, 1, 100)
    assert schedule(7, 30, 1, 100) != schedule(8, 30, 1, 100)
    assert all(1 <= n <= 100 for n in schedule(7, 1000, 1, 100))
