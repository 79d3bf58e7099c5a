"""Cut connections, reassembled answers: 0 characters lost, 0 duplicated.

One ~2,000-token answer streams while two clients read it through seeded cut
proxies (tests/support/cut_proxy.py): one reads the HTML stream and applies
its events as the page does, one reads the JSON stream and rebuilds the
text. Each reconnects after every cut the way EventSource does: with
``Last-Event-ID`` set to the id of the last *complete* event it received (an
event cut off mid-way is never seen), or with none if it has had none. It
reconnects at once rather than after the server's ``retry:`` (1 s), to fit
the cuts into one answer. Then what each holds must be exactly the saved
answer. On the memory log, the Redis log, and two daphne processes sharing
PostgreSQL and Redis with the cuts' reconnects alternating between them.

The seed is printed (``SPOOL_CUT_SEED=<n>`` replays a failure).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import FAKE_MODEL, spool_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.client import SpoolClient, SSEEvent
from tests.support.cut_proxy import CutProxy, schedule
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.json_stream import JsonEvent, Text
from tests.support.services import REDIS, require_service
from tests.support.sse_parser import Event, SSEParser
from tests.test_scaleout import pair  # noqa: F401  (two daphnes on PostgreSQL + Redis)
from tests.test_views_stream import PageModel

MIN_CUTS = 30
# Cut offsets per connection, in bytes of its response (HTTP headers are ~300
# of them, so some cuts land in the headers, most in the events). A reconnect
# that got nothing new gets a longer one next time (tests/support/cut_proxy.py).
HTML_CUTS = (1, 2000)
JSON_CUTS = (1, 800)
MAX_CONNECTIONS = 2000
SESSION_TIMEOUT_S = 120.0


def _answer() -> str:
    """~8,000 characters (~2,000 tokens) of mixed markdown, non-ASCII and CRLF included."""
    rng = random.Random(2000)
    words = ["stream", "offset", "event", "reconnect", "proxy", "byte", "answer", "token"]
    words += ["replay", "snapshot", "delta", "final", "café", "naïve", "✓", "東京", "cut"]

    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(6, 14))).capitalize() + "."

    parts: list[str] = []
    while sum(map(len, parts)) < 8000:
        kind = len(parts) % 6
        if kind == 0:
            parts.append(f"## Part {len(parts) // 6 + 1}")
        elif kind == 1:
            parts.append(" ".join(sentence() for _ in range(4)))
        elif kind == 2:
            parts.append("\n".join(f"- {sentence()}" for _ in range(3)))
        elif kind == 3:
            code = "\n".join(f"x{i} = {i} * {rng.randint(1, 9)}  # {sentence()}" for i in range(4))
            parts.append(f"```python\n{code}\n```")
        elif kind == 4:
            rows = "\n".join(f"| {rng.choice(words)} | {rng.randint(1, 99)} |" for _ in range(3))
            parts.append(f"| word | n |\n|---|---|\n{rows}")
        else:
            parts.append(sentence() + "\r\n" + sentence())  # a CRLF the store normalises
    return "\n\n".join(parts) + "\n"


ANSWER = _answer()
# ~1,000 chunks ~10 ms apart: about 10 s of streaming, ~200 frames.
CUT_SCRIPT = Script.text(ANSWER, chunk_size=8, delay=0.01, name="cuts")


@pytest.fixture(scope="module", autouse=True)
def cut_answer(fake_llm: FakeOpenAIServer) -> None:
    fake_llm.when("[cuts]", CUT_SCRIPT)


@pytest.fixture(
    scope="module",
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.services),
        pytest.param("two-processes", marks=pytest.mark.services),
    ],
)
def servers(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fake_llm: FakeOpenAIServer,
) -> Iterator[list[DaphneServer]]:
    if request.param == "two-processes":
        yield list(request.getfixturevalue("pair"))
        return
    extra = {}
    if request.param == "redis":
        require_service("Redis", REDIS)
        extra["REDIS_URL"] = f"redis://{REDIS[0]}:{REDIS[1]}/0"
    tmp: Path = tmp_path_factory.mktemp(f"cuts-{request.param}")
    with run_daphne(tmp, spool_env(fake_llm, **extra)) as server:
        yield [server]


@dataclass
class Session:
    """One client's reading of one stream, across every reconnect."""

    events: list[Event] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # ids of events that carried one, in order
    connections: int = 0
    error: BaseException | None = None


