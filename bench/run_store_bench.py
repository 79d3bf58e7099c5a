"""Benchmark: the run store before and after (own thread, kept connection, batches).

Usage::

    .venv/bin/python bench/run_store_bench.py [--runs 50 200 500] [--seconds 5] [--repeat 3]
    .venv/bin/python bench/run_store_bench.py --postgres [--pool]

N simulated runs, each started at a random moment of the first second, then
checkpointing its growing answer (~240 characters a second, a 60 tokens/s
model) once a second for ``--seconds``, then finished; all through one store,
in one event loop, as in the server. For each N the old store (a copy of the
``sync_to_async`` one it replaced, below) and the new one run back to back
(``--repeat`` times, alternating: this machine's load moves the figures) on
the same database: a scratch SQLite file with the app's settings (WAL, busy
timeout, ``CONN_MAX_AGE=0``), or with ``--postgres`` a scratch database on
127.0.0.1:5432 (``--pool``: through psycopg's pool, ``?pool=true``). Figures:

- thread busy: time the store's writes held their thread (the shared
  ``sync_to_async`` thread for the old store, ``spool-run-store`` for the new
  one), over the time from the first ``started`` to the last ``finished``;
- calls/s: checkpoints the runs made, per second of that span (under N: the
  span includes the staggered starts and ends; lower still when a slow store
  holds the runs up, as a run checkpoints when a second has passed since its
  last checkpoint returned);
- rows/s: checkpoint rows written per second (a run's checkpoints that
  coalesce in one batch are one row);
- batches/s: checkpoint transactions per second (the old store: one per call);
- checkpoint p50 / p99 / max: how long ``await store.checkpoint()`` held the
  run, i.e. its event-loop task, as the run sees it; finish p99 the same for
  ``finished``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

POSTGRES_ADMIN_URL = "postgresql://root@127.0.0.1:5432/postgres"
CHARS_PER_SECOND = 240  # ~60 tokens/s of ~4 characters
CHECKPOINT_INTERVAL_S = 1.0  # the run's (streaming/runs/run.py)


class Store(Protocol):
    async def started(self, run_id: str) -> None: ...
    async def checkpoint(self, run_id: str, *, content: str) -> None: ...
    async def finished(self, run_id: str, outcome: Any) -> object: ...
    async def aclose(self) -> None: ...


class OldRunStore:
    """The store as it was: one ``sync_to_async`` call per write, each after
    ``close_old_connections()``, timed on the thread that runs it."""

    def __init__(self) -> None:
        self.busy_s = 0.0
        self.checkpoints = 0

    def _timed(self, fn: Callable[..., None]) -> Callable[..., None]:
        def timed(*args: Any) -> None:
            started = time.perf_counter()
            try:
                fn(*args)
            finally:
                self.busy_s += time.perf_counter() - started

        return timed

    async def started(self, run_id: str) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self._timed(_old_started))(run_id)

    async def checkpoint(self, run_id: str, *, content: str) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self._timed(_old_checkpoint))(run_id, content)
        self.checkpoints += 1

    async def finished(self, run_id: str, outcome: Any) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self._timed(_old_finished))(run_id, outcome)

    async def aclose(self) -> None:
        from asgiref.sync import sync_to_async
        from django.db import close_old_connections

        await sync_to_async(close_old_connections)()  # obsolete at once: CONN_MAX_AGE=0


def _old_started(run_id: str) -> None:
    from django.db import close_old_connections
    from django.utils import timezone

    from chatapp.models import Message

    close_old_connections()
    now = timezone.now()
    Message.objects.filter(id=run_id).update(
        status=Message.Status.STREAMING, checkpoint_at=now, updated_at=now
    )


def _old_checkpoint(run_id: str, content: str) -> None:
    from django.db import close_old_connections
    from django.utils import timezone

    from chatapp.models import Message

    close_old_connections()
    now = timezone.now()
    Message.objects.filter(id=run_id).update(content=content, checkpoint_at=now, updated_at=now)


def _old_finished(run_id: str, outcome: Any) -> None:
    from django.db import close_old_connections
    from django.utils import timezone

    from chatapp.models import Message

    close_old_connections()
    now = timezone.now()
    Message.objects.filter(id=run_id).update(
        status=outcome.status,
        content=outcome.content,
        html=outcome.html,
        checkpoint_at=now,
        completed_at=now,
        updated_at=now,
    )


@dataclass
class Result:
    store: str
    runs: int
    seconds: float
    busy_s: float
    checkpoints_written: int
    batches: int
    checkpoint_s: list[float] = field(default_factory=list)
    finish_s: list[float] = field(default_factory=list)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def simulate(store: Store, ids: list[str], seconds: float, rng: random.Random) -> Result:
    from streaming.runs.store import RunOutcome
    from streaming.status import RunStatus

    checkpoint_s: list[float] = []
    finish_s: list[float] = []
    loop = asyncio.get_running_loop()

    async def run(run_id: str) -> None:
        await asyncio.sleep(rng.uniform(0, CHECKPOINT_INTERVAL_S))
        await store.started(run_id)
        began = loop.time()
        # Answers end at any moment of a second, not just after a checkpoint
        # (a checkpoint still pending when its run finishes is never written).
        ends = began + seconds - rng.uniform(0, CHECKPOINT_INTERVAL_S)
        content = ""
        # Like the run: a checkpoint when a second has passed since the last one.
        last = began
        while last + CHECKPOINT_INTERVAL_S < ends:
            await asyncio.sleep(max(0.0, last + CHECKPOINT_INTERVAL_S - loop.time()))
            last = loop.time()
            content += "x" * CHARS_PER_SECOND
            t0 = time.perf_counter()
            await store.checkpoint(run_id, content=content)
            checkpoint_s.append(time.perf_counter() - t0)
        await asyncio.sleep(max(0.0, ends - loop.time()))
        t0 = time.perf_counter()
        await store.finished(run_id, RunOutcome(RunStatus.COMPLETE, content, f"<p>{content}</p>"))
        finish_s.append(time.perf_counter() - t0)

    started = time.perf_counter()
    # Each run in a fresh context, as RunManager.start does.
    tasks = [asyncio.create_task(run(run_id), context=contextvars.Context()) for run_id in ids]
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    return Result(
        store="",
        runs=len(ids),
        seconds=elapsed,
        busy_s=0.0,
        checkpoints_written=0,
        batches=0,
        checkpoint_s=checkpoint_s,
        finish_s=finish_s,
    )


async def measure(kind: str, ids: list[str], seconds: float, seed: int) -> Result:
    from chatapp.run_store import DjangoRunStore

    rng = random.Random(seed)
    if kind == "old":
        old = OldRunStore()
        result = await simulate(old, ids, seconds, rng)
        await old.aclose()
        result.busy_s = old.busy_s
        result.checkpoints_written = result.batches = old.checkpoints
    else:
        new = DjangoRunStore()
        result = await simulate(new, ids, seconds, rng)
        await new.aclose()
        stats = new.stats()
        result.busy_s = stats.busy_s
        result.checkpoints_written = stats.checkpoints_written
        result.batches = stats.batches
    result.store = kind
    return result


def make_answers(count: int) -> list[str]:
    from django.contrib.auth.models import User

    from chatapp.models import Conversation, Message

    user = User.objects.create_user(f"bench-{uuid.uuid4().hex[:12]}")
    conv = Conversation.objects.create(user=user, model="bench")
    q = Message.objects.create(conversation=conv, role="user", content="hi")
    answers = Message.objects.bulk_create(
        Message(conversation=conv, reply_to=q, role="assistant", status="pending", model="bench")
        for _ in range(count)
    )
    return [str(a.id) for a in answers]


@contextmanager
def scratch_database(postgres: bool, pool: bool) -> Iterator[str]:
    """Point the settings at a scratch database (before Django is set up)."""
    with tempfile.TemporaryDirectory(prefix="spool-bench-") as tmp:
        os.environ["SPOOL_VAR_DIR"] = tmp
        if not postgres:
            os.environ.pop("DATABASE_URL", None)
            os.environ["SPOOL_SQLITE_PATH"] = str(Path(tmp) / "spool-bench.db")
            yield "SQLite (WAL, the app's settings)"
            return
        import psycopg

        name = f"spool_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        query = "?pool=true" if pool else ""
        os.environ["DATABASE_URL"] = f"postgresql://root@127.0.0.1:5432/{name}{query}"
        try:
            yield f"PostgreSQL (127.0.0.1, {'pool' if pool else 'no pool'})"
        finally:
            from django.db import connections

            connections.close_all()
            close_pool = getattr(connections["default"], "close_pool", None)
            if close_pool is not None:
                close_pool()
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--pool", action="store_true", help="with --postgres: ?pool=true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=1, help="old and new this many times each, alternating"
    )
    args = parser.parse_args()

    with scratch_database(args.postgres, args.pool) as label:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"{label}; each run checkpoints once a second for {args.seconds:g} s")
        header = (
            "store  runs    calls/s     rows/s  batches/s  thread busy"
            "  checkpoint p50 / p99 / max ms  finish p99 ms"
        )
        print(header)
        for n in args.runs:
            for kind in ("old", "new") * args.repeat:
                r = asyncio.run(measure(kind, make_answers(n), args.seconds, args.seed))
                span = r.seconds
                cp = r.checkpoint_s
                print(
                    f"{r.store:<5} {r.runs:>5} {len(cp) / span:>10.0f}"
                    f" {r.checkpoints_written / span:>10.0f} {r.batches / span:>10.1f}"
                    f" {100 * r.busy_s / span:>11.1f}%"
                    f"  {1e3 * statistics.median(cp):>8.3f} / {1e3 * _pct(cp, 0.99):>7.3f}"
                    f" / {1e3 * max(cp):>7.3f}"
                    f"  {1e3 * _pct(r.finish_s, 0.99):>12.2f}"
                )


if __name__ == "__main__":
    main()
