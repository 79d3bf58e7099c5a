"""Event log backends: memory (default, one process) or Redis Streams (REDIS_URL)."""

from __future__ import annotations

from streaming.eventlog.base import EventLog
from streaming.eventlog.memory import MemoryEventLog
from streaming.eventlog.redis import RedisEventLog

__all__ = ["EventLog", "MemoryEventLog", "RedisEventLog"]
