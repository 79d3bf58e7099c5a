"""What a Python engineer would serve the same stream with, for the serving bench.

Both apps stream the demo model's ``[bench:N]`` words (``streaming.providers.demo``)
on its absolute schedule, framed like Spool's runs (``schedule.frames``): no
database, no markdown, no sign-in. ``fastapi_app`` is FastAPI with
sse-starlette; ``raw_asgi`` is a bare ASGI callable, the floor.
"""
