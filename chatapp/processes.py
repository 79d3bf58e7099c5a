"""Which server processes share this SQLite database: is this one alone?

With the memory event log a run lives only in the process that started it,
so a ``streaming`` answer that this process does not hold is a crash leftover
*if* no other live process could hold it (``chatapp/live.py``). One process
per database is the embedded setup, but a second can appear: ``uvicorn
--workers 2``, a second daphne on another port against the same file (a
blue-green switch on one host), or the next process started while the old
one still finishes its answers in the shutdown grace.

So every server process registers itself beside the database (``register``,
from ``chatapp/asgi.py``): a file ``<database>.servers/<pid>-<random>``
holding an exclusive ``flock`` for as long as the process lives (the kernel
drops it when the process dies, ``kill -9`` included). ``alone`` is true when
no other registered file is locked; files left by dead processes are removed
on the way. Anything unusual (no SQLite file, a directory that cannot be
written) answers "not alone": the caller then falls back to its slower rule.
"""

from __future__ import annotations

import fcntl
import logging
import os
import uuid
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

_registered: Path | None = None
_handle: int | None = None


def _directory() -> Path | None:
    config = settings.DATABASES["default"]
    name = str(config.get("NAME") or "")
    if "sqlite" not in str(config.get("ENGINE", "")):
        return None
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(f"{name}.servers")


def register() -> None:
    """Mark this process as a live server of the database, until it exits."""
    global _registered, _handle
    directory = _directory()
    if directory is None or _registered is not None:
        return
    try:
        directory.mkdir(exist_ok=True)
        path = directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # Locked before it has its name: another process never finds the file
        # unlocked and takes it for a dead one's.
        temporary = directory / f".{path.name}"
        handle = os.open(temporary, os.O_CREAT | os.O_WRONLY, 0o600)
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        temporary.rename(path)
    except OSError:
        logger.warning("could not register this process beside the database", exc_info=True)
        return
    _registered, _handle = path, handle


def alone() -> bool:
    """True when this process is registered and no other live one is."""
    if _registered is None:
        return False
    try:
        for path in _registered.parent.iterdir():
            if path == _registered or path.name.startswith("."):
                continue
            if _held(path):
                return False
    except OSError:
        return False
    return True


def _held(path: Path) -> bool:
    """Whether a live process holds ``path``; a dead one's file is removed."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)  # also releases the lock if we took it
    path.unlink(missing_ok=True)
    return False
