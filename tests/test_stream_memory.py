"""The memory bench's breakdown: live bytes between two tracemalloc snapshots, per stream."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.stream_memory import breakdown
from streaming.markdown.ops import apply_ops

STREAMS = 4


@pytest.fixture
def tracing() -> Iterator[None]:
    tracemalloc.start(10)
    try:
        yield
    finally:
        tracemalloc.stop()


def _snapshot(path: Path) -> Path:
    tracemalloc.take_snapshot().dump(str(path))
    return path


def test_bytes_held_are_counted_per_stream_and_charged_to_spools_line(
    tracing: None, tmp_path: Path
) -> None:
    before = _snapshot(tmp_path / "before")
    # What four streams would hold: 400 KB made by Spool's own code.
    held = [apply_ops(str(i), [(0, "x" * 100_000)]) for i in range(STREAMS)]
    after = _snapshot(tmp_path / "after")
    lines = breakdown(before, after, STREAMS, top=5)
    total_kb = float(lines[0].split(" KB per stream")[0].rsplit(", ", 1)[1].replace(",", ""))
    assert 97 < total_kb < 110
    heading = "  by held for Spool's line (KB per stream, blocks per stream):"
    owners = lines[lines.index(heading) + 1]
    assert "streaming/markdown/ops.py:" in owners
    assert float(owners.split()[0].replace(",", "")) == pytest.approx(97.7, abs=1)
    assert len(held) == STREAMS
