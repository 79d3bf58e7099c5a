"""Stepping from one item of a tight list to the next, as HTML around the text.

``line.LiveLine`` splices the items that follow the line it renders: each new
line that starts an item of the same list, of a list nested in the item
before it, or of an enclosing list it entered, turns the HTML before and
after the line's text (``Step``) into the next item's. What markdown-it
renders for a tight list is that HTML around each item's inline text.
"""

from __future__ import annotations

import re

# (container, before, after, parents): the line's container markers, the tail
# HTML before and after its text, and the enclosing items' (container, after),
# innermost last.
Step = tuple[str, str, str, tuple[tuple[str, str], ...]]

# List numbers: "2." continues a list that "1." began.
_DIGITS_RE = re.compile(r"\d+")
# A container that is one list marker after indentation: a nested list's item.
_NESTED_ITEM_RE = re.compile(r"( *)([-+*]|(\d{1,9})[.)])[ \t]+")


def same_list(container: str, other: str) -> bool:
    """Whether two items' containers are of the same list (numbers aside)."""
    return _DIGITS_RE.sub("0", container) == _DIGITS_RE.sub("0", other)


def next_item(state: Step, container: str, done_html: str) -> Step | None:
    """From the item whose text (``done_html``, rendered) is complete to the item
    the next line, with markers ``container``, starts; None if it starts none."""
    current, before, after, parents = state
    if same_list(container, current):  # a sibling
        return container, f"{before}{done_html}</li>\n<li>", after, parents
    nested = _NESTED_ITEM_RE.fullmatch(container)
    # A list inside the item. Its first item interrupts the item's text, which
    # an ordered item may do only from 1 (CommonMark): else it is more text.
    if nested and len(nested.group(1)) == len(current) and nested.group(3) in (None, "1"):
        tag = "ol" if nested.group(3) else "ul"
        opened = f"{before}{done_html}\n<{tag}>\n<li>"
        return container, opened, f"</li>\n</{tag}>\n{after}", (*parents, (current, after))
    for depth in range(len(parents) - 1, -1, -1):  # back out to an enclosing list
        outer, outer_after = parents[depth]
        if same_list(container, outer):
            closing = after[: len(after) - len(outer_after)]
            return (
                container,
                f"{before}{done_html}{closing}</li>\n<li>",
                outer_after,
                parents[:depth],
            )
    return None
