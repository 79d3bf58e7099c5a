"""The run store: its own thread, one kept connection, checkpoints batched.

Every test runs on real databases: pytest-django's SQLite test database, and
a throw-away PostgreSQL database registered as extra aliases
(tests/support/databases.py), one of them through psycopg's pool. The store
thread is held busy with a job that waits on an event, which is how a slow
database looks to the runs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from uuid import uuid4

import pytest
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

from chatapp.db_thread import DbThread
from chatapp.models import Conversation, Message
from chatapp.run_store import STORE_THREAD_NAME, DjangoRunStore
from streaming.eventlog.memory import MemoryEventLog
from streaming.runs import Budgets, RunManager, RunOutcome
from streaming.status import FinalStatus, RunStatus
from tests.support.databases import backend_pids, postgres_aliases, terminate

PG = "runstore_pg"
PG_POOL = "runstore_pg_pool"
HOLD_S = 10.0  # a held store thread is always released long before this


@pytest.fixture(scope="module")
def postgres(django_db_blocker: Any) -> Iterator[str]:
    with django_db_blocker.unblock(), postgres_aliases({PG: "", PG_POOL: "?pool=true"}) as name:
        yield name


@dataclass(frozen=True)
class Db:
    using: str
    pg_name: str | None  # the PostgreSQL database; None on SQLite
    helper: DbThread  # the test's own queries, on a thread and connection of their own

    async def answers(self, count: int) -> list[str]:
        """Pending assistant messages, as services leave them for a run."""
        return await self.helper.run(partial(_make_answers, self.using, count))

    async def rows(self, ids: list[str]) -> dict[str, tuple[str, str]]:
        """run id -> (status, content)."""
        return await self.helper.run(partial(_rows, self.using, ids))


def _make_answers(using: str, count: int) -> list[str]:
    user = User.objects.db_manager(using).create_user(f"u{uuid4().hex[:12]}")
    conv = Conversation.objects.using(using).create(user=user, model="fake")
    q = Message.objects.using(using).create(conversation=conv, role="user", content="hi")
    answers = Message.objects.using(using).bulk_create(
        Message(conversation=conv, reply_to=q, role="assistant", status="pending", model="fake")
        for _ in range(count)
    )
    return [str(a.id) for a in answers]


def _rows(using: str, ids: list[str]) -> dict[str, tuple[str, str]]:
    found = Message.objects.using(using).filter(id__in=ids).values_list("id", "status", "content")
    return {str(id_): (status, content) for id_, status, content in found}


@pytest.fixture(
    params=[
        # The mark (not a fixture requested at run time) is what makes
        # pytest-django create its test database for the session.
        pytest.param("sqlite", marks=pytest.mark.django_db(transaction=True)),
        pytest.param("postgres", marks=pytest.mark.services),
        pytest.param("postgres-pool", marks=pytest.mark.services),
    ]
)
def alias(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    if request.param == "sqlite":
        return DEFAULT_DB_ALIAS, None
    name = request.getfixturevalue("postgres")
    return (PG if request.param == "postgres" else PG_POOL), name


@pytest.fixture
async def database(alias: tuple[str, str | None]) -> AsyncIterator[Db]:
    helper = DbThread("test-helper", using=alias[0])
    yield Db(alias[0], alias[1], helper)
    await helper.aclose()


@pytest.fixture
async def store(database: Db) -> AsyncIterator[DjangoRunStore]:
    s = DjangoRunStore(using=database.using)
    yield s
    await s.aclose()


def outcome(content: str, status: FinalStatus = RunStatus.COMPLETE) -> RunOutcome:
    return RunOutcome(status, content, f"<p>{content}</p>")


@dataclass(frozen=True)
class Seen:
    """What a job on the store thread finds: its thread and its open connection."""

    thread: threading.Thread
    raw: object  # the driver's connection, None when none is open
    pid: int | None  # the PostgreSQL server process behind it


def _seen(using: str) -> Seen:
    wrapper = connections[using]
    raw = wrapper.connection
    pid = raw.info.backend_pid if raw is not None and wrapper.vendor == "postgresql" else None
    return Seen(threading.current_thread(), raw, pid)


@dataclass(frozen=True)
class Statement:
    sql: str
    rows: int  # parameter sets: > 1 only for an executemany
    many: bool

    @property
    def is_checkpoint_batch(self) -> bool:
        return _is_checkpoint_batch(self.sql, self.many)


def _is_checkpoint_batch(sql: str, many: bool) -> bool:
    # started and finished are single ORM updates; only a batch is an executemany.
    return many and sql.startswith("UPDATE")


Execute = Callable[[str, Any, bool, Any], Any]
ExecuteWrapper = Callable[[Execute, str, Any, bool, Any], Any]


def _record_statements(using: str, sink: list[Statement]) -> None:
    """Append every SQL statement the calling thread's connection runs to ``sink``."""

    def wrapper(execute: Execute, sql: str, params: Any, many: bool, context: Any) -> Any:
        sink.append(Statement(sql, len(params) if many else 1, many))
        return execute(sql, params, many, context)

    connections[using].execute_wrappers.append(wrapper)


