"""A real loopback HTTP server speaking OpenAI's Chat Completions wire format.

Runs in a background thread, listens on a real TCP port, so the code under test
talks to it exactly as it would to OpenAI or vLLM — from this process or from a
daphne subprocess given ``base_url``. Streaming responses are HTTP/1.1 chunked
``text/event-stream``; every SSE event is written and flushed on its own.

Which script answers a ``POST /v1/chat/completions``:

1. the oldest script in the queue (``enqueue``), else
2. if the last message is a tool result: the ``after_tool`` script (default:
   echo the result), else
3. for a request that continues an answer (Continue: a user message holding
   the substring is followed by an assistant message, the partial answer),
   the first ``when_continuing(substring, script)`` rule, else
   for a request whose first message is a system message holding the
   substring, the first ``when_system(substring, script)`` rule (a request
   with a prompt of its own, e.g. a title's; optionally only for a question), else
4. the first ``when(substring, script)`` rule found in the last user message
   (a rule given ``times=n`` answers n requests, then steps aside), else
5. the default script.

``Continuation`` steps are resolved against the request (``Script.resolved``).

Every request is recorded (``RequestRecord``), including whether and when the
client hung up before the script finished. Hang-ups are seen even while the
server sends nothing (stall, delay between chunks): it watches the socket for
EOF with ``select`` while waiting.

Usage::

    with FakeOpenAIServer() as server:
        server.enqueue(Script.text("Hi", delay=0.05))
        client = AsyncOpenAI(base_url=server.base_url, api_key="k")
        ...
        record = server.wait_for_hangup(timeout=1)

Run standalone (for manual or cross-process tests, keyword scenarios on)::

    python -m tests.fakes.openai_server --port 8999
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests.fakes.scripts import (
    DEFAULT_SCRIPT,
    KEYWORD_SCRIPTS,
    AbruptClose,
    ChunkFactory,
    Comment,
    HttpError,
    Script,
    Stall,
    UsageChunk,
    completion_body,
    content_text,
    error_body,
    last_text,
    step_events,
)

# How often the server loop and waiting handlers check for stop(); a client
# hang-up wakes select() at once, so this only bounds how long stop() takes.
WATCH_INTERVAL_S = 0.05
DEFAULT_MODELS = ("fake-model", "fake-vision")


@dataclass
class RequestRecord:
    """One request as the server saw it. Times are ``time.monotonic()`` values.

    ``hung_up_at`` is set when the client closed the connection before the
    script finished; ``finished_at`` when the server sent the whole response.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    script: str = ""
    hung_up_at: float | None = None
    finished_at: float | None = None

    @property
    def hung_up(self) -> bool:
        return self.hung_up_at is not None

    @property
    def last_user_text(self) -> str:
        return last_text(self.body, role="user")


@dataclass
class _Rule:
    """A ``when()`` rule; ``remaining`` None means unlimited."""

    substring: str
    script: Script
    remaining: int | None
    continuing: bool = False
    system: bool = False
    question: str = ""  # system rules: and the last user message holds this


class ClientHungUp(Exception):
    """The client closed the connection while the script was playing."""


class _ServerStopping(Exception):
    """stop() was called while a script was playing."""


