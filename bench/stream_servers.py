"""The servers the serving bench compares, each a subprocess on a free loopback
port, and what the bench reads of them from /proc.

Spool runs exactly as deployed: its Procfile's ``web:`` command, through bash
with ``PORT`` set, in a temporary directory with its own SQLite file (migrated,
bench users written in first). "spool-uvicorn" is the same app under uvicorn;
the baselines (bench/baseline/) run under uvicorn, or daphne for "raw-daphne".
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stream_client import Kind

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 60.0  # Spool's web command runs collectstatic first
_UVICORN = (
    "uvicorn {app} --host 127.0.0.1 --port $PORT --loop uvloop --http httptools --no-access-log"
)
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_SCHEDSTAT = Path("/proc/self/schedstat").exists()  # kernels built without it lack it


@dataclass(frozen=True, slots=True)
class ServerSpec:
    name: str
    kind: Kind
    command: str  # a bash command line; $PORT is the port


def procfile_web(procfile: Path = ROOT / "Procfile") -> str:
    """The ``web:`` command of the Procfile."""
    for line in procfile.read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise LookupError(f"no web: line in {procfile}")


def server_specs() -> dict[str, ServerSpec]:
    return {
        spec.name: spec
        for spec in (
            ServerSpec("spool", "spool", procfile_web()),
            ServerSpec("spool-uvicorn", "spool", _UVICORN.format(app="chatapp.asgi:application")),
            ServerSpec(
                "fastapi", "baseline", _UVICORN.format(app="bench.baseline.fastapi_app:app")
            ),
            ServerSpec("raw", "baseline", _UVICORN.format(app="bench.baseline.raw_asgi:app")),
            ServerSpec(
                "raw-daphne", "baseline", "daphne -b 127.0.0.1 -p $PORT bench.baseline.raw_asgi:app"
            ),
        )
    }


@dataclass(frozen=True, slots=True)
class SpoolLimits:
    """Spool's per-user limits for the bench: raised to what the bench sends,
    never switched off (their checks run on every send, as in production)."""

    max_concurrent_runs: int
    max_sends_per_minute: int


def spool_env(tmp: Path, token_delay: float, limits: SpoolLimits) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="chatapp.settings",
        SPOOL_VAR_DIR=str(tmp),
        SPOOL_SQLITE_PATH=str(tmp / "spool.sqlite3"),
        SPOOL_STATIC_ROOT=str(tmp / "static"),
        SPOOL_DEMO_TOKEN_DELAY_S=str(token_delay),
        SPOOL_MAX_CONCURRENT_RUNS=str(limits.max_concurrent_runs),
        SPOOL_MAX_SENDS_PER_MINUTE=str(limits.max_sends_per_minute),
    )
    return env


def prepare_spool(env: Mapping[str, str], users: int, per_user: int) -> list[dict[str, Any]]:
    """Migrate the bench database and write the bench users into it."""
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]
    subprocess.run(migrate, cwd=ROOT, env=dict(env), check=True)
    setup = [sys.executable, "-m", "bench.spool_setup", str(users), str(per_user)]
    out = subprocess.run(setup, cwd=ROOT, env=dict(env), check=True, capture_output=True)
    users_data: list[dict[str, Any]] = json.loads(out.stdout)
    return users_data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class RunningServer:
    spec: ServerSpec
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    _pids: list[int] = field(default_factory=list)

    def tree(self) -> list[int]:
        """The server's process and all its descendants (bash -> daphne…)."""
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat is not None:
                    children.setdefault(int(stat[1]), []).append(int(entry.name))
        pids, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo.extend(children.get(pid, []))
        self._pids = pids
        return pids

    def cpu_s(self) -> float:
        """CPU time of the process tree so far: every live thread's time on a
        CPU (/proc/<pid>/task/<tid>/schedstat, in ns), plus the time of the
        threads that already ended, which only the process's clock-tick
        counts keep (/proc/<pid>/stat: all its threads, ended ones included,
        minus the live threads' own counts). Ticks are 10 ms, too coarse for a
        baseline's few ms per start, so only ended threads are counted in
        them. (Django's own ASGI handler ends a thread per request: counting
        live threads alone missed most of a request's work.)"""
        total = 0.0
        for pid in self.tree():
            total += _cpu_s(pid)
        return total

    def rss_bytes(self) -> int:
        """Resident memory of the process tree (the tree found by the last ``cpu_s``)."""
        total = 0
        for pid in self._pids or self.tree():
            stat = _stat(pid)
            if stat is not None:
                total += int(stat[21]) * _PAGE
        return total

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _cpu_s(pid: int) -> float:
    stat = _stat(pid)
    if stat is None:
        return 0.0  # the process just ended
    process_ticks = int(stat[11]) + int(stat[12])
    if not _SCHEDSTAT:
        return process_ticks * _TICK_S
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    live_ns = live_ticks = 0
    for tid in tasks:
        try:
            live_ns += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
            task = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue  # the thread just ended (its time moves to the ended ones)
        fields = task[task.rindex(")") + 2 :].split()
        live_ticks += int(fields[11]) + int(fields[12])
    ended_ticks = max(0, process_ticks - live_ticks)
    return live_ns / 1e9 + ended_ticks * _TICK_S


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat fields after the command name: [0] is state (field 3),
    [1] ppid, [11] utime, [12] stime, [21] rss in pages."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


@contextmanager
def serve(spec: ServerSpec, env: Mapping[str, str], log_path: Path) -> Iterator[RunningServer]:
    """Run ``spec`` until the block ends; its whole process group is stopped then."""
    port = free_port()
    full_env = dict(env)
    # `python`, `daphne`, `uvicorn` in the command are the bench's own.
    full_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    full_env["PORT"] = str(port)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["bash", "-c", spec.command],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one
        )
    server = RunningServer(spec, port, process, log_path)
    try:
        _wait_listening(server)
        yield server
    finally:
        _stop(process)


def _wait_listening(server: RunningServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.spec.name} exited early:\n{server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{server.spec.name} did not listen within {STARTUP_TIMEOUT_S} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL to what is left after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            process.poll()  # reap bash, or it stays in the group as a zombie
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