async def _wrap_store_statements(
    store: DjangoRunStore, using: str, wrapper: ExecuteWrapper
) -> None:
    """Install ``wrapper`` (a Django execute wrapper) on the store thread's connection."""
    await store.thread.run(lambda: connections[using].execute_wrappers.append(wrapper))


@dataclass
class Hold:
    """Keeps the store thread busy until released, as a slow write would."""

    store: DjangoRunStore

    async def __aenter__(self) -> Hold:
        self.gate, running = threading.Event(), threading.Event()

        def hold() -> bool:
            running.set()
            return self.gate.wait(HOLD_S)

        self.task = asyncio.create_task(self.store.thread.run(hold))
        assert await asyncio.to_thread(running.wait, HOLD_S)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.gate.set()
        assert await self.task, "the store thread was held past HOLD_S"


async def test_writes_reuse_one_connection_on_the_store_thread(
    database: Db, store: DjangoRunStore
) -> None:
    ids = await database.answers(20)
    for run_id in ids:
        await store.started(run_id)
    first = await store.thread.run(partial(_seen, database.using))
    seen = [first]
    for i, run_id in enumerate(ids):
        await store.checkpoint(run_id, content=f"partial {i}")
        await store.flush()  # a batch of its own: every checkpoint is one more write
        seen.append(await store.thread.run(partial(_seen, database.using)))
    for run_id in ids:
        await store.finished(run_id, outcome("done"))
    seen.append(await store.thread.run(partial(_seen, database.using)))

    assert first.thread.name == STORE_THREAD_NAME
    assert all(s.thread is first.thread for s in seen)
    assert first.raw is not None
    assert all(s.raw is first.raw for s in seen)
    if database.pg_name is not None:
        assert first.pid in await asyncio.to_thread(backend_pids, database.pg_name)
    assert store.stats().lost_connections == 0
    assert await database.rows(ids) == dict.fromkeys(ids, ("complete", "done"))


async def test_an_idle_store_lets_its_connection_go(database: Db) -> None:
    store = DjangoRunStore(using=database.using, idle_close_s=0.2)
    try:
        [run_id] = await database.answers(1)
        await store.started(run_id)
        busy = await store.thread.run(partial(_seen, database.using))
        await asyncio.sleep(0.5)
        idle = await store.thread.run(partial(_seen, database.using))  # opens none
        await store.finished(run_id, outcome("done"))
        again = await store.thread.run(partial(_seen, database.using))
    finally:
        await store.aclose()

    assert busy.raw is not None
    assert idle.raw is None
    assert again.raw is not None
    if database.using == PG and database.pg_name is not None:  # closed, not pooled
        assert busy.pid not in await asyncio.to_thread(backend_pids, database.pg_name)
    assert await database.rows([run_id]) == {run_id: ("complete", "done")}


async def test_200_runs_checkpoints_coalesce_into_one_transaction(
    database: Db, store: DjangoRunStore
) -> None:
    ids = await database.answers(200)
    statements: list[Statement] = []
    await store.thread.run(partial(_record_statements, database.using, statements))
    async with Hold(store):
        for i, run_id in enumerate(ids):
            await store.checkpoint(run_id, content=f"answer {i}")
    await store.flush()

    assert store.stats().batches == 1
    assert store.stats().checkpoints_written == 200
    assert [s.rows for s in statements if s.is_checkpoint_batch] == [200]  # one executemany
    if database.pg_name is None:  # psycopg opens its transactions without a statement
        assert sum(s.sql.startswith("BEGIN") for s in statements) == 1
    rows = await database.rows(ids)
    assert rows == {run_id: ("pending", f"answer {i}") for i, run_id in enumerate(ids)}


