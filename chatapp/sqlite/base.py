"""Django's SQLite backend, with write transactions queued on a lock in the process.

SQLite allows one writer at a time. Spool's transactions are ``IMMEDIATE``
(the write lock is taken at ``BEGIN``), and a connection that finds the lock
taken waits in SQLite's busy handler, which *sleeps* between attempts (1, 2,
5 … up to 100 ms) instead of being woken when the lock frees. With many
requests writing at once (50 sends in a second) the file lock was free most
of the time while every waiter slept: a send took seconds. Here a writer first
takes a process-wide ``threading.Lock``, which wakes the next waiter the
moment the previous transaction ends, so only one connection of the process
ever meets SQLite's lock (other processes still meet it, as before).

Contract: ``transaction.atomic`` blocks (``BEGIN IMMEDIATE`` … ``COMMIT`` or
``ROLLBACK``) hold the lock; it is released on commit, rollback and close.
Waiting longer than the busy timeout raises ``OperationalError("database is
locked")``, as SQLite itself would. Statements outside ``atomic`` (autocommit)
do not take it and wait in SQLite's busy handler as before; Spool's writes
are all in ``atomic`` blocks.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

# One per process: every connection of every thread writes the same file.
WRITER = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
    # The overridden hooks are Django's private ones; django-stubs does not
    # declare them (hence the ``type: ignore[misc]`` on each ``super()`` call).
    holds_writer = False

    def _start_transaction_under_autocommit(self) -> None:
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        if not WRITER.acquire(timeout=timeout):
            raise OperationalError("database is locked")
        self.holds_writer = True
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._release_writer()
            raise

    def _commit(self) -> Any:
        try:
            return super()._commit()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _close(self) -> Any:
        try:
            return super()._close()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _release_writer(self) -> None:
        if self.holds_writer:
            self.holds_writer = False
            WRITER.release()
