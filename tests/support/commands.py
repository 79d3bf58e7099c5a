"""Spool started by a shell command line, as a process manager starts it
(the Procfile's ``web:`` line, or uvicorn), on a free loopback port.

The command runs under ``sh -c`` with ``PORT`` set and this venv's ``bin`` first
on ``PATH``; the database is migrated first and static files go to the test's
own directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.daphne import ROOT, DaphneServer, free_port, wait_listening

UVICORN = "exec uvicorn chatapp.asgi:application --host 127.0.0.1 --port $PORT"


@contextmanager
def run_command(tmp: Path, env: Mapping[str, str], command: str) -> Iterator[DaphneServer]:
    """``command`` serving Spool until the block ends (then SIGTERM to its process
    group, SIGKILL to what is left 10 s later)."""
    port = free_port()
    db_path = tmp / "spool.sqlite3"
    full_env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "SPOOL_VAR_DIR": str(tmp),
        "SPOOL_SQLITE_PATH": str(db_path),
        "SPOOL_STATIC_ROOT": str(tmp / "static"),
        "DJANGO_SETTINGS_MODULE": "chatapp.settings",
        **env,
    }
    full_env.pop("DATABASE_URL", None)
    full_env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT, env=full_env, check=True,
    )  # fmt: skip
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["sh", "-c", command],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: cleaned up as one
        )
    server = DaphneServer(f"http://127.0.0.1:{port}", db_path, process, log_path)
    try:
        wait_listening(port, process, log_path)
        yield server
    finally:
        # The whole group: a command that did not exec leaves a server behind
        # its shell.
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