async def test_checkpoints_of_concurrent_runs_share_transactions(
    database: Db, store: DjangoRunStore
) -> None:
    """200 runs checkpointing on their own clocks, 20 times faster than real runs:
    each row ends with its run's last content, in fewer transactions than calls
    (measured: ~6 checkpoints a transaction; the store writes whatever is recorded
    as soon as it is free, so the more it is loaded, the more coalesce)."""
    ids = await database.answers(200)
    rounds, interval = 10, 0.05

    async def run(index: int, run_id: str) -> None:
        await asyncio.sleep(random.uniform(0, interval))
        for r in range(rounds):
            await store.checkpoint(run_id, content=f"answer {index} round {r}")
            await asyncio.sleep(interval)

    await asyncio.gather(*(run(i, run_id) for i, run_id in enumerate(ids)))
    await store.flush()

    calls = len(ids) * rounds
    assert store.stats().batches <= calls / 2
    rows = await database.rows(ids)
    assert rows == {
        run_id: ("pending", f"answer {i} round {rounds - 1}") for i, run_id in enumerate(ids)
    }


async def test_checkpoint_never_waits_for_a_busy_store(database: Db, store: DjangoRunStore) -> None:
    ids = await database.answers(200)
    durations = []
    async with Hold(store) as hold:
        for round_ in range(5):
            for run_id in ids:
                started = time.perf_counter()
                await store.checkpoint(run_id, content=f"round {round_}")
                durations.append(time.perf_counter() - started)
        assert not hold.task.done(), "the checks ran while the store thread was busy"
    await store.flush()

    assert statistics.median(durations) < 50e-6
    # Waiting on the held store would take until its release (seconds); a
    # preempted or garbage-collecting loop on a loaded machine takes a few ms.
    assert max(durations) < 50e-3
    assert await database.rows(ids) == dict.fromkeys(ids, ("pending", "round 4"))


async def test_a_checkpoint_queued_behind_finish_is_dropped(
    database: Db, store: DjangoRunStore
) -> None:
    [run_id] = await database.answers(1)
    await store.started(run_id)
    async with Hold(store):
        await store.checkpoint(run_id, content="partial")
        finish = asyncio.create_task(store.finished(run_id, outcome("final")))
        await asyncio.sleep(0.05)  # finished() is queued behind the held job
    await finish
    await store.flush()

    assert await database.rows([run_id]) == {run_id: ("complete", "final")}
    assert store.stats().checkpoints_written == 0  # dropped, not written then overwritten


