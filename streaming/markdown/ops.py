"""Append-only tail operations: grow the live tail instead of re-sending it.

A ``TailOp`` is ``(depth, html)``: append ``html`` as the last children of the
element reached from the tail root by following ``lastElementChild`` ``depth``
times (depth 0 is the tail container itself). The page's JS applies ops to
the DOM; ``apply_ops`` is the reference implementation on strings.

The string model: a tail HTML string ends with a *trailing run* of closing
tags, with only whitespace text between and after them. Read from the end,
the run's last tag closes the last top-level element (depth 1), the tag before
it closes that element's last element child (depth 2), and so on: that chain
is exactly what following ``lastElementChild`` reaches, since whitespace text
nodes are not elements. Appending at depth ``d >= 1`` inserts just before the
closing tag of the element at depth ``d``; at depth 0, at the very end. After
each op the run is recomputed from the new string; ops come deepest first, so
the elements at smaller depths are still the same ones.

Every op's html is a balanced fragment: each element it opens it closes, and
it has no stray closing tag. The HTML here is the sanitiser's serialisation:
tags are well formed, attribute values double-quoted with ``<``/``>``/``"``
escaped, text has ``<`` escaped.

``Frame`` (the renderer's output per frame, which carries the ops) is here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TailOp = tuple[int, str]

_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^<>]*>")
_CLOSE_RE = re.compile(r"</([A-Za-z][A-Za-z0-9]*)>")
_WS_RE = re.compile(r"\s*")
# Elements with no closing tag (the renderer's allow-list has only these).
VOID = frozenset({"br", "hr", "img", "wbr", "input", "col", "area", "source", "embed"})


def trailing_run(html: str) -> list[int]:
    """Start offsets of the closing tags in ``html``'s trailing run, left to right.

    The last entry closes the element at depth 1; entry ``-d`` closes depth ``d``.
    """
    starts: list[int] = []
    end = len(html)
    while True:
        while end and html[end - 1].isspace():  # no copy of the html: it may be long
            end -= 1
        if end == 0 or html[end - 1] != ">":
            break
        start = html.rfind("<", 0, end)
        if start < 0 or _CLOSE_RE.fullmatch(html, start, end) is None:
            break
        starts.append(start)
        end = start
    starts.reverse()
    return starts


def apply_ops(html: str, ops: list[TailOp]) -> str:
    """Apply ``ops`` to ``html`` in order (the string semantics of the module docstring)."""
    for depth, fragment in ops:
        if depth == 0:
            html += fragment
            continue
        run = trailing_run(html)
        if not 0 < depth <= len(run):
            raise ValueError(f"depth {depth} outside the trailing run of {len(run)} tags")
        position = run[-depth]
        html = html[:position] + fragment + html[position:]
    return html


def _fragment_end(html: str, start: int) -> int | None:
    """End of the balanced fragment at ``html[start:]``: the first unmatched closing tag.

    Returns ``len(html)`` if there is none, None if a closing tag mismatches
    an open one, or the fragment ends with elements still open.
    """
    stack: list[str] = []
    for match in _TAG_RE.finditer(html, start):
        closing, name = match.group(1), match.group(2).lower()
        if not closing:
            if name not in VOID and not match.group(0).endswith("/>"):
                stack.append(name)
        elif not stack:
            return match.start()
        elif stack.pop() != name:
            return None
    return None if stack else len(html)


def _common_prefix(a: str, b: str, hint: int) -> int:
    """Length of the longest common prefix of ``a`` and ``b``.

    ``hint``: a guess that is usually right or a little short (appends keep
    everything before the trailing run), checked with one C-speed comparison.
    """
    n = min(len(a), len(b))
    low = 0
    if hint <= n and a[:hint] == b[:hint]:
        low = hint
    else:
        high = min(hint, n)
        while low < high:  # binary search: slices compare at C speed
            mid = (low + high + 1) // 2
            if a[:mid] == b[:mid]:
                low = mid
            else:
                high = mid - 1
    while low < n and a[low] == b[low]:
        low += 1
    return low


def diff_tail(prev: str, new: str) -> list[TailOp] | None:
    """Ops that turn ``prev`` into exactly ``new`` by appending only, or None.

    None when something already shown changed (a repaired construct rendered
    differently, a paragraph turned into a heading): the caller then replaces
    the whole tail. ``[]`` when the two are equal.
    """
    if prev == new:
        return []
    run = trailing_run(prev)
    length = _common_prefix(prev, new, run[0] if run else len(prev))
    # Back off out of a tag: "<" of "</p>" matches the "<" of an appended "<em>".
    last_open = prev.rfind("<", 0, length)
    if last_open > prev.rfind(">", 0, length):
        length = last_open
    rest = [start for start in run if start >= length]
    # prev[length:] must be only the rest of the run (and whitespace).
    if prev[length : rest[0] if rest else len(prev)].strip():
        return None
    ops: list[TailOp] = []
    p = q = length
    depth = len(rest)
    while True:
        space = _WS_RE.match(prev, p)
        assert space is not None
        if not new.startswith(space.group(), q):
            return None
        p, q = space.end(), q + len(space.group())
        end = _fragment_end(new, q)
        if end is None:
            return None
        if p == len(prev):  # past the whole run: the rest is appended to the root
            if end != len(new):
                return None
            if q < len(new):
                ops.append((0, new[q:]))
            return ops
        close = _CLOSE_RE.match(prev, p)
        assert close is not None
        tag = close.group()
        if not new.startswith(tag, end):
            return None
        if end > q:
            ops.append((depth, new[q:end]))
        p, q, depth = close.end(), end + len(tag), depth - 1


# Not frozen, but never changed once made: a frozen dataclass's __init__ sets
# each field through object.__setattr__, ~2.5% of a streamed answer's render
# time at one Frame a frame (bench/markdown_bench.py).
@dataclass(slots=True)
class Frame:
    """One frame of HTML for the page.

    ``new_blocks``: finished top-level blocks, each appended once (``beforeend``).
    ``tail``: the whole current live tail HTML (replaces the page's tail when
    ``tail_ops`` is None; kept for snapshots either way).
    ``replace``: only from ``finish()``: the full HTML replacing blocks and tail,
    when a late change (a reference definition) altered a frozen block.
    ``spoken``: plain text for screen readers, one string per ``new_blocks``
    entry; from ``finish()`` also one more for the final tail block (if any).
    ``tail_changed``: False when ``tail`` equals the previous frame's, so it
    need not be sent again.
    ``tail_ops``: when not None, append-only ops (``ops.TailOp``) that turn the
    previous frame's ``tail`` into this ``tail`` (``[]``: unchanged). None when
    the tail must be replaced: something shown changed, or this frame has
    ``new_blocks`` (the page's tail then restarts after them), or ``finish()``.
    """

    new_blocks: list[str] = field(default_factory=list)
    tail: str = ""
    replace: str | None = None
    spoken: list[str] = field(default_factory=list)
    tail_changed: bool = True
    tail_ops: list[TailOp] | None = None
