"""The serving bench (bench/streams.py): its parsers and statistics, then its
whole machinery against real servers: the raw ASGI baseline on daphne, and
Spool itself started from its Procfile."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from bench import stream_stats as st
from bench.baseline import schedule
from bench.sse_wire import ChunkedDecoder, SseEvent, SseParser, parse_head, words_in
from bench.stream_client import StreamJob, StreamResult, Target, run_jobs
from bench.stream_figures import Config, Run, Rung, Sample, ServerRun
from bench.stream_report import report
from bench.stream_servers import RunningServer, procfile_web, server_specs
from bench.streams import Harness, bench_server, client_pool, parse_args, started
from streaming.providers.demo import bench_words
from streaming.runs.run import FRAME_INTERVAL_S

# A bench small enough for a test: 2 s answers at 100 words/s, arrivals within
# 0.1 s, so the steady window is 0.6-1.49 s after the start.
TINY = Config(
    servers=("raw-daphne",),
    ladder=(4,),
    words=200,
    delay=0.01,
    idle_streams=3,
    burst_streams=4,
    burst_words=20,
    start_streams=4,
    warmup_streams=1,
    users=2,
    clients=1,
    spread_s=0.1,
)


# --- parsing -------------------------------------------------------------------


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    out, pos = b"", 0
    for size in sizes:
        piece = body[pos : pos + size]
        if piece:
            out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        pos += size
    if pos < len(body):
        out += f"{len(body) - pos:x};ext=1\r\n".encode() + body[pos:] + b"\r\n"
    return out + b"0\r\n\r\n"


@given(
    body=hs.binary(max_size=300),
    sizes=hs.lists(hs.integers(1, 50), max_size=10),
    cuts=hs.lists(hs.integers(1, 40), max_size=30),
)
def test_chunked_decoder_reassembles_any_slicing(body: bytes, sizes: list[int], cuts: list[int]):
    wire = _chunked(body, sizes)
    decoder, out, pos = ChunkedDecoder(), b"", 0
    for cut in [*cuts, len(wire)]:
        out += decoder.feed(wire[pos : pos + cut])
        pos += cut
    assert out == body
    assert decoder.finished


def test_chunked_decoder_is_not_finished_before_the_last_chunk():
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nabc\r\n") == b"abc"
    assert not decoder.finished


def test_sse_parser_splits_events_across_reads_and_line_ends():
    wire = (
        b"retry: 1000\n\n: ping\n\nid: 3\nevent: tail\ndata: <p>w1</p>\ndata: \n\n"
        b"data: w2 w3\r\n\r\nevent: done\rdata: x\r\r\n"
    )
    for cut in range(1, len(wire)):
        parser = SseParser()
        events = parser.feed(wire[:cut]) + parser.feed(wire[cut:])
        assert events == [
            SseEvent("tail", b"<p>w1</p>\n"),
            SseEvent("message", b"w2 w3"),
            SseEvent("done", b"x"),
        ], cut
        assert parser.retry_ms == 1000
        assert parser.last_id == "3"


def test_sse_parser_drops_a_half_event_on_reconnect_and_keeps_the_id():
    parser = SseParser()
    parser.feed(b"id: 7\ndata: w1\n\ndata: w2")
    parser.reconnected()
    assert parser.feed(b"data: w3\n\n") == [SseEvent("message", b"w3")]
    assert parser.last_id == "7"


def test_words_are_read_from_what_the_page_shows_only():
    assert words_in(SseEvent("tail-append", b'[[1," w12 w13"]]')) == [12, 13]
    assert words_in(SseEvent("block", b"<p>w1 w2</p>")) == [1, 2]
    assert words_in(SseEvent("message", b"\nw41 row5 w7x")) == [41]
    # Screen-reader text and the footer repeat words already shown.
    assert words_in(SseEvent("announce", b"<p>w1 w2.</p>")) == []
    assert words_in(SseEvent("done", b"w9")) == []


def test_parse_head_reads_status_headers_and_cookies():
    head = parse_head(
        b"HTTP/1.1 422 Unprocessable\r\nContent-Length: 12\r\n"
        b"Set-Cookie: csrftoken=abc; Path=/\r\nSet-Cookie: sessionid=s1; HttpOnly\r\n"
        b"Connection: close"
    )
    assert (head.status, head.content_length, head.chunked, head.keep_alive) == (
        422,
        12,
        False,
        False,
    )
    assert head.cookies == {"csrftoken": "abc", "sessionid": "s1"}
    with pytest.raises(ValueError, match="not an HTTP response"):
        parse_head(b"SSH-2.0-OpenSSH")


# --- statistics ----------------------------------------------------------------


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert st.percentile(values, 50) == 50
    assert st.percentile(values, 99) == 99
    assert st.percentile(values, 100) == 100
    assert st.percentile([3.0, 1.0, 2.0], 99) == 3
    assert st.percentile([], 50) is None


def _result(t_sent: float, frames: list[tuple[float, int]], **kw: object) -> StreamResult:
    result = StreamResult(words=4, delay=0.5, t_sent=t_sent, frames=frames, done=True, events=3)
    return replace(result, **kw)  # type: ignore[arg-type]


def test_lateness_is_measured_from_the_first_request_for_the_highest_word():
    # Word k is due at t_sent + (k - 1) * 0.5.
    result = _result(10.0, [(10.2, 1), (11.1, 3), (13.0, 4)])
    assert st.lateness(result) == pytest.approx([0.2, 0.1, 1.5])
    assert st.first_word_s(result) == pytest.approx(0.2)
    assert st.first_word_s(_result(10.0, [])) is None


def test_window_counts_frames_and_open_stream_seconds():
    a = _result(0.0, [(0.5, 1), (1.5, 2), (2.5, 3)], t_end=3.0)
    b = _result(1.2, [(1.4, 1), (3.5, 4)], t_end=4.0)
    assert st.window_frames([a, b], 1.0, 3.0) == 3
    assert st.window_stream_seconds([a, b], 1.0, 3.0) == pytest.approx(2.0 + 1.8)


def test_outcome_counts_every_kind_of_failure():
    whole = _result(0.0, [(0.1, 4)], words_seen=4)
    short = _result(0.0, [(0.1, 3)], words_seen=3)
    gap = _result(0.0, [(0.1, 4)], words_seen=3)
    no_done = _result(0.0, [(0.1, 4)], words_seen=4, done=False)
    silent = _result(0.0, [], error="timeout", events=0)
    retried = _result(0.0, [(0.1, 4)], words_seen=4, reconnects=2, events=3)
    out = st.outcome([whole, short, gap, no_done, silent, retried])
    assert (out.streams, out.errors, out.silent, out.reconnects) == (6, 4, 1, 2)
    assert out.reasons == {
        "ended before the last word": 2,
        "no done event": 1,
        "timeout": 1,
    }


def _rung(n: int, late_s: float, reconnects: int = 0) -> Rung:
    """A rung of n streams whose every frame is ``late_s`` late."""
    results = [
        _result(0.0, [(k * 0.5 - 0.5 + late_s, k) for k in range(1, 5)], words_seen=4)
        for _ in range(n)
    ]
    results[0].reconnects = reconnects
    samples = [Sample(0.0, 1.0, 2**20), Sample(1.0, 1.2, 2 * 2**20)]
    run = Run(results, client_cpu_s=0.1, wall_s=1.0, t0=0.0, samples=samples)
    return Rung(n, run, (0.0, 1.0), idle_rss=0)


def test_capacity_is_the_last_n_before_the_first_failure():
    server = ServerRun("spool", rungs=[_rung(1, 0.01, reconnects=1), _rung(10, 0.02)])
    server.rungs.append(_rung(30, 0.3))
    assert server.rungs[0].failure(0.1) == "1 reconnects (a stream ended before its last word)"
    assert server.rungs[0].failure(0.1, strict=False) == ""
    assert server.rungs[2].failure(0.1, strict=False) == "p99 lateness 300 ms"
    assert server.capacity(0.1) == 0  # a reconnect is a stream that ended early
    assert server.capacity(0.1, strict=False) == 10
    config = replace(TINY, ladder=(1, 10, 30))
    text = report(config, [server])
    assert "N=1: 1 reconnects" in text
    assert "N=30: p99 lateness 300 ms" in text
    assert "Steady state at N=10" in text  # reconnects aside, the last passed


def test_table_gives_each_row_its_ratio_to_the_baselines():
    cpu = {"spool": 6.0, "fastapi": 2.0, "raw": 1.5}
    text = st.table(
        "CPU",
        ["spool", "fastapi", "raw"],
        [st.Column("ms", lambda s: st.num(cpu[s]))],
        key=cpu.get,
    )
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[3:]}
    assert rows["spool"] == ["6.0", "3.00x", "4.00x"]
    assert rows["raw"] == ["1.5", "0.75x", "1.00x"]
    assert st.ratio(1.0, None) == st.ratio(1.0, 0.0) == "-"


# --- what the bench runs -------------------------------------------------------


def test_spool_is_started_by_its_procfile_command():
    assert "daphne" in procfile_web()
    assert server_specs()["spool"].command == procfile_web()
    assert "--loop uvloop --http httptools --no-access-log" in server_specs()["raw"].command


def test_the_baselines_frame_like_spool():
    assert schedule.FRAME_INTERVAL_S == FRAME_INTERVAL_S


async def test_baseline_frames_are_coalesced_on_the_absolute_schedule():
    delay, loop = 0.01, asyncio.get_running_loop()
    start = loop.time()
    frames = [(loop.time() - start, text) async for text in schedule.frames(30, delay)]
    assert "".join(text for _, text in frames) == "".join(bench_words(30))
    times = [t for t, _ in frames]
    assert times[0] < delay  # the first word at once
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= FRAME_INTERVAL_S - 0.002  # at most one frame per interval
    assert len(frames) <= 30 * delay / FRAME_INTERVAL_S + 2  # words coalesced
    for t, text in frames:  # every word shown once it was due, none before
        assert t >= (int(text.split()[-1][1:]) - 1) * delay - 0.002


def test_options_reach_the_config():
    config = parse_args(
        ["--quick", "--servers", "raw,spool", "--ladder", "5,50", "--limit-ms", "80"]
    )
    assert config.servers == ("raw", "spool")
    assert config.ladder == (5, 50)
    assert config.limit_s == pytest.approx(0.08)
    assert config.words == 120  # --quick's
    with pytest.raises(SystemExit):
        parse_args(["--servers", "nginx"])


# --- end to end ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with client_pool(1) as executor:
        yield executor


def test_bench_measures_the_raw_baseline_on_daphne(pool: ProcessPoolExecutor):
    run = bench_server("raw-daphne", TINY, pool)
    assert not run.broken
    (rung,) = run.rungs
    for result in rung.run.results:
        # Every word arrived and was counted once, in frames of rising words.
        assert result.failure == ""
        assert result.words_seen == result.top_word == TINY.words
        tops = [k for _, k in result.frames]
        assert tops == sorted(set(tops))
        # Coalesced at 50 ms: ~5 words a frame at 100 words/s, not one each.
        assert TINY.words / 8 < len(result.frames) < TINY.words / 3
    assert len(rung.late) == sum(len(r.frames) for r in rung.run.results)
    assert 0 < rung.p(50) < 0.1  # type: ignore[operator]
    assert rung.failure(TINY.limit_s) == ""
    # The server really worked: CPU and memory were read from its process.
    assert rung.window_cpu_s > 0
    assert rung.cpu_ms_per_kframe() is not None
    assert rung.frames > 0
    assert rung.stream_s > 0
    assert run.idle_rss > 10 * 2**20
    assert run.start_cpu_ms() > 0  # type: ignore[operator]
    assert run.capacity(TINY.limit_s) == 4
    text = report(TINY, [run])
    assert "Lateness at N=4" in text
    assert "raw-daphne" in text


def _stalled_run(
    pool: ProcessPoolExecutor, server: RunningServer, stop_at: float
) -> list[StreamResult]:
    """Three 1 s streams from t0; the server frozen (SIGSTOP) from ``stop_at``
    seconds after t0 for 0.4 s."""
    target = Target("127.0.0.1", server.port, "baseline")
    jobs = [StreamJob(at=0.0, words=100, delay=0.01)] * 3
    t0 = time.monotonic() + 0.3
    future = pool.submit(run_jobs, target, jobs, t0)
    time.sleep(max(0.0, t0 + stop_at - time.monotonic()))
    os.killpg(server.process.pid, signal.SIGSTOP)
    time.sleep(0.4)
    os.killpg(server.process.pid, signal.SIGCONT)
    results = future.result().results
    assert all(r.failure == "" for r in results)
    return results


def test_a_stalled_server_is_measured_late(pool: ProcessPoolExecutor, tmp_path: Path):
    with started("raw-daphne", TINY, tmp_path) as (server, _):
        # Frozen as the streams arrive: they start 0.4 s after they were sent,
        # and every word is that late (slow admission counts).
        late = [x for r in _stalled_run(pool, server, -0.05) for x in st.lateness(r)]
        assert st.percentile(late, 50) > 0.3  # type: ignore[operator]
        # Frozen mid-answer: the frame after the stall carries every word due
        # meanwhile, its highest one on time; the gap before it shows the stall.
        results = _stalled_run(pool, server, 0.3)
    late = [x for r in results for x in st.lateness(r)]
    assert st.percentile(late, 50) < 0.1  # type: ignore[operator]
    assert all(max(st.gaps(r)) > 0.35 for r in results)
    assert sorted(st.gaps(results[0]))[-2] < 0.1  # the other gaps: one frame interval


def test_bench_streams_spool_through_its_user_path(pool: ProcessPoolExecutor, tmp_path: Path):
    config = replace(TINY, servers=("spool",), words=90)
    with started("spool", config, tmp_path) as (server, accounts):
        harness = Harness(config, pool, server, accounts)
        run = harness.run(harness.jobs([0.0, 0.05, 0.1], config.words))
        harness.wait_quiet()
        with sqlite3.connect(tmp_path / "spool.sqlite3") as db:
            answers = db.execute(
                "SELECT content, status FROM chatapp_message WHERE role = 'assistant'"
            ).fetchall()
    expected = "".join(bench_words(config.words))
    assert answers == [(expected, "complete")] * 3
    for result in run.results:
        assert result.failure == ""
        assert result.send_s is not None
        assert result.ttft_s is not None
        assert 0 < result.send_s < 5
        # The answer's 3 paragraphs arrived as tail, tail-append and block events.
        assert result.words_seen == result.top_word == config.words
    assert 0 < st.percentile([x for r in run.results for x in st.lateness(r)], 50) < 1  # type: ignore[operator]
