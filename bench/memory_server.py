"""Spool under daphne in this process, observable from outside: the server side
of bench/stream_memory.py.

Usage::

    SPOOL_MEMORY_OUT=/tmp/point python -m bench.memory_server [daphne arguments]

Each SIGUSR1 writes ``<out>.<k>.json`` (k = 1, 2, …): the runs this process
holds (live ones, with the events each keeps in the in-memory log, and ended
ones still retained). With ``SPOOL_TRACEMALLOC_FRAMES`` set (frames per
allocation, e.g. 25), tracemalloc records every allocation from the start and
the signal also writes a snapshot to ``<out>.<k>``, after a full
``gc.collect()`` if ``SPOOL_MEMORY_COLLECT`` is set (is what is held only
garbage in reference cycles?). ``<out>.<k>.done`` appears once both files are
complete. Otherwise this is daphne as the Procfile runs it.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

from daphne.cli import CommandLineInterface


def held_runs() -> dict[str, Any]:
    """What the run manager and the memory log hold now (bench introspection:
    private attributes, read between two bytecodes of the event loop's thread)."""
    from chatapp import runtime
    from streaming.eventlog.memory import MemoryEventLog

    manager = runtime._manager
    if manager is None:
        return {"live": 0, "ended": 0, "events_live": [], "events_ended": []}
    live = set(manager._runs)
    logs = manager.log._runs if isinstance(manager.log, MemoryEventLog) else {}
    return {
        "live": len(live),
        "ended": len(logs.keys() - live),
        "events_live": sorted(len(log.events) for r, log in logs.items() if r in live),
        "events_ended": sorted(len(log.events) for r, log in logs.items() if r not in live),
    }


def _install(out: str, traced: bool, collect: bool) -> None:
    taken = 0

    def point(signum: int, frame: FrameType | None) -> None:
        # Runs on the main thread (the event loop's) between two bytecodes:
        # no half-made allocation, no run halfway through an append.
        nonlocal taken
        taken += 1
        path = Path(f"{out}.{taken}")
        Path(f"{path}.json").write_text(json.dumps(held_runs()))
        if traced:
            if collect:
                gc.collect()
            tracemalloc.take_snapshot().dump(str(path))
        Path(f"{path}.done").touch()

    signal.signal(signal.SIGUSR1, point)


def main(argv: list[str]) -> None:
    frames = int(os.environ.get("SPOOL_TRACEMALLOC_FRAMES") or 0)
    if frames:
        tracemalloc.start(frames)
    out = os.environ.get("SPOOL_MEMORY_OUT")
    if out:
        _install(out, traced=bool(frames), collect=bool(os.environ.get("SPOOL_MEMORY_COLLECT")))
    CommandLineInterface().run(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
