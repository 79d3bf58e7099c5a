"""Serving benchmark: Spool streaming many answers at once, against the baselines.

Usage::

    .venv/bin/python -m bench.streams [--quick] [--servers spool,fastapi,raw] [...]
    make bench   # installs the bench extras, then runs it with the defaults

Each server is started here as a subprocess (bench/stream_servers.py): Spool by
its Procfile's web command (daphne), Spool under uvicorn, FastAPI +
sse-starlette and a bare ASGI app (bench/baseline/). The demo model answers
``[bench:N]`` with N numbered words at ``--delay`` seconds a word, and the
baselines stream the same words on the same schedule and framing, so every
difference is the serving path. Load comes from ``--clients`` worker processes
(bench/stream_client.py), each an asyncio loop on raw HTTP/1.1.

Figures, per server (docs/performance.md, Serving path, says more):

- idle: one stream at a time. ``send`` is Spool's POST (sent -> response
  read); ``ttft`` is the stream request written -> its response head (Spool:
  the GET of the stream, after the POST); ``1st word`` is the first request
  sent -> the first word shown, which is what the user waits.
- burst: ``--burst`` new streams arriving within 1 s: ttft and 1st word.
- start CPU: server CPU per stream started (Spool: send + subscribe + a
  one-word answer; a baseline: its one request), ``--starts`` of them.
- ladder: N streams arriving within 1 s. Lateness of each frame that shows new
  words = arrival - (t_sent + (k - 1) · delay) for its highest word k, where
  t_sent is when the stream's first request was sent; ``gap``: time between
  two frames of a stream (a stall shows there, not in lateness). Errors:
  non-200, a stream that ended before word N or without ``done``, a timeout;
  silent: streams with no event at all; ``reconn``: streams that ended early
  and were asked for again, as EventSource does. Server CPU (its process
  tree, /proc) over the steady window when all N are open, per 1,000 frames
  and per stream-second; RSS with N open, and per stream above the idle RSS.
- capacity: the largest N of the ladder with p99 lateness <= ``--limit-ms``, no
  errors and no reconnects, below the first N that fails; and the same with
  reconnects allowed. A server's ladder stops at its first failure on lateness
  or errors (reconnects alone do not stop it).

Every figure is also given as a ratio to FastAPI and to raw ASGI measured in
the same run: the machine is shared, absolute figures move, ratios less so.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import math
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from bench.stream_client import StreamJob, Target, fetch, run_jobs, warm_up
from bench.stream_figures import QUICK, Config, Run, Rung, Sample, ServerRun
from bench.stream_report import report
from bench.stream_servers import (
    ROOT,
    RunningServer,
    SpoolLimits,
    prepare_spool,
    serve,
    server_specs,
    spool_env,
)

# The scenario starts this long after the jobs are handed to the clients, so
# every client is waiting for it (not still unpickling) when it comes.
LEAD_S = 0.4
# A server counts as quiet (runs finished, buffers flushed) below this much
# CPU over a QUIET_STEP_S step; at most QUIET_MAX_S is waited for it.
QUIET_CPU_S = 0.02
QUIET_STEP_S = 0.25
QUIET_MAX_S = 30.0

# --- running scenarios ----------------------------------------------------------


@dataclass(slots=True)
class Accounts:
    """Spool's bench users: (session, csrftoken, conversation), users in turn."""

    slots: list[tuple[str, str, str]]
    used: int = 0

    def take(self) -> tuple[str, str, str]:
        if self.used >= len(self.slots):
            raise RuntimeError("the bench ran out of conversations; Config.total_streams is short")
        slot = self.slots[self.used]
        self.used += 1
        return slot


