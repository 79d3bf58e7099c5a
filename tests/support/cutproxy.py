"""A loopback TCP proxy that can cut chosen connections: a network blip on demand.

The browser talks to the proxy, the proxy to the real server. ``cut(path)``
closes every open connection whose latest request was for a URL containing
``path`` (both sides, mid-response), and for ``hold_s`` seconds closes new
ones for it as soon as their request line arrives, so the client's
reconnects fail the way they do while a network is down. Other connections
pass untouched. The server sees a client that went away; the client sees a
response cut short (for an EventSource: a network error, then its own
reconnect with ``Last-Event-ID``).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

_REQUEST_LINE = re.compile(rb"^[A-Z]+ (\S+) HTTP/1\.[01]\r\n")
_CHUNK = 65536


@dataclass
class _Link:
    client: socket.socket
    upstream: socket.socket
    path: str = ""
    closed: bool = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.upstream):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@dataclass
class CuttingProxy:
    upstream_port: int
    port: int = 0
    cuts: int = 0  # connections cut or refused so far
    requests: list[bytes] = field(default_factory=list)  # each request's head, as sent
    _listener: socket.socket | None = None
    _links: list[_Link] = field(default_factory=list)
    _held: dict[str, float] = field(default_factory=dict)  # path -> refuse until (monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True, name="cutproxy-accept").start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()

    def cut(self, path: str, *, hold_s: float = 0.0) -> int:
        """Close the open connections for ``path``; refuse new ones for ``hold_s`` s.

        Returns how many open connections were cut.
        """
        with self._lock:
            self._held[path] = time.monotonic() + hold_s
            victims = [link for link in self._links if path in link.path and not link.closed]
            self.cuts += len(victims)
        for link in victims:
            link.close()
        return len(victims)

    def heads(self, path: str) -> list[str]:
        """The heads of the requests for URLs containing ``path``, oldest first."""
        with self._lock:
            heads = [head.decode("latin-1") for head in self.requests]
        return [head for head in heads if path in head.split("\r\n", 1)[0]]

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            link = _Link(client, upstream)
            with self._lock:
                self._links = [known for known in self._links if not known.closed]
                self._links.append(link)
            threading.Thread(target=self._to_server, args=(link,), daemon=True).start()
            threading.Thread(target=self._to_client, args=(link,), daemon=True).start()

    def _refused(self, path: str) -> bool:
        now = time.monotonic()
        with self._lock:
            held = any(key in path and until > now for key, until in self._held.items())
            if held:
                self.cuts += 1
            return held

    def _to_server(self, link: _Link) -> None:
        try:
            while data := link.client.recv(_CHUNK):
                # Browsers do not pipeline: a request starts a read.
                if match := _REQUEST_LINE.match(data):
                    link.path = match.group(1).decode("latin-1")
                    with self._lock:
                        self.requests.append(data.partition(b"\r\n\r\n")[0])
                    if self._refused(link.path):
                        break
                link.upstream.sendall(data)
        except OSError:
            pass
        link.close()

    def _to_client(self, link: _Link) -> None:
        try:
            while data := link.upstream.recv(_CHUNK):
                link.client.sendall(data)
        except OSError:
            pass
        link.close()


@contextmanager
def cutting_proxy(upstream_port: int) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(upstream_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
