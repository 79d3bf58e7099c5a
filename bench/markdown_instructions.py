"""Instructions, not time: the incremental renderer against the one-shot render.

Usage::

    .venv/bin/python bench/markdown_instructions.py [answer_long ...]

CPU time on a shared machine moves by +-20% from run to run; instruction
counts do not (within ~1%), so this is the figure to decide small changes by.
Each measurement runs this script's ``--run`` mode under valgrind's
cachegrind (``valgrind`` must be installed; Debian: ``apt install valgrind``)
and subtracts a run that only loads and warms up, so the figures are the
renders alone: the one-shot ``render_markdown`` 5 times, the incremental
``StreamingMarkdown`` (``markdown_bench.frames`` at 60 tokens/s) twice.
Instructions are not time: the streamed render runs many small Python calls
and executes fewer instructions per cycle than the one-shot render, so its
CPU-time ratio (``markdown_bench.py``) is higher than the ratio here.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.markdown_bench import CORPUS, frames
from streaming.markdown import StreamingMarkdown, render_markdown

_REFS_RE = re.compile(r"I\s+refs:\s+([\d,]+)")
ONE_SHOTS = 5
STREAMS = 2


def _run(mode: str, document: str, count: int) -> None:
    """The measured work: ``count`` renders of ``document`` after a warm-up."""
    text = (CORPUS / f"{document}.md").read_text()
    deltas = frames(text, 60)
    render_markdown(text)  # load lexers, compile regexes
    for _ in range(count):
        if mode == "one-shot":
            render_markdown(text)
        else:
            renderer = StreamingMarkdown()
            for delta in deltas:
                renderer.feed(delta)
            renderer.finish()


def _instructions(mode: str, document: str, count: int) -> int:
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, __file__, "--run", mode, document, str(count),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    match = _REFS_RE.search(result.stderr)
    assert match is not None, result.stderr[-2000:]
    return int(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("documents", nargs="*", default=["answer_long"])
    parser.add_argument("--run", nargs=3, metavar=("MODE", "DOCUMENT", "COUNT"))
    args = parser.parse_args()
    if args.run:
        _run(args.run[0], args.run[1], int(args.run[2]))
        return
    print(f"{'document':<16}{'one-shot Minstr':>16}{'incr Minstr':>13}{'incr/1shot':>11}")
    for document in args.documents:
        base = _instructions("one-shot", document, 0)
        one_shot = (_instructions("one-shot", document, ONE_SHOTS) - base) / ONE_SHOTS / 1e6
        incremental = (_instructions("incremental", document, STREAMS) - base) / STREAMS / 1e6
        print(f"{document:<16}{one_shot:>16.1f}{incremental:>13.1f}{incremental / one_shot:>11.2f}")


if __name__ == "__main__":
    main()
