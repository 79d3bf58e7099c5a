"""Cadence: when the live tail re-renders, and the bound on render work."""

from __future__ import annotations

import itertools

from streaming.markdown.cadence import (
    MAX_TAIL_WAIT_FRAMES,
    RENDER_BUDGET,
    RENDER_OVERHEAD,
    TAIL_EVERY_FRAMES,
    Cadence,
)


def _renders(cadence: Cadence, text: str, chars_per_frame: int, cost: int) -> list[int]:
    """Frames (indices) in which a render of ``cost`` is due, rendering each time."""
    done = []
    for k in range(0, len(text), chars_per_frame):
        cadence.tick(chars_per_frame)
        if cadence.due(text[: k + chars_per_frame], 0, fresh=False, cost=lambda: cost):
            cadence.rendered(text[: k + chars_per_frame], cost)
            cadence.frames = 0
            done.append(k // chars_per_frame)
    return done


def test_a_fresh_block_renders_at_once() -> None:
    cadence = Cadence()
    cadence.tick(1)
    assert cadence.due("a", 0, fresh=True, cost=lambda: 10**6)


def test_cheap_renders_follow_every_other_frame() -> None:
    frames = _renders(Cadence(), "x" * 2000, 40, cost=RENDER_OVERHEAD)
    gaps = {b - a for a, b in itertools.pairwise(frames)}
    assert gaps == {TAIL_EVERY_FRAMES}


def test_costly_renders_wait_but_not_longer_than_the_cap() -> None:
    frames = _renders(Cadence(), "x" * 2400, 12, cost=5000)
    gaps = {b - a for a, b in itertools.pairwise(frames)}
    assert gaps == {MAX_TAIL_WAIT_FRAMES}


def test_render_work_is_bounded_by_the_budget() -> None:
    # Renders costing about what arrives per frame: the budget, not the cap, paces them.
    text = "x" * 12_000
    cost = RENDER_OVERHEAD + 100
    frames = _renders(Cadence(), text, 12, cost=cost)
    assert len(frames) * cost <= RENDER_BUDGET * len(text) + cost
    assert len(frames) * TAIL_EVERY_FRAMES < len(text) // 12  # fewer than the cadence allows


def test_a_held_back_line_does_not_render_again() -> None:
    cadence = Cadence()
    live = "| a | b |\n|---|---|\n| 1"
    cadence.tick(len(live))
    cadence.rendered(live, 10)
    for _ in range(MAX_TAIL_WAIT_FRAMES + 1):
        live += " |"
        cadence.tick(2)
        assert not cadence.due(live, 0, fresh=False, cost=lambda: 0)
    live += "\n"  # the row is complete: it shows
    cadence.tick(1)
    assert cadence.due(live, 0, fresh=False, cost=lambda: 0)


def test_a_held_line_inside_code_is_not_skipped() -> None:
    cadence = Cadence()
    live = "```\n| 1"
    cadence.tick(len(live))
    cadence.rendered(live, 10)
    for _ in range(TAIL_EVERY_FRAMES):
        live += " |"
        cadence.tick(2)
    assert cadence.due(live, 0, fresh=False, cost=lambda: 0)