async def test_a_batch_already_taken_is_written_before_finish(
    database: Db, store: DjangoRunStore
) -> None:
    [run_id] = await database.answers(1)
    await store.started(run_id)
    entered, release = threading.Event(), threading.Event()

    def stall_batches(execute: Execute, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        if _is_checkpoint_batch(sql, many):
            entered.set()
            release.wait(HOLD_S)
        return execute(sql, params, many, ctx)

    await _wrap_store_statements(store, database.using, stall_batches)
    await store.checkpoint(run_id, content="partial")
    assert await asyncio.to_thread(entered.wait, HOLD_S)
    finish = asyncio.create_task(store.finished(run_id, outcome("final")))
    await asyncio.sleep(0.05)
    assert not finish.done()  # it waits for the batch in progress
    release.set()
    await finish

    assert await database.rows([run_id]) == {run_id: ("complete", "final")}
    assert store.stats().checkpoints_written == 1


async def test_a_late_checkpoint_cannot_overwrite_a_finished_row(
    database: Db, store: DjangoRunStore
) -> None:
    [run_id] = await database.answers(1)
    await store.started(run_id)
    await store.finished(run_id, outcome("final", status=RunStatus.STOPPED))
    await store.checkpoint(run_id, content="late")  # a misbehaving caller
    await store.flush()

    assert await database.rows([run_id]) == {run_id: ("stopped", "final")}
    assert store.stats().checkpoints_written == 0


async def test_a_failed_batch_is_logged_and_retried_with_the_next(
    database: Db, store: DjangoRunStore, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = await database.answers(2)
    failures = [OperationalError("injected: disk I/O error")]

    def fail_once(execute: Execute, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        if _is_checkpoint_batch(sql, many) and failures:
            raise failures.pop()
        return execute(sql, params, many, ctx)

    await _wrap_store_statements(store, database.using, fail_once)
    with caplog.at_level(logging.ERROR, logger="chatapp.run_store"):
        await store.checkpoint(first, content="one")  # must not raise
        await store.thread.run(lambda: None)  # the batch has run (jobs run in order)
    assert not failures
    assert "1 checkpoints not saved, retried with the next batch" in caplog.text
    assert await database.rows([first]) == {first: ("pending", "")}

    await store.checkpoint(second, content="two")
    await store.thread.run(lambda: None)
    assert await database.rows([first, second]) == {
        first: ("pending", "one"),
        second: ("pending", "two"),
    }
    assert (store.stats().batches, store.stats().checkpoints_written) == (1, 2)


async def test_a_failed_batch_does_not_bring_back_a_finished_run(
    database: Db, store: DjangoRunStore
) -> None:
    """The batch was taken, the run finished meanwhile, then the batch failed and
    put the checkpoint back: the finish, queued behind, drops it again."""
    [run_id] = await database.answers(1)
    await store.started(run_id)
    entered, release = threading.Event(), threading.Event()
    batch_statements: list[str] = []

    def stall_then_fail_once(execute: Execute, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        if _is_checkpoint_batch(sql, many):
            batch_statements.append(sql)
            if len(batch_statements) == 1:
                entered.set()
                release.wait(HOLD_S)
                raise OperationalError("injected")
        return execute(sql, params, many, ctx)

    await _wrap_store_statements(store, database.using, stall_then_fail_once)
    await store.checkpoint(run_id, content="partial")
    assert await asyncio.to_thread(entered.wait, HOLD_S)
    finish = asyncio.create_task(store.finished(run_id, outcome("final")))
    await asyncio.sleep(0.05)
    release.set()
    await finish
    await store.flush()

    assert await database.rows([run_id]) == {run_id: ("complete", "final")}
    assert len(batch_statements) == 1  # nothing was left to write after the finish


async def _restart(database: Db) -> None:
    """Kill every server process of the database, as a restart of the server would."""
    assert database.pg_name is not None
    for pid in await asyncio.to_thread(backend_pids, database.pg_name):
        await asyncio.to_thread(terminate, pid)


@pytest.mark.services
@pytest.mark.parametrize("alias", ["postgres", "postgres-pool"], indirect=True)
async def test_after_a_database_restart_no_write_is_lost(
    database: Db, store: DjangoRunStore, caplog: pytest.LogCaptureFixture
) -> None:
    run_id, other = await database.answers(2)
    await store.started(run_id)
    await store.started(other)

    await _restart(database)
    await store.checkpoint(run_id, content="after the restart")
    await store.flush()
    await _restart(database)
    await store.finished(other, outcome("finished after the restart"))

    assert store.stats().lost_connections == 2
    assert caplog.text.count("database connection lost, retrying on a new one") >= 2
    assert await database.rows([run_id, other]) == {
        run_id: ("streaming", "after the restart"),
        other: ("complete", "finished after the restart"),
    }


@pytest.mark.services
@pytest.mark.parametrize("alias", ["postgres"], indirect=True)
async def test_the_periodic_check_replaces_a_dead_connection_before_it_fails_a_write(
    database: Db, caplog: pytest.LogCaptureFixture
) -> None:
    store = DjangoRunStore(using=database.using, health_check_s=0.0)  # check before every job
    try:
        [run_id] = await database.answers(1)
        await store.started(run_id)
        before = await store.thread.run(partial(_seen, database.using))
        await _restart(database)
        await store.finished(run_id, outcome("final"))
        after = await store.thread.run(partial(_seen, database.using))
        assert store.stats().lost_connections == 1
    finally:
        await store.aclose()
    assert "retrying" not in caplog.text  # replaced before the write, which never failed
    assert before.pid is not None
    assert after.pid is not None
    assert after.pid != before.pid
    assert await database.rows([run_id]) == {run_id: ("complete", "final")}


async def test_manager_shutdown_writes_what_is_pending_and_ends_the_store_thread(
    database: Db, store: DjangoRunStore
) -> None:
    [run_id] = await database.answers(1)
    seen = await store.thread.run(partial(_seen, database.using))
    budgets = Budgets(idle_timeout_s=1, wall_clock_s=1, max_output_tokens=1)
    manager = RunManager(log=MemoryEventLog(), store=store, budgets=budgets, detach_grace=None)
    async with Hold(store):
        await store.checkpoint(run_id, content="last words")
        shutdown = asyncio.create_task(manager.shutdown())
        await asyncio.sleep(0.05)
        assert not shutdown.done()  # it waits for the store
    await shutdown

    assert not seen.thread.is_alive()
    assert await database.rows([run_id]) == {run_id: ("pending", "last words")}
    if database.pg_name is not None and seen.pid is not None:
        assert seen.pid not in await asyncio.to_thread(backend_pids, database.pg_name)
