"""The bench answer's words on Spool's schedule and framing, for the baselines.

Word k (1-based) of ``bench_words(count)`` is due ``(k - 1) * delay`` after the
start, as in the demo model's ``[bench:N]`` mode. Frames are coalesced as
Spool's run coalesces provider deltas: the first at once, then at most one per
``FRAME_INTERVAL_S``, each carrying every word that became due since the last.
Waits are on the loop's clock against absolute due times, so a late frame never
delays the ones after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from streaming.providers.demo import bench_words

# Spool's streaming.runs.run.FRAME_INTERVAL_S (a test keeps them equal), not
# imported: that module pulls in the markdown renderer, which would swell the
# baselines' memory with code they never run.
FRAME_INTERVAL_S = 0.05

# A due time computed as start + k * delay can land a hair after the loop's
# wake-up for it (floating point): a word or frame that close to due is due.
_EPSILON_S = 1e-6
# uvloop's clock and timers count whole milliseconds: a shorter sleep returns
# within the same millisecond, still before its wake-up time, and the loop
# would spin until the clock ticks over (up to 1 ms of CPU a frame).
_MIN_SLEEP_S = 0.001


async def frames(count: int, delay: float) -> AsyncIterator[str]:
    """The text of each frame: ``"w1"``, ``" w2 w3"``, … (paragraph breaks included)."""
    tokens = bench_words(count)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    next_frame_at = start
    while sent < count:
        now = loop.time()
        due = count if delay <= 0 else min(count, int((now - start + _EPSILON_S) / delay) + 1)
        if due > sent and now + _EPSILON_S >= next_frame_at:
            yield "".join(tokens[sent:due])
            sent = due
            next_frame_at = now + FRAME_INTERVAL_S
            continue
        # The next frame: when its interval is over and a new word is due.
        wake = max(next_frame_at, start + sent * delay)
        await asyncio.sleep(max(_MIN_SLEEP_S, wake - loop.time()))


def sse_data(text: str) -> bytes:
    """One unnamed SSE event carrying ``text`` (its newlines as data lines)."""
    return "".join(f"data: {line}\n" for line in text.split("\n")).encode() + b"\n"


DONE = b"event: done\ndata: \n\n"