class Harness:
    """Runs scenarios against one started server."""

    def __init__(
        self,
        config: Config,
        pool: ProcessPoolExecutor,
        server: RunningServer,
        accounts: Accounts | None,
    ) -> None:
        self.config = config
        self.pool = pool
        self.server = server
        self.target = Target("127.0.0.1", server.port, server.spec.kind)
        self.accounts = accounts

    def jobs(self, offsets: Sequence[float], words: int) -> list[StreamJob]:
        jobs = []
        for at in offsets:
            job = StreamJob(at=at, words=words, delay=self.config.delay)
            if self.accounts is not None:
                session, csrf, conversation = self.accounts.take()
                job = replace(job, conversation=conversation, session=session, csrf=csrf)
            jobs.append(job)
        return jobs

    def run(
        self,
        jobs: Sequence[StreamJob],
        *,
        sample_at: Sequence[float] = (),
        sample_after_s: float | None = None,
        sequential: bool = False,
    ) -> Run:
        """Hand ``jobs`` to the clients (one client when ``sequential``); sample
        the server at ``sample_at`` seconds after the start and, if given,
        ``sample_after_s`` after the last stream ended."""
        clients = 1 if sequential else self.config.clients
        t0 = time.monotonic() + LEAD_S
        futures = [
            self.pool.submit(run_jobs, self.target, list(jobs[i::clients]), t0, sequential)
            for i in range(clients)
            if jobs[i::clients]
        ]
        samples = []
        for at in sample_at:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            samples.append(self.sample())
        reports = [f.result() for f in futures]
        if sample_after_s is not None:
            time.sleep(sample_after_s)
            samples.append(self.sample())
        return Run(
            results=[r for report in reports for r in report.results],
            client_cpu_s=sum(r.cpu_s for r in reports),
            wall_s=max(r.wall_s for r in reports),
            t0=t0,
            samples=samples,
        )

    def sample(self) -> Sample:
        cpu = self.server.cpu_s()
        return Sample(time.monotonic(), cpu, self.server.rss_bytes())

    def wait_quiet(self) -> None:
        """Until the server is idle: a scenario's runs may outlive its clients."""
        deadline = time.monotonic() + QUIET_MAX_S
        before = self.server.cpu_s()
        while time.monotonic() < deadline:
            time.sleep(QUIET_STEP_S)
            now = self.server.cpu_s()
            if now - before <= QUIET_CPU_S:
                return
            before = now

    # The scenarios.

    def warmup(self) -> None:
        """A few streams first: the server's first requests pay for imports."""
        self.run(self.jobs([0.0] * self.config.warmup_streams, 10), sequential=True)

    def idle(self) -> Run:
        c = self.config
        # 50 ms between streams: the server is idle when each one starts.
        return self.run(self.jobs([0.05] * c.idle_streams, c.idle_words), sequential=True)

    def burst(self) -> Run:
        c = self.config
        offsets = [c.spread_s * i / c.burst_streams for i in range(c.burst_streams)]
        return self.run(self.jobs(offsets, c.burst_words))

    def starts(self) -> Run:
        c = self.config
        offsets = [c.start_interval_s * i for i in range(c.start_streams)]
        # Sampled just before the first start and after the last stream ended
        # (plus the moment a stream's closing bookkeeping takes).
        return self.run(self.jobs(offsets, 1), sample_at=[-0.05], sample_after_s=0.3)

    def rung(self, n: int, idle_rss: int) -> Rung:
        c = self.config
        start, end = c.window()
        offsets = [c.spread_s * i / n for i in range(n)]
        run = self.run(self.jobs(offsets, c.words), sample_at=[start, (start + end) / 2, end])
        return Rung(n, run, (run.t0 + start, run.t0 + end), idle_rss)


def spool_accounts(server: RunningServer, users: list[dict[str, object]]) -> Accounts:
    """Each bench user's csrftoken, from one untimed GET / with its session."""
    target = Target("127.0.0.1", server.port, "spool")

    async def tokens() -> list[str]:
        gate = asyncio.Semaphore(8)

        async def one(session: str) -> str:
            async with gate:
                head = await fetch(target, "/", f"sessionid={session}")
            if head.status != 200 or "csrftoken" not in head.cookies:
                raise RuntimeError(f"GET / as a bench user: HTTP {head.status}, no csrftoken")
            return head.cookies["csrftoken"]

        return list(await asyncio.gather(*(one(str(u["session"])) for u in users)))

    csrfs = asyncio.run(tokens())
    per_user = [list(map(str, u["conversations"])) for u in users]  # type: ignore[call-overload]
    slots = [
        (str(user["session"]), csrf, conversations[j])
        for j in range(max(len(c) for c in per_user))
        for user, csrf, conversations in zip(users, csrfs, per_user, strict=True)
        if j < len(conversations)
    ]
    return Accounts(slots)


@contextmanager
def started(
    name: str, config: Config, tmp: Path
) -> Iterator[tuple[RunningServer, Accounts | None]]:
    """The server ``name`` listening, with Spool's bench users when it is Spool."""
    spec = server_specs()[name]
    env = dict(os.environ)
    users: list[dict[str, object]] = []
    if spec.kind == "spool":
        per_user = math.ceil(config.total_streams() / config.users)
        limits = SpoolLimits(
            max_concurrent_runs=max(*config.ladder, config.burst_streams),
            max_sends_per_minute=per_user,
        )
        env = spool_env(tmp, config.delay, limits)
        users = prepare_spool(env, config.users, per_user)
    with serve(spec, env, tmp / "server.log") as server:
        accounts = spool_accounts(server, users) if users else None
        yield server, accounts


