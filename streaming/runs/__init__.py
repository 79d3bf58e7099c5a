"""Runs: a generation is a background task, not a request (docs/architecture.md)."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from streaming.eventlog import EventLog, MemoryEventLog, RedisEventLog
from streaming.runs.manager import RunManager, ShuttingDown
from streaming.runs.run import Budgets, Resume, Run, RunSpec
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
    "built_manager",
    "get_manager",
]

_manager: RunManager | None = None


def _event_log() -> EventLog:
    if settings.SPOOL_REDIS_URL:
        # A live run's stream outlives its longest possible run, so only a
        # crashed owner's stream ever expires while "live".
        return RedisEventLog(
            settings.SPOOL_REDIS_URL, live_ttl_s=settings.SPOOL_RUN_WALL_CLOCK_S + 300
        )
    return MemoryEventLog()


def get_manager() -> RunManager:
    """The process-wide run manager, built from settings on first use.

    Built lazily inside the server's event loop: Redis connections belong to
    the loop that made them.
    """
    global _manager
    if _manager is None:
        store: RunStore = import_string(settings.SPOOL_RUN_STORE)()
        _manager = RunManager(
            log=_event_log(),
            store=store,
            budgets=Budgets(
                idle_timeout_s=settings.SPOOL_IDLE_TIMEOUT_S,
                wall_clock_s=settings.SPOOL_RUN_WALL_CLOCK_S,
                max_output_tokens=settings.SPOOL_MAX_OUTPUT_TOKENS,
            ),
            detach_grace=settings.SPOOL_DETACH_GRACE_S,
        )
    return _manager


def built_manager() -> RunManager | None:
    """The process's run manager if something has used it yet (shutdown has
    nothing to stop otherwise, and must not build one just to close it)."""
    return _manager
