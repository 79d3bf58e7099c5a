"""The serving bench's settings and the raw data of each scenario, with the
figures derived from it (bench/streams.py runs the scenarios,
bench/stream_report.py prints the figures)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench import stream_stats as st
from bench.stream_client import StreamResult
from bench.stream_stats import ms

DEFAULT_SERVERS = ("spool", "spool-uvicorn", "fastapi", "raw")
DEFAULT_LADDER = (1, 10, 30, 50, 100, 150, 200, 300, 500, 750, 1000)
QUICK_LADDER = (10, 100)
# The steady window leaves this much after the last arrival and before the
# first answer's end, so it sees N streams open the whole time.
WINDOW_MARGIN_S = 0.5


@dataclass(frozen=True, slots=True)
class Config:
    servers: tuple[str, ...] = DEFAULT_SERVERS
    ladder: tuple[int, ...] = DEFAULT_LADDER
    words: int = 320  # per ladder answer: ~8 s at 40 words/s
    delay: float = 0.025
    idle_streams: int = 50
    idle_words: int = 3
    burst_streams: int = 100
    burst_words: int = 40
    start_streams: int = 60
    start_interval_s: float = 0.025
    warmup_streams: int = 5
    users: int = 100
    clients: int = 2
    spread_s: float = 1.0
    limit_s: float = 0.1
    ref_n: int = 100

    def total_streams(self) -> int:
        """Streams one server is sent over the whole run (one conversation each)."""
        return (
            self.warmup_streams
            + self.idle_streams
            + self.burst_streams
            + self.start_streams
            + sum(self.ladder)
        )

    def window(self) -> tuple[float, float]:
        """The steady window of a ladder rung, in seconds after its start."""
        start = self.spread_s + WINDOW_MARGIN_S
        end = (self.words - 1) * self.delay - WINDOW_MARGIN_S
        if end - start < 0.5:
            raise ValueError(
                f"{self.words} words at {self.delay} s leave no steady window after a "
                f"{self.spread_s} s arrival spread: use more --words"
            )
        return start, end


QUICK = Config(
    ladder=QUICK_LADDER,
    words=120,
    idle_streams=10,
    burst_streams=50,
    start_streams=20,
    users=20,
)


# --- raw data of one scenario ---------------------------------------------------


@dataclass(slots=True)
class Sample:
    at: float
    cpu_s: float
    rss: int


@dataclass(slots=True)
class Run:
    results: list[StreamResult]
    client_cpu_s: float
    wall_s: float
    t0: float
    samples: list[Sample]

    @property
    def client_cpu_pct(self) -> float:
        return 100 * self.client_cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def start_lag_s(self) -> float:
        """The client's worst delay in sending a stream's first request."""
        return max((r.t_sent - r.scheduled for r in self.results if r.t_sent), default=0.0)

    def values(self, pick: Callable[[StreamResult], float | None]) -> list[float]:
        return [v for r in self.results if (v := pick(r)) is not None]


@dataclass(slots=True)
class Rung:
    n: int
    run: Run
    window: tuple[float, float]  # absolute (monotonic)
    idle_rss: int
    late: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.late = [x for r in self.run.results for x in st.lateness(r)]
        self.gaps = [x for r in self.run.results for x in st.gaps(r)]

    @property
    def outcome(self) -> st.Outcome:
        return st.outcome(self.run.results)

    @property
    def window_cpu_s(self) -> float:
        return self.run.samples[-1].cpu_s - self.run.samples[0].cpu_s

    @property
    def frames(self) -> int:
        return st.window_frames(self.run.results, *self.window)

    @property
    def stream_s(self) -> float:
        return st.window_stream_seconds(self.run.results, *self.window)

    @property
    def rss_open(self) -> int:
        return max(s.rss for s in self.run.samples)

    def cpu_ms_per_kframe(self) -> float | None:
        return self.window_cpu_s / self.frames * 1e6 if self.frames else None

    def cpu_ms_per_stream_s(self) -> float | None:
        return self.window_cpu_s / self.stream_s * 1e3 if self.stream_s else None

    def rss_kb_per_stream(self) -> float:
        return (self.rss_open - self.idle_rss) / self.n / 1024

    def p(self, q: float) -> float | None:
        return st.percentile(self.late, q)

    def failure(self, limit_s: float, *, strict: bool = True) -> str:
        """Why this rung fails the capacity test ("" when it passes). Strict, a
        reconnect fails it too: that stream's connection ended before its last
        word, and its page stalled for the retry delay."""
        out = self.outcome
        if out.errors or out.silent:
            return f"{out.errors} errors ({out.describe()}), {out.silent} silent"
        p99 = self.p(99)
        if p99 is None:
            return "no frames"
        if p99 > limit_s:
            return f"p99 lateness {ms(p99)} ms"
        if strict and out.reconnects:
            return f"{out.reconnects} reconnects (a stream ended before its last word)"
        return ""


@dataclass(slots=True)
class ServerRun:
    name: str
    idle: Run | None = None
    idle_rss: int = 0
    burst: Run | None = None
    starts: Run | None = None
    rungs: list[Rung] = field(default_factory=list)
    broken: str = ""  # the server could not be benchmarked at all

    def start_cpu_ms(self) -> float | None:
        if self.starts is None or not self.starts.results:
            return None
        cpu = self.starts.samples[-1].cpu_s - self.starts.samples[0].cpu_s
        return cpu / len(self.starts.results) * 1000

    def rung(self, n: int) -> Rung | None:
        return next((r for r in self.rungs if r.n == n), None)

    def capacity(self, limit_s: float, *, strict: bool = True) -> int:
        """The last N of the ladder before its first failing rung (0: none passed)."""
        capacity = 0
        for rung in self.rungs:
            if rung.failure(limit_s, strict=strict):
                break
            capacity = rung.n
        return capacity
