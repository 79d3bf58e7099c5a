"""Server-side markdown for streamed answers: frozen blocks plus a live tail.

Public API (used by the run and for stored messages):

- ``StreamingMarkdown``: ``feed(delta) -> Frame`` once per frame, ``finish() -> Frame``
  once; ``text``, ``html`` (snapshot), ``full_replacements``, ``block_count``.
- ``Frame``: ``new_blocks``, ``tail``, ``replace``, ``spoken``, ``tail_changed``,
  ``tail_ops`` (append-only ops, ``ops.TailOp``; ``apply_ops`` is their reference).
- ``render_markdown(text)``: the one-shot sanitised render.
- ``speech_for_markdown(text)``: what a screen reader hears, one string per block.

Modules: ``render`` (markdown-it, link policy, nh3), ``highlight`` (Pygments
code blocks and their CSS), ``repair`` (tail repairs) with ``spans`` (which
emphasis spans markdown-it leaves open), ``speech`` (plain text
for screen readers, from a block's HTML), ``stream`` (the incremental
renderer) with ``freeze`` (finishing blocks), ``blocks`` (when a block is
finished), ``ops`` (append-only tail
ops), ``cadence`` (when the tail re-renders: the render budget). The live
tail's shortcuts, each exact (tested against the full render on every prefix):
``append`` (plain words typed mid-line), ``inline`` (inline parses reused
across frames), ``line`` (the line being typed, spliced) with ``shapes`` (a
block's only line) and ``items`` (the next item of a tight list), ``tail`` (a
live list's last item), ``table`` (a live table's new rows), ``fence`` with
``lexing`` (an open code fence, line by line).
"""

from __future__ import annotations

from typing import Any

from streaming.markdown.ops import Frame, TailOp, apply_ops, diff_tail
from streaming.markdown.render import parse, render_block, render_markdown, split_blocks
from streaming.markdown.speech import speech_for_answer, speech_for_html
from streaming.markdown.stream import StreamingMarkdown


def speech_for_markdown(text: str) -> list[str]:
    """Plain text for screen readers, one string per top-level block of ``text``."""
    env: dict[str, Any] = {}
    return [speech_for_html(render_block(block, env)) for block in split_blocks(parse(text, env))]


__all__ = [
    "Frame",
    "StreamingMarkdown",
    "TailOp",
    "apply_ops",
    "diff_tail",
    "render_markdown",
    "speech_for_answer",
    "speech_for_markdown",
]
