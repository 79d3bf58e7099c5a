"""The provider side of a run: its stream read by a task of its own.

The run waits on a queue with timeouts (frames, idle, the wall clock); the
pump task moves the provider's events into it, so the run never cancels the
provider's iterator mid-read. Closing the pump closes the provider's stream,
and with it the upstream request. Usage is summed over a run's requests (one
per tool round).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from streaming.providers.base import ProviderEvent, Usage


class End:
    """Sentinel: the provider stream finished normally."""


Queue = asyncio.Queue[ProviderEvent | BaseException | End]


async def pump_events(stream: AsyncIterator[ProviderEvent], queue: Queue) -> None:
    """Move provider events into the queue, so the run can wait with timeouts
    without ever cancelling the provider's iterator mid-read."""
    try:
        async for event in stream:
            queue.put_nowait(event)
        queue.put_nowait(End())
    except Exception as exc:
        queue.put_nowait(exc)
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


async def close_pump(task: asyncio.Task[None]) -> None:
    """Stop a pump: the provider's stream is closed, the upstream server
    sees the hang-up now, not when the answer would end."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class UsageSum:
    """The usage of an answer's requests, one per tool round, summed as the
    server reports it (``so_far``: the JSON stream's ``usage`` events).

    ``total`` is the answer's count only when every request reported its
    own: a sum that misses one (a round whose usage chunk never came, a Stop
    in a later round) counts part of the answer, so it is None and the
    metrics estimate the whole instead (streaming/metrics.py).
    """

    def __init__(self) -> None:
        self.so_far: Usage | None = None
        self._requests = 0
        self._counted = 0  # requests whose usage came
        self._this_counted = False

    def request(self) -> None:
        """A request starts (the answer's first, or a tool round's)."""
        self._requests += 1
        self._this_counted = False

    def add(self, usage: Usage) -> Usage:
        """Usage reported by the current request; the sum so far."""
        self.so_far = added(self.so_far, usage)
        if not self._this_counted:
            self._counted += 1
            self._this_counted = True
        return self.so_far

    @property
    def total(self) -> Usage | None:
        return self.so_far if self._requests and self._counted == self._requests else None


def added(before: Usage | None, usage: Usage) -> Usage:
    """Usage of the requests so far: every round is one the model server counts."""
    if before is None:
        return usage
    return Usage(
        _sum(before.prompt_tokens, usage.prompt_tokens),
        _sum(before.completion_tokens, usage.completion_tokens),
        _sum(before.reasoning_tokens, usage.reasoning_tokens),
    )


def _sum(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b