def bench_server(name: str, config: Config, pool: ProcessPoolExecutor) -> ServerRun:
    """Every scenario against one server, in an order that keeps them apart:
    the idle RSS is read before anything ran concurrently, and the burst and
    start scenarios wait for the ladder's last runs to finish."""
    figures = ServerRun(name)
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            with started(name, config, tmp) as (server, accounts):
                harness = Harness(config, pool, server, accounts)
                harness.warmup()
                _progress(name, "idle")
                figures.idle = harness.idle()
                harness.wait_quiet()
                figures.idle_rss = harness.sample().rss
                for n in config.ladder:
                    _progress(name, f"ladder N={n}")
                    rung = harness.rung(n, figures.idle_rss)
                    figures.rungs.append(rung)
                    harness.wait_quiet()
                    if why := rung.failure(config.limit_s, strict=False):
                        _progress(name, f"N={n} fails: {why}; ladder stopped")
                        break
                _progress(name, "burst")
                figures.burst = harness.burst()
                harness.wait_quiet()
                _progress(name, "start CPU")
                figures.starts = harness.starts()
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            lines = str(exc).strip().splitlines()
            figures.broken = lines[0]
            _progress(name, "broken: " + "\n".join(lines[-20:]))
    return figures


def _progress(server: str, what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {server}: {what}", file=sys.stderr, flush=True)


@contextmanager
def client_pool(clients: int) -> Iterator[ProcessPoolExecutor]:
    """The load generator's processes, started and warmed up."""
    # Spawned, not forked: a clean process per client, whatever the parent holds.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=clients, mp_context=context) as pool:
        for future in [pool.submit(warm_up) for _ in range(clients)]:
            future.result()
        yield pool


def run_bench(config: Config) -> list[ServerRun]:
    with client_pool(config.clients) as pool:
        return [bench_server(name, config, pool) for name in config.servers]


def header(config: Config, load_before: float) -> list[str]:
    """When, where and how: the report is only comparable with its own rows.
    The load average says whether other work shared the machine meanwhile."""
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"Spool serving bench, {now}, commit {commit}",
        f"machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}; "
        f"load generator: {config.clients} client processes; load average (1 min) "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after",
        f"answers at {1 / config.delay:g} words/s; frames coalesced to one per 50 ms; "
        f"servers: {', '.join(config.servers)}",
    ]


def parse_args(argv: Sequence[str]) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench.streams",
        description="Spool's serving path under many concurrent streams, against "
        "FastAPI + sse-starlette and a bare ASGI app, as ratios from one run.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = Config()
    parser.add_argument(
        "--quick", action="store_true", help="a ~75 s run (ladder 10,100, 3 s answers)"
    )
    parser.add_argument(
        "--servers",
        default=",".join(defaults.servers),
        help=f"comma-separated, of: {', '.join(server_specs())} (default: %(default)s)",
    )
    parser.add_argument(
        "--ladder", help="concurrent stream counts (default 1,10,30,…,1000; --quick: 10,100)"
    )
    parser.add_argument("--words", type=int, help="words per ladder answer (320; --quick: 120)")
    parser.add_argument("--delay", type=float, help="seconds per word (0.025)")
    parser.add_argument("--idle", type=int, help="sequential streams for idle TTFT (50; 10)")
    parser.add_argument("--burst", type=int, help="streams in the 1 s burst (100; 50)")
    parser.add_argument("--starts", type=int, help="streams for the start CPU (60; 20)")
    parser.add_argument("--users", type=int, help="Spool bench users (100; 20)")
    parser.add_argument("--clients", type=int, help="load generator processes (2)")
    parser.add_argument("--limit-ms", type=float, help="p99 lateness for capacity (100)")
    parser.add_argument("--ref-n", type=int, help="N of the steady-state table (100)")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else defaults
    servers = tuple(s.strip() for s in args.servers.split(",") if s.strip())
    unknown = set(servers) - set(server_specs())
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    overrides: dict[str, object] = {"servers": servers}
    if args.ladder:
        overrides["ladder"] = tuple(int(n) for n in args.ladder.split(","))
    for name, value in {
        "words": args.words,
        "delay": args.delay,
        "idle_streams": args.idle,
        "burst_streams": args.burst,
        "start_streams": args.starts,
        "users": args.users,
        "clients": args.clients,
        "ref_n": args.ref_n,
        "limit_s": None if args.limit_ms is None else args.limit_ms / 1000,
    }.items():
        if value is not None:
            overrides[name] = value
    config = replace(config, **overrides)  # type: ignore[arg-type]
    try:
        config.window()
    except ValueError as exc:
        parser.error(str(exc))
    return config


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    load_before = os.getloadavg()[0]
    runs = run_bench(config)
    print(report(config, runs, header(config, load_before)))


if __name__ == "__main__":
    main()
