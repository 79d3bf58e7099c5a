"""Memory per open stream: RSS and tracemalloc, with where the bytes go.

Usage::

    .venv/bin/python -m bench.stream_memory [--streams 50] [--words 320] [--top 25]

Spool runs under daphne as its Procfile runs it (bench/memory_server.py: the
same daphne, started in-process so tracemalloc can be switched on), with the
serving bench's users and demo-model answers (bench/streams.py). Two servers,
one after the other, each warmed up and idle first:

1. **RSS**: no tracing. The process's resident memory idle, with N streams
   open (at the end of the serving bench's steady window, most of each answer
   sent), when they have all ended, and ``COMPACT_AFTER_S`` later, when the
   in-memory log keeps ended runs compacted for the rest of its retention:
   each above idle, over N. "open" is what the serving bench's steady-state
   table counts as RSS per stream. Each point also says how many runs the
   process holds and how many events their logs keep.
2. **tracemalloc**: the same streams with every Python allocation traced.
   The live bytes added per stream, open and kept, grouped by the allocating
   line and by the innermost line of Spool's own code on the allocation's
   stack (which part of Spool holds them). Tracing slows the server several
   times over, so its streams are less far into their answers at "open".

What RSS has and tracemalloc does not: thread stacks and C allocations outside
Python's allocator (SQLite, OpenSSL, daphne's C parts), pymalloc arenas kept
for reuse, and tracemalloc's own bookkeeping (so the traced server's RSS is
not the figure to quote).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stream_client import StreamResult, run_jobs
from bench.stream_figures import Config
from bench.stream_servers import (
    ROOT,
    RunningServer,
    ServerSpec,
    SpoolLimits,
    prepare_spool,
    serve,
    spool_env,
)
from bench.streams import LEAD_S, Harness, client_pool, spool_accounts
from streaming.eventlog.memory import COMPACT_AFTER_S

# The Procfile's daphne endpoint (its backlog: a burst of streams must not
# overflow daphne's default 50), served in-process by bench/memory_server.py.
SERVER_COMMAND = (
    "python -m bench.memory_server "
    "-e tcp:port=$PORT:interface=127.0.0.1:backlog=1024 chatapp.asgi:application"
)
SNAPSHOT_TIMEOUT_S = 120.0  # a snapshot of a big heap takes seconds
# Enough frames to reach Spool's code from deep inside Django or the stdlib.
TRACE_FRAMES = 25
_PAGE = os.sysconf("SC_PAGE_SIZE")
_PROJECT_DIRS = tuple(str(ROOT / d) + os.sep for d in ("chatapp", "streaming"))


@dataclass(frozen=True, slots=True)
class Point:
    """The server at one moment: RSS, threads, the runs it holds, the snapshot if traced."""

    rss: int
    threads: int
    runs: dict[str, Any]
    snapshot: Path | None = None


class Probe:
    def __init__(self, server: RunningServer, out: Path, traced: bool) -> None:
        self.server = server
        self.out = out
        self.traced = traced
        self.taken = 0

    def point(self) -> Point:
        pid = self._daphne_pid()
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        threads = len(os.listdir(f"/proc/{pid}/task"))
        self.taken += 1
        path = Path(f"{self.out}.{self.taken}")
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
        while not Path(f"{path}.done").exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"no point {path} within {SNAPSHOT_TIMEOUT_S} s")
            time.sleep(0.05)
        runs = json.loads(Path(f"{path}.json").read_text())
        return Point(rss, threads, runs, path if self.traced else None)

    def _daphne_pid(self) -> int:
        """The Python process of the tree (bash execs it, or runs it as its child)."""
        for pid in self.server.tree():
            cmdline = Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
            if "memory_server" in cmdline and "bash" not in Path(f"/proc/{pid}/comm").read_text():
                return pid
        raise RuntimeError("bench.memory_server is not running")


@dataclass(frozen=True, slots=True)
class Phases:
    idle: Point
    open: Point  # every stream open, near the end of its answer
    ended: Point  # every stream ended, the runs' logs still whole
    kept: Point  # later: what the retention period keeps of each run
    results: list[StreamResult]


def _phases(harness: Harness, probe: Probe, n: int) -> Phases:
    config = harness.config
    harness.warmup()
    harness.idle()
    harness.wait_quiet()
    time.sleep(COMPACT_AFTER_S + 1)  # the warm-up's and idle runs' logs compacted
    idle = probe.point()
    jobs = harness.jobs([config.spread_s * i / n for i in range(n)], config.words)
    t0 = time.monotonic() + LEAD_S
    clients = config.clients
    futures = [
        harness.pool.submit(run_jobs, harness.target, list(jobs[i::clients]), t0)
        for i in range(clients)
    ]
    # The end of the serving bench's steady window: every stream open and most
    # of each answer in the log (its RSS sample there is usually its largest).
    _, end = config.window()
    time.sleep(max(0.0, t0 + end - time.monotonic()))
    opened = probe.point()
    results = [r for f in futures for r in f.result().results]
    harness.wait_quiet()
    ended = probe.point()
    time.sleep(COMPACT_AFTER_S + 1)
    return Phases(idle, opened, ended, probe.point(), results)


@contextmanager
def _spool(
    config: Config, tmp: Path, traced: bool, collect: bool = False
) -> Iterator[tuple[RunningServer, Harness, Probe]]:
    n = config.ladder[0]
    per_user = -(-config.total_streams() // config.users)
    limits = SpoolLimits(max_concurrent_runs=n, max_sends_per_minute=per_user)
    env = spool_env(tmp, config.delay, limits)
    users = prepare_spool(env, config.users, per_user)
    collectstatic = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"]
    subprocess.run(collectstatic, cwd=ROOT, env=env, check=True)
    out = tmp / "point"
    env["SPOOL_MEMORY_OUT"] = str(out)
    if traced:
        env["SPOOL_TRACEMALLOC_FRAMES"] = str(TRACE_FRAMES)
        if collect:
            env["SPOOL_MEMORY_COLLECT"] = "1"
    spec = ServerSpec("spool-memory", "spool", SERVER_COMMAND)
    with serve(spec, env, tmp / "server.log") as server, client_pool(config.clients) as pool:
        harness = Harness(config, pool, server, spool_accounts(server, users))
        yield server, harness, Probe(server, out, traced)


# --- the report -------------------------------------------------------------------


def _kb(n: float) -> str:
    return f"{n / 1024:,.1f}"


def _where(frame: tracemalloc.Frame) -> str:
    name = frame.filename
    for prefix in (str(ROOT) + os.sep, *sorted(sys.path, key=len, reverse=True)):
        if prefix and prefix != os.sep and name.startswith(prefix):
            name = name[len(prefix) :].lstrip(os.sep)
            break
    return f"{name}:{frame.lineno}"


def _owner(traceback: tracemalloc.Traceback) -> str:
    """The innermost frame in Spool's own code (chatapp/, streaming/), else the caller's."""
    for frame in reversed(traceback):
        if frame.filename.startswith(_PROJECT_DIRS):
            return _where(frame)
    return "(outside Spool) " + _where(traceback[-1])


def breakdown(before: Path, after: Path, n: int, top: int) -> list[str]:
    """Live bytes added between two snapshots, per stream, grouped two ways."""
    filters = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
    ]
    old = tracemalloc.Snapshot.load(str(before)).filter_traces(filters)
    new = tracemalloc.Snapshot.load(str(after)).filter_traces(filters)
    diffs = new.compare_to(old, "traceback")
    total = sum(d.size_diff for d in diffs)
    by_line: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_owner: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for d in diffs:
        for table, key in ((by_line, _where(d.traceback[-1])), (by_owner, _owner(d.traceback))):
            table[key][0] += d.size_diff
            table[key][1] += d.count_diff
    lines = [f"traced live bytes added: {_kb(total)} KB in all, {_kb(total / n)} KB per stream"]
    for title, table in (("allocated at", by_line), ("held for Spool's line", by_owner)):
        lines.append(f"  by {title} (KB per stream, blocks per stream):")
        ranked = sorted(table.items(), key=lambda kv: -abs(kv[1][0]))[:top]
        for key, (size, count) in ranked:
            lines.append(f"    {_kb(size / n):>8} {count / n:>8.1f}  {key}")
    return lines


def _runs(point: Point) -> str:
    runs = point.runs

    def median(values: list[int]) -> int:
        return values[len(values) // 2] if values else 0

    return (
        f"{runs['live']} live runs (median {median(runs['events_live'])} events kept), "
        f"{runs['ended']} ended (median {median(runs['events_ended'])} events kept)"
    )


def _rss_lines(label: str, p: Phases, n: int) -> list[str]:
    errors = sum(1 for r in p.results if r.error or not r.done)
    lines = [f"{label}: {n} streams, {errors} errors"]
    for name, point in (("idle", p.idle), ("open", p.open), ("ended", p.ended), ("kept", p.kept)):
        per = "" if point is p.idle else f", {_kb((point.rss - p.idle.rss) / n)} KB per stream"
        lines.append(
            f"  {name:<5} RSS {point.rss / 2**20:6.1f} MB{per}; "
            f"{point.threads} threads; {_runs(point)}"
        )
    return lines


def parse_args(argv: Sequence[str]) -> tuple[Config, int, bool, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stream_memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--streams", type=int, default=50, help="open streams (%(default)s)")
    parser.add_argument("--words", type=int, default=320, help="words per answer (%(default)s)")
    parser.add_argument("--delay", type=float, default=0.025, help="s per word (%(default)s)")
    parser.add_argument("--top", type=int, default=15, help="rows per breakdown (%(default)s)")
    parser.add_argument(
        "--rss-only", action="store_true", help="skip the tracemalloc run (~half the time)"
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="a full gc.collect() before each tracemalloc snapshot (what is only garbage?)",
    )
    args = parser.parse_args(argv)
    config = Config(
        servers=("spool",),
        ladder=(args.streams,),
        words=args.words,
        delay=args.delay,
        idle_streams=10,
        burst_streams=0,
        start_streams=0,
        users=min(args.streams, 100),
    )
    return config, args.top, args.rss_only, args.collect


def main(argv: Sequence[str] | None = None) -> None:
    config, top, rss_only, collect = parse_args(sys.argv[1:] if argv is None else argv)
    n = config.ladder[0]
    lines = [f"Memory per open stream: {n} streams, {config.words} words at {1 / config.delay:g}/s"]
    for traced in (False,) if rss_only else (False, True):
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp_name:
            tmp = Path(tmp_name)
            with _spool(config, tmp, traced, collect) as (_server, harness, probe):
                phases = _phases(harness, probe, n)
            lines += _rss_lines("tracemalloc on" if traced else "RSS", phases, n)
            if traced:
                idle = phases.idle.snapshot
                assert idle is not None
                for title, point in (
                    ("every stream open", phases.open),
                    ("every stream ended, logs whole", phases.ended),
                    ("every stream ended, later (what the retention keeps)", phases.kept),
                ):
                    assert point.snapshot is not None
                    lines.append(f"{title}, against idle:")
                    lines += breakdown(idle, point.snapshot, n, top)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
