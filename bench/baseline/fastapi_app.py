"""The usual Python answer: FastAPI + sse-starlette's ``EventSourceResponse``.

``GET /stream?n=N&delay=D`` streams N numbered words on the schedule of
``bench.baseline.schedule`` (one SSE event per frame) and ends with a ``done``
event. Serve it with ``uvicorn bench.baseline.fastapi_app:app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI
from sse_starlette import EventSourceResponse

from bench.baseline.schedule import frames

app = FastAPI()


@app.get("/stream")
async def stream(n: int = 100, delay: float = 0.025) -> EventSourceResponse:
    async def events() -> AsyncIterator[dict[str, str]]:
        async for text in frames(n, delay):
            yield {"data": text}
        yield {"event": "done", "data": ""}

    return EventSourceResponse(events())