def read_with_reconnects(
    base_url: str,
    cookies: httpx.Cookies,
    path: str,
    last_event: str,
    accept: str = "text/event-stream",
) -> Session:
    """Read ``path`` until an event named ``last_event``, reconnecting like EventSource."""
    session = Session()
    last_id = ""
    deadline = time.monotonic() + SESSION_TIMEOUT_S
    with httpx.Client(base_url=base_url, cookies=cookies, timeout=30) as http:
        while session.connections < MAX_CONNECTIONS and time.monotonic() < deadline:
            session.connections += 1
            headers = {"Accept": accept}
            if last_id:
                headers["Last-Event-ID"] = last_id
            parser = SSEParser(last_id)
            try:
                with http.stream("GET", path, headers=headers) as response:
                    assert response.status_code == 200
                    for chunk in response.iter_bytes():
                        for event in parser.feed(chunk):
                            session.events.append(event)
                            if event.id_set:
                                session.ids.append(int(event.last_event_id))
                            if event.event == last_event:
                                return session
            except (httpx.TransportError, httpx.DecodingError):
                pass  # the cut: EventSource reconnects
            last_id = parser.last_event_id
            time.sleep(0.005)
    raise AssertionError(f"{path}: no {last_event} after {session.connections} connections")


def in_thread(target: Callable[[], Session]) -> Callable[[], Session]:
    result: list[Session] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(target())
        except BaseException as exc:  # reported in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()

    def join() -> Session:
        thread.join(SESSION_TIMEOUT_S + 30)
        if failure:
            raise failure[0]
        assert result, "the reader never finished"
        return result[0]

    return join


def _timestamp(value: datetime | str) -> float:
    """A database time (SQLite: naive UTC text; PostgreSQL: aware) as time.time()."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def as_page_events(events: list[Event]) -> list[SSEEvent]:
    return [SSEEvent(e.event, e.data, e.last_event_id if e.id_set else None) for e in events]


def as_json_events(events: list[Event]) -> list[JsonEvent]:
    return [JsonEvent(int(e.last_event_id), e.event, json.loads(e.data)) for e in events]


def test_cut_streams_reassemble_the_saved_answer_exactly(
    servers: list[DaphneServer], capsys: pytest.CaptureFixture[str]
) -> None:
    seed = int(os.environ.get("SPOOL_CUT_SEED") or random.SystemRandom().randrange(2**32))
    with capsys.disabled():
        print(f"\ncut proxy seed: {seed} (replay with SPOOL_CUT_SEED={seed})")
    owner = servers[0]
    user = SpoolClient(owner.url).signup()
    _, mid = user.start_conversation("[cuts] a long answer, please", model=FAKE_MODEL)
    upstreams = [("127.0.0.1", int(s.url.rsplit(":", 1)[1])) for s in servers]
    html_cuts = schedule(seed, MAX_CONNECTIONS, *HTML_CUTS)
    json_cuts = schedule(seed + 1, MAX_CONNECTIONS, *JSON_CUTS)
    with CutProxy(upstreams, html_cuts) as html_proxy, CutProxy(upstreams, json_cuts) as json_proxy:
        html_join = in_thread(
            lambda: read_with_reconnects(
                html_proxy.url, user.http.cookies, f"/m/{mid}/stream", "done"
            )
        )
        json_join = in_thread(
            lambda: read_with_reconnects(
                json_proxy.url, user.http.cookies, f"/m/{mid}/events", "final"
            )
        )
        html, text = html_join(), json_join()
    row = owner.wait_status(mid, "complete", timeout=30)
    completed = _timestamp(row["completed_at"])
    context = f"seed {seed}"
    assert row["content"] == ANSWER.replace("\r\n", "\n"), context
    for name, proxy, session in (("html", html_proxy, html), ("json", json_proxy, text)):
        during = sum(cut.at < completed for cut in proxy.cuts)
        with capsys.disabled():
            print(
                f"{name}: {len(proxy.cuts)} cuts ({during} while the answer streamed), "
                f"{session.connections} connections, {len(session.events)} events"
            )
        assert during >= MIN_CUTS, f"{name}: only {during} cuts during the answer; {context}"
        # Each id (an offset of the run) arrived once, in order: nothing
        # replayed twice, whatever the cut.
        assert session.ids == sorted(set(session.ids)), f"{name}: {context}"
        if len(servers) > 1:
            served = {cut.connection % len(servers) for cut in proxy.cuts}
            assert served == set(range(len(servers))), "reconnects alternate between processes"
    page = PageModel().apply(as_page_events(html.events))
    assert page.html == row["html"], f"html: {context}"
    rebuilt = Text().apply(as_json_events(text.events))
    assert rebuilt.text == row["content"], f"json: {context}"
