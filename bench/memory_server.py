"""Spool under daphne in this process, with tracemalloc on: the server side of
bench/stream_memory.py.

Usage::

    SPOOL_TRACEMALLOC_OUT=/tmp/snap python -m bench.memory_server [daphne arguments]

With ``SPOOL_TRACEMALLOC_OUT`` set, tracemalloc records allocations from the
start (``SPOOL_TRACEMALLOC_FRAMES`` frames each, 25 by default) and every
SIGUSR1 writes a snapshot to ``<out>.<k>`` (k = 1, 2, …), then ``<out>.<k>.done``
once the snapshot file is complete. Without it this is plain daphne: the RSS
run of the memory bench uses it too, so both runs start the same way.
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from daphne.cli import CommandLineInterface

# Enough frames to reach project code from deep inside Django or the stdlib.
DEFAULT_FRAMES = 25


def _install(out: str, frames: int) -> None:
    tracemalloc.start(frames)
    taken = 0

    def dump(signum: int, frame: FrameType | None) -> None:
        # Runs on the main thread (the event loop's) between two bytecodes:
        # the snapshot sees no half-made allocation.
        nonlocal taken
        taken += 1
        path = Path(f"{out}.{taken}")
        tracemalloc.take_snapshot().dump(str(path))
        Path(f"{path}.done").touch()

    signal.signal(signal.SIGUSR1, dump)


def main(argv: list[str]) -> None:
    out = os.environ.get("SPOOL_TRACEMALLOC_OUT")
    if out:
        _install(out, int(os.environ.get("SPOOL_TRACEMALLOC_FRAMES", DEFAULT_FRAMES)))
    CommandLineInterface().run(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
