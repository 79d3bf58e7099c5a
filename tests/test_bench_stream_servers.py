"""bench/stream_servers.py: what the bench reads of a server from /proc."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.stream_servers import _cpu_s

# Four threads, each on a CPU for ~0.2 s and then gone; the process then waits.
_THREADS_THAT_END = """
import sys, threading, time
def burn():
    end = time.thread_time() + 0.2
    while time.thread_time() < end:
        pass
for _ in range(4):
    t = threading.Thread(target=burn)
    t.start()
    t.join()
print("done", flush=True)
time.sleep(30)
"""


def test_cpu_counts_threads_that_ended() -> None:
    """Django's ASGI handler ends a thread per request: its work must count."""
    process = subprocess.Popen(
        [sys.executable, "-c", _THREADS_THAT_END], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "done"
        time.sleep(0.05)
        cpu = _cpu_s(process.pid)
    finally:
        process.kill()
        process.wait()
    # 0.8 s in threads that no longer exist (ticks of 10 ms, and the start-up).
    assert 0.75 < cpu < 2.0, cpu
