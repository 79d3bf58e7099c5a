"""A real daphne process on a free loopback port, with its own SQLite file.

pytest-django's ``live_server`` is WSGI and buffers streams, so the streaming
tests talk to this instead, over real HTTP (docs/streaming.md, Stack facts).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Daphne starts in ~1 s here; a loaded CI machine may need much longer.
STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DaphneServer:
    url: str
    db_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    database_url: str = ""

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Read the server's database directly, as a second client would."""
        if self.database_url:
            import psycopg
            from psycopg.rows import dict_row

            with psycopg.connect(self.database_url, row_factory=dict_row) as pg:
                return list(pg.execute(sql.replace("?", "%s"), params))
        with sqlite3.connect(self.db_path, timeout=10) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, params)]

    def message(self, message_id: str) -> dict[str, Any]:
        key = message_id if self.database_url else message_id.replace("-", "")
        rows = self.query("SELECT * FROM chatapp_message WHERE id = ?", (key,))
        assert rows, f"no message {message_id}"
        return rows[0]

    def wait_status(self, message_id: str, *statuses: str, timeout: float = 10) -> dict[str, Any]:
        """The message's row once its status is one of ``statuses``."""
        deadline = time.monotonic() + timeout
        while (row := self.message(message_id))["status"] not in statuses:
            assert time.monotonic() < deadline, f"still {row['status']}, wanted {statuses}"
            time.sleep(0.05)
        return row

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def run_daphne(tmp: Path, env: Mapping[str, str]) -> Iterator[DaphneServer]:
    port = free_port()
    db_path = tmp / "spool.sqlite3"
    full_env = {
        **os.environ,
        "SPOOL_VAR_DIR": str(tmp),
        "SPOOL_SQLITE_PATH": str(db_path),
        "DJANGO_SETTINGS_MODULE": "chatapp.settings",
        # Teardown's SIGTERM must not wait out the 10 s default for a run a
        # test left going (tests/test_shutdown.py sets its own).
        "SPOOL_SHUTDOWN_GRACE_S": "1",
        # No title request beside first answers: tests count and read the fake
        # model's requests, and a title request racing the answer's would be
        # read in its place. Tests of titles turn them on.
        "SPOOL_TITLES": "0",
        **env,
    }
    if "DATABASE_URL" not in env:
        full_env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT, env=full_env, check=True,
    )  # fmt: skip
    log_path = tmp / "daphne.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "chatapp.asgi:application"],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = DaphneServer(
        f"http://127.0.0.1:{port}", db_path, process, log_path, env.get("DATABASE_URL", "")
    )
    try:
        wait_listening(port, process, log_path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_listening(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"daphne did not listen within {STARTUP_TIMEOUT_S} s")


def collect_static(static_root: Path, env: Mapping[str, str] | None = None) -> None:
    """``manage.py collectstatic`` with the production storage (hashed names,
    gzip/brotli copies) into ``static_root``."""
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatapp.settings",
        "SPOOL_VAR_DIR": str(static_root.parent),
        "SPOOL_STATIC_ROOT": str(static_root),
        "SPOOL_STATIC_MANIFEST": "1",
        **(env or {}),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT, env=full_env, check=True,
    )  # fmt: skip
