"""chatapp.sqlite: write transactions queued on one lock in the process.

Every test writes a real SQLite file of its own (in ``tmp_path``), through
connections Django makes from the project's own database settings (WAL,
``BEGIN IMMEDIATE``), registered under aliases of their own so that
``transaction.atomic(using=...)`` works as in the app: one connection per
thread, as Django gives each thread.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, OperationalError, connections, transaction
from django.db.utils import ConnectionHandler

from chatapp.sqlite.base import WRITER, DatabaseWrapper

ALIAS = "writer_test"
# The same file, for a writer that gives up on the lock quickly.
IMPATIENT = "writer_test_impatient"
IMPATIENT_TIMEOUT_S = 0.3

SCHEMA = (
    "CREATE TABLE note (id INTEGER PRIMARY KEY, thread TEXT, n INTEGER)",
    "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
    # Checked at COMMIT, so a COMMIT can fail for real.
    "CREATE TABLE child (id INTEGER PRIMARY KEY,"
    " parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)",
)


def _settings(path: Path, **options: Any) -> dict[str, Any]:
    config = {**settings.DATABASES["default"], "NAME": str(path), "TEST": {}}
    config["OPTIONS"] = {**config["OPTIONS"], **options}
    # Filled in as Django fills a DATABASES entry.
    filled: dict[str, Any] = ConnectionHandler({"default": config}).settings["default"]
    return filled


@pytest.fixture
def db_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, django_db_blocker: Any
) -> Iterator[Path]:
    path = tmp_path / "writers.sqlite3"
    monkeypatch.setitem(connections.settings, ALIAS, _settings(path))
    monkeypatch.setitem(
        connections.settings, IMPATIENT, _settings(path, timeout=IMPATIENT_TIMEOUT_S)
    )
    with django_db_blocker.unblock():
        with connections[ALIAS].cursor() as cursor:
            for statement in SCHEMA:
                cursor.execute(statement)
        try:
            yield path
        finally:
            for alias in (ALIAS, IMPATIENT):
                connections[alias].close()
                del connections[alias]
    assert not WRITER.locked(), "a test left the lock held"


def statements(alias: str) -> tuple[list[tuple[str, bool]], Callable[..., Any]]:
    """An execute wrapper recording each statement and whether the lock was held."""
    seen: list[tuple[str, bool]] = []

    def record(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        seen.append((sql, WRITER.locked()))
        return execute(sql, *args)

    return seen, record


def ours(alias: str) -> DatabaseWrapper:
    """This thread's connection for ``alias``, typed as our backend's."""
    conn = connections[alias]
    assert isinstance(conn, DatabaseWrapper)
    return conn


def count(alias: str, table: str = "note") -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return int(cursor.fetchone()[0])


def insert(alias: str, thread: str = "main", n: int = 0) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("INSERT INTO note (thread, n) VALUES (%s, %s)", [thread, n])


def insert_orphan(alias: str) -> None:
    """A child row whose parent does not exist: its COMMIT fails."""
    with connections[alias].cursor() as cursor:
        cursor.execute("INSERT INTO child (parent_id) VALUES (42)")


def test_the_project_runs_on_this_backend(db_file: Path) -> None:
    assert settings.DATABASES["default"]["ENGINE"] == "chatapp.sqlite"
    assert ours(ALIAS).settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


# -- held from BEGIN to the end of the transaction ------------------------------------


def test_held_from_begin_to_commit(db_file: Path) -> None:
    conn = ours(ALIAS)
    seen, record = statements(ALIAS)
    with conn.execute_wrapper(record):
        assert not WRITER.locked()
        with transaction.atomic(using=ALIAS):
            assert WRITER.locked()
            assert conn.holds_writer
            insert(ALIAS)
            with transaction.atomic(using=ALIAS):  # a savepoint: no second BEGIN
                insert(ALIAS)
            assert WRITER.locked()
        assert not WRITER.locked()
        assert not conn.holds_writer
    begins = [(sql, held) for sql, held in seen if sql.startswith("BEGIN")]
    assert begins == [("BEGIN IMMEDIATE", True)], "the lock is taken before BEGIN"
    assert count(ALIAS) == 2


def test_released_on_rollback(db_file: Path) -> None:
    def write_then_fail() -> None:
        with transaction.atomic(using=ALIAS):
            insert(ALIAS)
            assert WRITER.locked()
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        write_then_fail()
    assert not WRITER.locked()
    assert not ours(ALIAS).holds_writer
    assert count(ALIAS) == 0


def test_released_on_close(db_file: Path) -> None:
    conn = ours(ALIAS)
    with transaction.atomic(using=ALIAS):
        insert(ALIAS)
        conn.close()  # a connection dropped mid-transaction: SQLite rolls back
        assert not WRITER.locked()
        assert not conn.holds_writer
    assert not WRITER.locked()
    assert count(ALIAS) == 0


def test_released_when_begin_fails(db_file: Path) -> None:
    """Another process holds SQLite's write lock: BEGIN IMMEDIATE gives up."""
    other = sqlite3.connect(db_file, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with (
            pytest.raises(OperationalError, match="database is locked"),
            transaction.atomic(using=IMPATIENT),
        ):
            insert(IMPATIENT)  # pragma: no cover (BEGIN fails first)
        assert not WRITER.locked()
        assert not ours(IMPATIENT).holds_writer
    finally:
        other.execute("ROLLBACK")
        other.close()
    with transaction.atomic(using=IMPATIENT):
        insert(IMPATIENT)
    assert count(ALIAS) == 1


def test_released_when_commit_fails(db_file: Path) -> None:
    conn = ours(ALIAS)
    conn.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    assert WRITER.locked()
    insert_orphan(ALIAS)
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        conn.commit()
    assert not WRITER.locked()
    assert not conn.holds_writer
    conn.rollback()
    conn.set_autocommit(True)
    assert count(ALIAS, "child") == 0


def test_released_when_commit_fails_in_atomic(db_file: Path) -> None:
    with pytest.raises(IntegrityError), transaction.atomic(using=ALIAS):
        insert_orphan(ALIAS)
    assert not WRITER.locked()
    # The next transaction on the same connection takes the lock afresh.
    with transaction.atomic(using=ALIAS):
        assert WRITER.locked()
        insert(ALIAS)
    assert not WRITER.locked()
    assert count(ALIAS) == 1


def test_autocommit_statements_do_not_take_it(db_file: Path) -> None:
    seen, record = statements(ALIAS)
    with connections[ALIAS].execute_wrapper(record):
        insert(ALIAS)
    assert seen == [("INSERT INTO note (thread, n) VALUES (%s, %s)", False)]


# -- many writers ---------------------------------------------------------------------

THREADS = 20
WRITES_PER_THREAD = 5


def test_many_threads_write_in_turn_and_all_succeed(db_file: Path) -> None:
    start = threading.Barrier(THREADS)
    guard = threading.Lock()
    inside = 0
    most_inside = 0
    used: set[int] = set()
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        nonlocal inside, most_inside
        try:
            conn = ours(ALIAS)
            with guard:
                used.add(id(conn))
            start.wait()
            for n in range(WRITES_PER_THREAD):
                with transaction.atomic(using=ALIAS):
                    assert conn.holds_writer
                    assert WRITER.locked()
                    with guard:
                        inside += 1
                        most_inside = max(most_inside, inside)
                    insert(ALIAS, name, n)
                    time.sleep(0.002)  # a transaction that takes a while
                    with guard:
                        inside -= 1
        except BaseException as error:
            errors.append(error)
        finally:
            connections[ALIAS].close()

    threads = [threading.Thread(target=writer, args=(f"t{i}",)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(used) == THREADS, "each thread had a connection of its own"
    assert most_inside == 1, "two transactions held the lock at once"
    assert count(ALIAS) == THREADS * WRITES_PER_THREAD
    assert not WRITER.locked()


def test_a_writer_that_cannot_get_the_lock_in_time_is_told_database_is_locked(
    db_file: Path,
) -> None:
    outcome: list[BaseException | float] = []

    def impatient() -> None:
        seen, record = statements(IMPATIENT)
        started = time.monotonic()
        try:
            with (
                connections[IMPATIENT].execute_wrapper(record),
                transaction.atomic(using=IMPATIENT),
            ):
                insert(IMPATIENT, "impatient")  # pragma: no cover
        except BaseException as error:
            outcome.extend([error, time.monotonic() - started])
            # It waited on the process lock: SQLite never saw its BEGIN.
            assert not any(sql.startswith("BEGIN") for sql, _ in seen)
            assert not ours(IMPATIENT).holds_writer
        finally:
            connections[IMPATIENT].close()

    with transaction.atomic(using=ALIAS):
        insert(ALIAS)
        waiter = threading.Thread(target=impatient)
        waiter.start()
        waiter.join(10)
        assert WRITER.locked(), "the waiter's failure must not release our lock"
    error, waited = outcome
    assert isinstance(error, OperationalError)
    assert str(error) == "database is locked"
    assert isinstance(waited, float)
    assert IMPATIENT_TIMEOUT_S <= waited < IMPATIENT_TIMEOUT_S + 2
    assert count(ALIAS) == 1
