"""Benchmark: incremental markdown vs naive whole-text re-render vs one-shot.

Usage::

    .venv/bin/python bench/markdown_bench.py [--tps 60] [--repeat 3]

Each document of bench/corpus/ is cut into tokens (a regex close to BPE word
pieces: ~4 characters each) that arrive at ``--tps`` tokens per second of
simulated time; every ``FRAME_MS`` the text that arrived is fed as one delta,
as the run does. Measured in the same process, on the same text:

- one-shot: ``render_markdown(final text)`` once (best of ``3 x --repeat``);
- incremental: ``StreamingMarkdown.feed`` per frame + ``finish`` (best of
  ``--repeat``). "incr/1shot" is the median, over the ``--repeat`` runs, of
  each incremental run's CPU over the best of three one-shot renders just
  before it: a slow spell of the shared machine (they last seconds) then
  weighs on both sides of a ratio, where a ratio of the two bests could
  pair a quiet one-shot moment with slow incremental runs;
- naive: ``render_markdown(text so far)`` per frame (the old placeholder).

CPU is the thread's CPU time. Bytes are HTML payload bytes (UTF-8) the run
would send: every new block once; when the tail changed, the html of its
``tail_ops`` if set (a ``tail-append`` event), else the whole tail; a replace.
The naive renderer sends its whole output every frame. "max gap" is the
longest simulated time between two frames with a visible change while text
is still arriving (from the first visible frame to the last delta), "p95
gap" the 95th percentile of those gaps. Targets:
incremental CPU <= 3x one-shot and >= 10x cheaper than naive on the
5,000-token answer; worst frame <= 5 ms (each frame's best of the runs, then
the worst of those); bytes <= 3x the final HTML on the
realistic answers, <= 5x on the 300-line code block; a visible change at
least every ~100-150 ms while text arrives.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streaming.markdown import Frame, StreamingMarkdown, render_markdown

CORPUS = Path(__file__).resolve().parent / "corpus"
FRAME_MS = 50  # the run's frame interval: ~20 paints/s
DEFAULT_TPS = 60  # a typical hosted model's output speed, tokens per second
_TOKEN_RE = re.compile(r"\s*[A-Za-z]+|\s*\d{1,3}|\s*[^\sA-Za-z\d]|\s+")


def tokenize(text: str) -> list[str]:
    """Word-piece-like tokens whose concatenation is ``text``."""
    tokens = _TOKEN_RE.findall(text)
    assert "".join(tokens) == text
    return tokens


def frames(text: str, tps: float) -> list[str]:
    """The deltas of each ``FRAME_MS`` frame when tokens arrive at ``tps`` per second."""
    per_frame: dict[int, list[str]] = {}
    for k, token in enumerate(tokenize(text)):
        per_frame.setdefault(int(k / tps * 1000 // FRAME_MS), []).append(token)
    return ["".join(per_frame[f]) for f in sorted(per_frame)]


def cpu_ms(fn: Callable[[], object]) -> float:
    start = time.thread_time_ns()
    fn()
    return (time.thread_time_ns() - start) / 1e6


@dataclass
class Result:
    cpu_ms: float
    worst_frame_ms: float
    bytes_sent: int
    max_gap_ms: float = 0.0
    p95_gap_ms: float = 0.0
    frame_ms: list[float] = field(default_factory=list)  # incremental: each frame's CPU


def frame_bytes(frame: Frame) -> int:
    """HTML payload bytes the run sends for ``frame`` (see the module docstring)."""
    sent = sum(len(block.encode()) for block in frame.new_blocks)
    if frame.tail_changed:
        if frame.tail_ops is not None and not frame.new_blocks:
            sent += sum(len(html.encode()) for _, html in frame.tail_ops)
        else:
            sent += len(frame.tail.encode())
    if frame.replace is not None:
        sent += len(frame.replace.encode())
    return sent


def run_incremental(deltas: list[str]) -> tuple[Result, StreamingMarkdown]:
    renderer = StreamingMarkdown()
    sent = 0
    total = worst = 0.0
    times: list[float] = []
    visible: list[int] = []  # indices of frames that change what the page shows
    for k, delta in enumerate([*deltas, None]):
        start = time.thread_time_ns()
        frame = renderer.feed(delta) if delta is not None else renderer.finish()
        elapsed = (time.thread_time_ns() - start) / 1e6
        total += elapsed
        worst = max(worst, elapsed)
        times.append(elapsed)
        sent += frame_bytes(frame)
        if delta is not None and (frame.new_blocks or frame.tail_changed):
            visible.append(k)
    stops = [*visible, len(deltas) - 1]
    gaps = sorted(b - a for a, b in itertools.pairwise(stops)) or [0]
    p95 = gaps[int(0.95 * (len(gaps) - 1))]
    return Result(total, worst, sent, gaps[-1] * FRAME_MS, p95 * FRAME_MS, times), renderer


def run_naive(deltas: list[str]) -> Result:
    text = ""
    sent = 0
    total = worst = 0.0
    for delta in deltas:
        text += delta
        start = time.thread_time_ns()
        html = render_markdown(text)
        elapsed = (time.thread_time_ns() - start) / 1e6
        total += elapsed
        worst = max(worst, elapsed)
        sent += len(html.encode())
    return Result(total, worst, sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tps", type=float, default=DEFAULT_TPS, help="tokens per second")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best)")
    parser.add_argument("--no-naive", action="store_true", help="skip the (slow) naive renderer")
    args = parser.parse_args()
    for path in CORPUS.glob("*.md"):
        render_markdown(path.read_text())  # warm caches: Pygments lexers, regexes
    print(f"frames every {FRAME_MS} ms, {args.tps:g} tokens/s, best of {args.repeat} runs, GC off")
    header = (
        f"{'document':<16}{'tokens':>7}{'frames':>7}{'one-shot':>10}{'incr':>9}{'naive':>10}"
        f"{'incr/1shot':>11}{'naive/incr':>11}{'worst':>8}{'naive worst':>12}"
        f"{'bytes':>7}{'naive bytes':>12}{'max gap':>8}{'p95 gap':>8}{'repl':>5}"
    )
    print(header)
    print(f"{'':<16}{'':>7}{'':>7}{'ms':>10}{'ms':>9}{'ms':>10}{'':>11}{'':>11}{'ms':>8}"
          f"{'ms':>12}{'/final':>7}{'/final':>12}{'ms':>8}{'ms':>8}")  # fmt: skip
    gc.disable()  # as timeit does: a collection landing in one run is noise
    for path in sorted(CORPUS.glob("*.md")):
        text = path.read_text()
        deltas = frames(text, args.tps)
        final = render_markdown(text)
        final_bytes = len(final.encode())
        one_shots: list[float] = []
        runs = []
        ratios: list[float] = []
        for _ in range(args.repeat):
            # The one-shot render's best of three, then an incremental run at once.
            one_shots.append(min(cpu_ms(partial(render_markdown, text)) for _ in range(3)))
            runs.append(run_incremental(deltas))
            ratios.append(runs[-1][0].cpu_ms / one_shots[-1])
        one_shot = min(one_shots)
        renderer = runs[0][1]
        assert renderer.html == final, f"{path.name}: streamed HTML differs from one-shot"
        incr = Result(
            min(r.cpu_ms for r, _ in runs),
            # Each frame's best of the runs, then the worst frame: a frame that
            # was preempted or hit a cold cache in one run is noise.
            max(map(min, zip(*(r.frame_ms for r, _ in runs), strict=True))),
            runs[0][0].bytes_sent,
            runs[0][0].max_gap_ms,
            runs[0][0].p95_gap_ms,
        )
        naive = run_naive(deltas) if not args.no_naive else Result(float("nan"), float("nan"), 0)
        print(
            f"{path.stem:<16}{len(tokenize(text)):>7}{len(deltas):>7}{one_shot:>10.1f}"
            f"{incr.cpu_ms:>9.1f}{naive.cpu_ms:>10.0f}{statistics.median(ratios):>11.2f}"
            f"{naive.cpu_ms / incr.cpu_ms:>11.1f}{incr.worst_frame_ms:>8.2f}"
            f"{naive.worst_frame_ms:>12.2f}{incr.bytes_sent / final_bytes:>7.2f}"
            f"{naive.bytes_sent / final_bytes:>12.1f}{incr.max_gap_ms:>8.0f}{incr.p95_gap_ms:>8.0f}"
            f"{renderer.full_replacements:>5}"
        )


if __name__ == "__main__":
    main()
