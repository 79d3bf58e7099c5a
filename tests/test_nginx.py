"""Spool in production behind a real nginx running deploy/nginx.conf.

daphne runs with the production settings a deployment uses behind nginx
(SPOOL_PRODUCTION=1, SPOOL_BEHIND_TLS_PROXY=1, SPOOL_SERVE_STATIC=0) and
nginx terminates TLS with a throwaway certificate. The checks are the ones
a proxy can break: events reach the browser as they are sent, a quiet stream
outlives nginx's read timeout thanks to heartbeats, a hang-up reaches the run,
and HTTPS, HSTS and static files work as configured.
"""

from __future__ import annotations

import itertools
import re
import secrets
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import FAKE_MODEL, spool_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.client import SpoolClient, SSEEvent
from tests.support.daphne import DaphneServer, collect_static, run_daphne
from tests.support.nginx import NginxServer, nginx_binary, run_nginx

# nginx's read timeout in these tests, and heartbeat intervals on either side of it.
READ_TIMEOUT_S = 3
HEARTBEAT_S = 1
NO_HEARTBEAT_S = 30
# The stalled answer fails after this long with no chunk from the model: well
# past nginx's read timeout, so only heartbeats can keep its stream open.
IDLE_TIMEOUT_S = 8
# A closed page stops its answer after this long (the hang-up test waits for it).
GRACE_S = 1
ONE_YEAR_S = 365 * 24 * 3600


def production_env(fake_llm: FakeOpenAIServer, static_root: Path, **extra: str) -> dict[str, str]:
    return spool_env(
        fake_llm,
        SPOOL_PRODUCTION="1",
        SPOOL_BEHIND_TLS_PROXY="1",
        SPOOL_SECRET_KEY=secrets.token_urlsafe(50),
        SPOOL_ALLOWED_HOSTS="127.0.0.1",
        SPOOL_SERVE_STATIC="0",
        SPOOL_STATIC_ROOT=str(static_root),
        SPOOL_IDLE_TIMEOUT_S=str(IDLE_TIMEOUT_S),
        SPOOL_DETACH_GRACE_S=str(GRACE_S),
        **extra,
    )


@pytest.fixture(scope="module")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    nginx_binary()  # skip (or fail in CI) before spending time on collectstatic
    root = tmp_path_factory.mktemp("static") / "staticfiles"
    collect_static(root)
    return root


def _proxied(
    tmp: Path, fake_llm: FakeOpenAIServer, static_root: Path, heartbeat_s: float
) -> Iterator[tuple[DaphneServer, NginxServer]]:
    env = production_env(fake_llm, static_root, SPOOL_SSE_HEARTBEAT_S=str(heartbeat_s))
    (tmp / "daphne").mkdir()
    with (
        run_daphne(tmp / "daphne", env) as daphne,
        run_nginx(
            tmp / "nginx",
            upstream_port=int(daphne.url.rsplit(":", 1)[1]),
            static_root=static_root,
            read_timeout=f"{READ_TIMEOUT_S}s",
        ) as nginx,
    ):
        yield daphne, nginx


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, fake_llm, static_root) -> Iterator[tuple[DaphneServer, NginxServer]]:
    """daphne with heartbeats every HEARTBEAT_S, behind nginx."""
    yield from _proxied(tmp_path_factory.mktemp("proxied"), fake_llm, static_root, HEARTBEAT_S)


@pytest.fixture(scope="module")
def proxied_no_heartbeat(
    tmp_path_factory, fake_llm, static_root
) -> Iterator[tuple[DaphneServer, NginxServer]]:
    """The same, with heartbeats further apart than nginx's read timeout."""
    tmp = tmp_path_factory.mktemp("proxied_quiet")
    yield from _proxied(tmp, fake_llm, static_root, NO_HEARTBEAT_S)


def https_client(nginx: NginxServer) -> SpoolClient:
    trust = ssl.create_default_context(cafile=str(nginx.cert_path))
    return SpoolClient(nginx.https_url, verify=trust).signup()


def read_stream(
    client: SpoolClient, message_id: str
) -> tuple[list[SSEEvent], list[float], BaseException | None]:
    """Events, arrival times of heartbeat comments, and the error that cut the stream (if any)."""
    events: list[SSEEvent] = []
    pings: list[float] = []
    try:
        for item in client.stream(message_id):
            if isinstance(item, SSEEvent):
                events.append(item)
            elif item == "ping":
                pings.append(time.monotonic())
    except httpx.HTTPError as error:
        return events, pings, error
    return events, pings, None


