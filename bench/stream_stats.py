"""Figures from the bench client's raw results, and the tables that show them.

Everything here is computed from what the clients recorded (``StreamResult``)
and the parent's samples of the server's /proc: no figure is assumed.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bench.stream_client import StreamResult


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least p % of the
    values at or below it); ``None`` for no values. p99 of 100 values is the
    second largest: an outlier of one stream in a hundred does not hide."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def lateness(result: StreamResult) -> list[float]:
    """Per frame that showed new words: arrival - when its highest word k was
    due, ``t_sent + (k - 1) · delay``. ``t_sent`` is the stream's first request
    (Spool's POST), so slow admission counts as lateness."""
    return [at - (result.t_sent + (k - 1) * result.delay) for at, k in result.frames]


def gaps(result: StreamResult) -> list[float]:
    """Time between consecutive frames with new words. Lateness misses a stall:
    the frame after it carries the words that fell due meanwhile, its highest
    word on time; the page still showed nothing for the whole gap."""
    times = [at for at, _ in result.frames]
    return [b - a for a, b in itertools.pairwise(times)]


def first_word_s(result: StreamResult) -> float | None:
    """First request sent -> first word shown (the user's wait for the answer)."""
    return result.frames[0][0] - result.t_sent if result.frames else None


@dataclass(frozen=True, slots=True)
class Outcome:
    streams: int
    errors: int  # streams with any failure (see StreamResult.failure)
    silent: int  # streams that got no SSE event with data at all
    reconnects: int  # times a stream ended without done and the client asked again
    reasons: Counter[str]

    def describe(self) -> str:
        return ", ".join(f"{n} {why}" for why, n in self.reasons.most_common()) or "none"


def outcome(results: Sequence[StreamResult]) -> Outcome:
    reasons = Counter(r.failure for r in results if r.failure)
    silent = sum(1 for r in results if r.events == 0)
    reconnects = sum(r.reconnects for r in results)
    return Outcome(len(results), sum(reasons.values()), silent, reconnects, reasons)


def window_frames(results: Iterable[StreamResult], start: float, end: float) -> int:
    """Frames (events with new words) that arrived within [start, end]."""
    return sum(1 for r in results for at, _ in r.frames if start <= at <= end)


def window_stream_seconds(results: Iterable[StreamResult], start: float, end: float) -> float:
    """Seconds of open streams within [start, end], summed over streams."""
    return sum(max(0.0, min(r.t_end, end) - max(r.t_sent, start)) for r in results)


# --- formatting -------------------------------------------------------------


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    value = seconds * 1000
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or base <= 0:
        return "-"
    return f"{value / base:.2f}x"


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    cell: Callable[[str], str]  # server name -> cell text


def table(
    title: str,
    servers: Sequence[str],
    columns: Sequence[Column],
    key: Callable[[str], float | None] | None = None,
    baselines: Sequence[str] = ("fastapi", "raw"),
) -> str:
    """One row per server; with ``key``, a ratio column per baseline: this
    server's key figure over the baseline's (measured in the same run)."""
    headers = ["server", *(c.header for c in columns)]
    if key is not None:
        headers += [f"/{b}" for b in baselines]
    rows = []
    for server in servers:
        row = [server, *(c.cell(server) for c in columns)]
        if key is not None:
            row += [ratio(key(server), key(b)) if b in servers else "-" for b in baselines]
        rows.append(row)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(w) for cell, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "-" * len(line(headers))
    return "\n".join([title, rule, line(headers), rule, *(line(r) for r in rows)])