class FakeOpenAIServer:
    """The fake server. ``start()``/``stop()`` or use it as a context manager."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: tuple[str, ...] = DEFAULT_MODELS,
        default_script: Script = DEFAULT_SCRIPT,
        api_key: str | None = None,
        strict_models: bool = False,
        reject_stream_options: bool = False,
    ) -> None:
        """``api_key``, if given, is required as ``Authorization: Bearer …`` (else 401).

        Quirks of real servers, on demand: ``strict_models`` answers 404
        ``model_not_found`` for a model not in ``models`` (OpenAI, vLLM);
        ``reject_stream_options`` answers 400 to a request that carries
        ``stream_options`` (servers that predate the field).
        """
        self.models = models
        self.api_key = api_key
        self.strict_models = strict_models
        self.reject_stream_options = reject_stream_options
        self._host, self._port = host, port
        self._default = default_script
        self._after_tool: Script | None = None
        self._queue: deque[Script] = deque()
        self._rules: list[_Rule] = []
        self._records: list[RequestRecord] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        self._stopping.clear()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer((self._host, self._port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": WATCH_INTERVAL_S},  # stop() waits one poll
            name="fake-openai",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; scripts still playing (stalls included) end within ~50 ms."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self._host}:{self.port}/v1"

    # -- choosing scripts ---------------------------------------------------

    def enqueue(self, *scripts: Script) -> None:
        """Answer the next chat requests with these scripts, in order (before any rule)."""
        with self._cond:
            self._queue.extend(scripts)

    def when(self, substring: str, script: Script, *, times: int | None = None) -> None:
        """Answer with ``script`` when the last user message contains ``substring``.

        ``times``: answer only that many matching requests; later ones fall
        through to the next rule or the default (a failure, then a Retry that works).
        """
        with self._cond:
            self._rules.append(_Rule(substring, script, times))

    def when_continuing(self, substring: str, script: Script, *, times: int | None = None) -> None:
        """Answer with ``script`` a request that continues the answer to a user
        message containing ``substring`` (that message is followed by an
        assistant message: the partial answer, as a prefill or before an
        instruction to continue). ``times`` as for ``when`` (a Continue that
        fails, then one that works)."""
        with self._cond:
            self._rules.append(_Rule(substring, script, times, continuing=True))

    def when_system(self, substring: str, script: Script, *, question: str = "") -> None:
        """Answer with ``script`` a request whose first message is a system
        message containing ``substring`` and whose last user message contains
        ``question`` (by default, whatever it says)."""
        with self._cond:
            self._rules.append(_Rule(substring, script, None, system=True, question=question))

    def set_default(self, script: Script) -> None:
        with self._cond:
            self._default = script

    def after_tool(self, script: Script) -> None:
        """Answer requests whose last message is a tool result with ``script``."""
        with self._cond:
            self._after_tool = script

    def use_keywords(self) -> None:
        """Install ``KEYWORD_SCRIPTS`` as rules (``[stall]``, ``[429]``, ``[tool]``…)."""
        for keyword, script in KEYWORD_SCRIPTS.items():
            self.when(keyword, script)

    def _choose(self, body: Any) -> Script:
        with self._cond:
            if self._queue:
                return self._queue.popleft()
            messages = body.get("messages") if isinstance(body, dict) else None
            if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool":
                result = content_text(messages[-1].get("content"))
                return self._after_tool or Script.text(f"The tool returned {result}.")
            for rule in self._rules:
                if (
                    rule.continuing
                    and rule.remaining != 0
                    and _continues(messages or [], rule.substring)
                ):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.script
            system = _system_text(messages or [])
            text = last_text(body, role="user")
            for rule in self._rules:
                if rule.system and rule.substring in system and rule.question in text:
                    return rule.script
            for rule in self._rules:
                if rule.continuing or rule.system:
                    continue
                if rule.substring in text and rule.remaining != 0:
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.script
            return self._default

    # -- records ------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request received so far, oldest first."""
        with self._cond:
            return list(self._records)

    @property
    def chat_requests(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def wait_for_requests(self, count: int = 1, timeout: float = 2.0) -> list[RequestRecord]:
        """Block until at least ``count`` chat requests arrived; return them all.

        Raises ``TimeoutError`` after ``timeout`` seconds (as do the other waits).
        """
        return self._wait(lambda r: True, count, timeout, "requests")

    def wait_for_hangup(self, timeout: float = 2.0, *, prompt: str = "") -> RequestRecord:
        """Block until a chat request's client hung up early; return its record.

        ``prompt``: only a request whose last user message contains it counts
        (a server shared by many tests sees many requests).
        """
        return self._wait(
            lambda r: r.hung_up and prompt in r.last_user_text, 1, timeout, "hang-up"
        )[0]

    def wait_for_finish(self, timeout: float = 2.0) -> RequestRecord:
        """Block until a chat request's script has ended (played out or hung up)."""
        return self._wait(lambda r: r.finished_at is not None or r.hung_up, 1, timeout, "finish")[0]

    def _wait(
        self, match: Callable[[RequestRecord], bool], count: int, timeout: float, what: str
    ) -> list[RequestRecord]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := [r for r in self.chat_requests if match(r)]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {what} within {timeout} s: {self._records!r}")
                self._cond.wait(remaining)
            return found

    def _record(self, record: RequestRecord) -> None:
        with self._cond:
            self._records.append(record)
            self._cond.notify_all()

    def _mark(self, record: RequestRecord, *, hung_up: bool) -> None:
        with self._cond:
            if hung_up:
                record.hung_up_at = time.monotonic()
            else:
                record.finished_at = time.monotonic()
            self._cond.notify_all()


def _system_text(messages: list[Any]) -> str:
    """The text of the first message, if it is a system message."""
    first = messages[0] if messages else None
    if isinstance(first, dict) and first.get("role") == "system":
        return content_text(first.get("content"))
    return ""


def _continues(messages: list[Any], substring: str) -> bool:
    """A user message containing ``substring`` is followed by an assistant one."""
    for message, after in itertools.pairwise(messages):
        if not (isinstance(message, dict) and isinstance(after, dict)):
            continue
        if message.get("role") == "user" and substring in content_text(message.get("content")):
            return after.get("role") == "assistant"
    return False


class _Handler(BaseHTTPRequestHandler):
    """Plays one script per request. Keep-alive works, like a real server."""

    protocol_version = "HTTP/1.1"
    fake: FakeOpenAIServer  # set on the per-server subclass

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/").endswith("/models"):
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "spool-fake"}
                for m in self.fake.models
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, error_body(f"Unknown path {self.path}", "invalid_request_error"))

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        record = self._record(body)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, error_body(f"Unknown path {self.path}", "invalid_request_error"))
            return
        expected_auth = f"Bearer {self.fake.api_key}"
        if self.fake.api_key is not None and self.headers.get("authorization") != expected_auth:
            self._send_json(401, error_body("Incorrect API key provided", code="invalid_api_key"))
            return
        refusal = self._quirk_refusal(body)
        if refusal is not None:
            self._send_http_error(refusal)
            return
        script = self.fake._choose(body).resolved(body)
        record.script = script.name
        try:
            self._wait(script.headers_delay)
            if isinstance(script.steps[0], HttpError):
                self._send_http_error(script.steps[0])
            elif isinstance(body, dict) and body.get("stream"):
                self._play_stream(script, body)
            else:
                self._send_json(200, completion_body(script, body))
        except (ClientHungUp, BrokenPipeError, ConnectionResetError):
            self.fake._mark(record, hung_up=True)
            self.close_connection = True
        except _ServerStopping:
            self.close_connection = True
        else:
            self.fake._mark(record, hung_up=False)

    def _quirk_refusal(self, body: Any) -> HttpError | None:
        if not isinstance(body, dict):
            return None
        model = body.get("model")
        if self.fake.strict_models and model not in self.fake.models:
            return HttpError(404, f"The model `{model}` does not exist.", code="model_not_found")
        if self.fake.reject_stream_options and "stream_options" in body:
            return HttpError(400, "Unrecognized request argument supplied: stream_options")
        return None

    # -- responses ----------------------------------------------------------

    def _record(self, body: Any) -> RequestRecord:
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = RequestRecord(self.command, self.path, headers, body, time.monotonic())
        self.fake._record(record)
        return record

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] = {}) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_http_error(self, error: HttpError) -> None:
        self._send_json(error.status, json.loads(error.body()), error.headers)

    def _play_stream(self, script: Script, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = ChunkFactory(str(body.get("model", "fake-model")), include_usage)
        self._split_utf8 = script.split_utf8
        self._event(chunks.make({"role": "assistant", "content": ""}))
        for step in script.steps:
            if isinstance(step, AbruptClose):
                self._abrupt_close()
                return
            if isinstance(step, Stall):
                self._wait(step.seconds)
                continue
            if isinstance(step, Comment):
                self._write_chunk(b": " + step.text.encode() + b"\n\n")
                continue
            if isinstance(step, UsageChunk) and not include_usage:
                continue
            for delay, event in step_events(step, chunks):
                self._wait(delay)
                self._event(event)
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")  # chunked-body terminator

    _split_utf8 = False

    def _event(self, payload: dict[str, Any]) -> None:
        # ensure_ascii off: text travels as raw UTF-8, as real servers send it.
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        data = b"data: " + text.encode() + b"\n\n"
        cut = _inside_utf8_sequence(data) if self._split_utf8 else None
        if cut is None:
            self._write_chunk(data)
        else:
            # Two writes (two TCP segments) that cut a character in half: a
            # client decoding each read on its own garbles the text.
            self._write_chunk(data[:cut])
            time.sleep(0.001)
            self._write_chunk(data[cut:])

    def _write_chunk(self, data: bytes) -> None:
        """Write one HTTP/1.1 chunk and flush it; the empty chunk ends the body."""
        self._check_client()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _abrupt_close(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _check_client(self) -> None:
        """Raise ClientHungUp if the client closed its end (EOF is readable at once)."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if readable and self._peer_closed():
            raise ClientHungUp

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` while watching the socket for a hang-up or server stop."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self.fake._stopping.is_set():
                raise _ServerStopping
            readable, _, _ = select.select(
                [self.connection], [], [], min(remaining, WATCH_INTERVAL_S)
            )
            if readable:
                if self._peer_closed():
                    raise ClientHungUp
                time.sleep(min(remaining, WATCH_INTERVAL_S))  # unexpected bytes: don't spin

    def _peer_closed(self) -> bool:
        try:
            return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except (ConnectionResetError, BrokenPipeError):
            return True
        except BlockingIOError:
            return False


def _inside_utf8_sequence(data: bytes) -> int | None:
    """An offset inside the first multi-byte UTF-8 character of ``data``, if any."""
    for i, byte in enumerate(data):
        if byte >= 0xC0:  # the lead byte of a multi-byte sequence
            return i + 1
    return None


def main() -> None:
    """Serve until Ctrl-C with the keyword scenarios installed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8999)
    args = parser.parse_args()
    server = FakeOpenAIServer(host=args.host, port=args.port).start()
    server.use_keywords()
    print(f"fake OpenAI server on {server.base_url} (keywords: {', '.join(KEYWORD_SCRIPTS)})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