def test_frames_arrive_spaced_as_sent(proxied) -> None:
    daphne, nginx = proxied
    c = https_client(nginx)
    _, mid = c.start_conversation(f"[long] pace {uuid.uuid4().hex}", model=FAKE_MODEL)
    opened = time.monotonic()
    events, _, cut = read_stream(c, mid)
    assert cut is None, cut
    assert events[-1].event == "done"
    content = [e for e in events if e.event in {"block", "tail"}]
    # The answer takes ~7 s to write; buffered by nginx it would come in a few
    # large bursts (the first one late), not as ~50 ms frames.
    assert content[0].at - opened < 1.5, "the first words waited for a buffer to fill"
    assert content[-1].at - content[0].at > 3
    bursts = 1 + sum(b.at - a.at > 0.02 for a, b in itertools.pairwise(content))
    assert bursts >= 40, f"{len(content)} events arrived in only {bursts} bursts"
    assert daphne.wait_status(mid, "complete", timeout=15)["status"] == "complete"


def test_heartbeats_keep_a_quiet_stream_past_nginx_read_timeout(proxied) -> None:
    daphne, nginx = proxied
    c = https_client(nginx)
    _, mid = c.start_conversation(f"[stall] keep me {uuid.uuid4().hex}", model=FAKE_MODEL)
    events, pings, cut = read_stream(c, mid)
    assert cut is None, f"nginx cut the stream: {cut}\n{nginx.errors()[-2000:]}"
    assert events[-1].event == "done"
    # The model stalled for IDLE_TIMEOUT_S: the stream carried nothing but
    # heartbeats for longer than nginx waits, and stayed open until the end.
    longest_silence = max(b.at - a.at for a, b in itertools.pairwise(events))
    assert longest_silence > READ_TIMEOUT_S + 1
    assert len(pings) >= IDLE_TIMEOUT_S // HEARTBEAT_S - 3
    assert daphne.wait_status(mid, "failed")["status"] == "failed"


def test_without_heartbeats_nginx_cuts_a_quiet_stream(proxied_no_heartbeat) -> None:
    """The control for the test above: it is the heartbeats that keep the stream."""
    _, nginx = proxied_no_heartbeat
    c = https_client(nginx)
    _, mid = c.start_conversation(f"[stall] cut me {uuid.uuid4().hex}", model=FAKE_MODEL)
    started = time.monotonic()
    events, pings, cut = read_stream(c, mid)
    assert cut is not None, "the stream was not cut"
    assert pings == []
    assert all(e.event != "done" for e in events)
    cut_after = time.monotonic() - started
    assert READ_TIMEOUT_S - 0.5 < cut_after < IDLE_TIMEOUT_S, cut_after
    assert "upstream timed out" in nginx.errors()


def test_a_hang_up_through_nginx_reaches_the_run(proxied, fake_llm) -> None:
    daphne, nginx = proxied
    c = https_client(nginx)
    prompt = f"[long] hang up {uuid.uuid4().hex}"
    _, mid = c.start_conversation(prompt, model=FAKE_MODEL)
    for item in c.stream(mid):
        if isinstance(item, SSEEvent) and item.event == "block":
            break  # leaving the loop closes the connection mid-answer
    closed = time.monotonic()
    c.close()
    record = fake_llm.wait_for_hangup(timeout=10, prompt=prompt)
    assert record.hung_up_at is not None
    # The model was cut after the grace period, long before its ~7 s answer ended.
    assert record.hung_up_at - closed < GRACE_S + 3
    assert daphne.wait_status(mid, "interrupted", timeout=10)["status"] == "interrupted"


def test_https_only_with_hsts_and_cached_static_files(proxied) -> None:
    daphne, nginx = proxied
    plain = httpx.get(f"{nginx.http_url}/accounts/login/")
    assert plain.status_code == 301
    assert plain.headers["location"].startswith("https://")

    c = https_client(nginx)
    page = c.http.get("/")
    assert page.status_code == 200
    # Django sets HSTS only on requests it knows are secure: it trusted nginx's
    # X-Forwarded-Proto, and redirected nothing itself.
    hsts = page.headers["strict-transport-security"]
    assert hsts == f"max-age={ONE_YEAR_S}; includeSubDomains"
    css = re.search(r'href="(/static/css/spool\.[0-9a-f]{12}\.css)"', page.text)
    assert css, "the page does not link a hashed stylesheet"
    static = c.http.get(css.group(1), headers={"Accept-Encoding": "gzip"})
    assert static.status_code == 200
    assert static.headers["content-encoding"] == "gzip"  # the .gz copy, gzip_static
    assert f"max-age={10 * ONE_YEAR_S}" in static.headers["cache-control"]  # nginx's "max"
    assert "immutable" in static.headers["cache-control"]
    assert ".msg-assistant" in static.text
    # nginx serves them: the app itself does not (SPOOL_SERVE_STATIC=0).
    assert httpx.get(daphne.url + css.group(1)).status_code == 404
