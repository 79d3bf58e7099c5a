"""Where the incremental renderer's CPU goes, by kind of frame.

Usage::

    .venv/bin/python bench/markdown_profile.py [answer_long] [--floor]

Feeds one corpus document as ``markdown_bench`` does (60 tokens/s, 50 ms
frames) and sums each frame's thread CPU time by what the frame did: froze
blocks, spliced the line being typed (``line.LiveLine``), rendered a live
list's item or table's rows, rendered the tail in full (by the live block's
kind), appended plain text, or nothing. Best of 5 runs, GC off, with the
one-shot render of the same text for reference.

``--floor`` also measures two variants that skip work, to show what is left
for the tail: no tail render at all, and only open fences' lines. They read
the renderer's internals and are not the product: their output is wrong.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.markdown_bench import CORPUS, frames
from streaming.markdown import StreamingMarkdown, render_markdown
from streaming.markdown.stream import StreamingMarkdown as Renderer

_KINDS = {"-": "list", "*": "list", "+": "list", ">": "quote", "|": "table", "#": "heading"}


def _kind(renderer: StreamingMarkdown, before: tuple[int, ...], frame_tail_ops: object) -> str:
    blocks, spliced, listed, tabled, src = before
    line, lists, table = renderer._line, renderer._lists, renderer._table
    assert line is not None
    assert lists is not None
    assert table is not None
    if len(renderer._blocks) > blocks:
        return "freeze"
    if renderer._tail_src_len == src:
        return "nothing"
    if line.hits > spliced:
        return "spliced line"
    if lists.hits > listed:
        return "live list item"
    if table.hits > tabled:
        return "live table rows"
    live = renderer.text[renderer._live_from :].lstrip("\n")
    if renderer._fence is not None:
        return "open fence line"
    if frame_tail_ops is not None and renderer._repaired is None:
        return "plain append"
    first = live[:1]
    return "full: " + _KINDS.get(first, "ordered list" if first.isdigit() else "paragraph")


def profile(text: str) -> tuple[float, Counter[str], Counter[str]]:
    """Best of 5: total CPU ms, frames per kind, CPU ns per kind."""
    deltas = frames(text, 60)
    best: tuple[float, Counter[str], Counter[str]] | None = None
    for _ in range(5):
        count: Counter[str] = Counter()
        cost: Counter[str] = Counter()
        renderer = StreamingMarkdown()
        line, lists, table = renderer._line, renderer._lists, renderer._table
        assert line is not None
        assert lists is not None
        assert table is not None
        for delta in deltas:
            before = (
                len(renderer._blocks),
                line.hits,
                lists.hits,
                table.hits,
                renderer._tail_src_len,
            )
            start = time.thread_time_ns()
            frame = renderer.feed(delta)
            elapsed = time.thread_time_ns() - start
            kind = _kind(renderer, before, frame.tail_ops)
            count[kind] += 1
            cost[kind] += elapsed
        start = time.thread_time_ns()
        renderer.finish()
        cost["finish"] += time.thread_time_ns() - start
        total = sum(cost.values()) / 1e6
        if best is None or total < best[0]:
            best = (total, count, cost)
    assert best is not None
    return best


def _cpu_ms(fn: Callable[[], object]) -> float:
    start = time.thread_time_ns()
    fn()
    return (time.thread_time_ns() - start) / 1e6


def floor(text: str, fences: bool) -> float:
    """CPU ms of a run whose tail renders nothing (``fences``: but open fences' lines)."""
    original = Renderer._render_tail

    def render_tail(self: Renderer) -> None:
        if fences and self._fence is not None:
            original(self)
        else:
            self._tail_src_len = len(self.text) - self._live_from

    Renderer._render_tail = render_tail  # type: ignore[method-assign]
    try:
        deltas = frames(text, 60)

        def run() -> None:
            renderer = StreamingMarkdown()
            for delta in deltas:
                renderer.feed(delta)
            renderer.finish()

        return min(_cpu_ms(run) for _ in range(5))
    finally:
        Renderer._render_tail = original  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("document", nargs="?", default="answer_long")
    parser.add_argument("--floor", action="store_true", help="also measure the floors")
    args = parser.parse_args()
    text = (CORPUS / f"{args.document}.md").read_text()
    render_markdown(text)  # warm caches
    gc.disable()
    total, count, cost = profile(text)
    one_shot = min(_cpu_ms(lambda: render_markdown(text)) for _ in range(5))
    print(f"{args.document}: {total:.1f} ms incremental, one-shot {one_shot:.1f} ms,", end=" ")
    print(f"ratio {total / one_shot:.2f}")
    print(f"{'frame kind':<18}{'frames':>8}{'ms':>9}{'us/frame':>10}")
    for kind, ns in cost.most_common():
        frames_of_kind = count[kind] or 1
        print(f"{kind:<18}{count[kind]:>8}{ns / 1e6:>9.2f}{ns / frames_of_kind / 1e3:>10.1f}")
    if args.floor:
        for fences in (False, True):
            ms = floor(text, fences)
            what = "only open fences' lines" if fences else "no tail at all"
            print(f"floor, {what}: {ms:.1f} ms, {ms / one_shot:.2f}x one-shot")


if __name__ == "__main__":
    main()
