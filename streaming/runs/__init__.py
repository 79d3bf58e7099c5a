"""Runs: a generation is a background task, not a request (docs/architecture.md).

The engine takes its configuration as arguments; the app builds the process's
manager from its settings (``chatapp.runtime.get_manager``).
"""

from __future__ import annotations

from streaming.runs.manager import RunManager, ShuttingDown
from streaming.runs.run import Run
from streaming.runs.spec import Budgets, Resume, RunSpec
from streaming.runs.store import RunError, RunMetrics, RunOutcome, RunStore

__all__ = [
    "Budgets",
    "Resume",
    "Run",
    "RunError",
    "RunManager",
    "RunMetrics",
    "RunOutcome",
    "RunSpec",
    "RunStore",
    "ShuttingDown",
]
