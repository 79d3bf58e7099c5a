"""Tail repair: make the live, unfinished markdown safe to show mid-stream.

``repair_tail(src)`` returns a markdown source to render *instead of* ``src``
while more text may follow. It never adds content that the model did not
write, only closes what is open or holds back what is undecided, so that a
frame never shows raw markup that the next frame turns into formatting:

- inside a code fence, a partial line that may be the closing fence is held
  back; the unclosed fence itself already renders as a closed code block;
- a partial fence opener (```` ```pyth ````) is held back until its line ends,
  so the language label never flickers;
- a partial line made only of block markers (``-``, ``#``, ``>``, ``1.``,
  ``===``, ``|--``) is held back: it may become a list, heading, setext
  underline, thematic break or table delimiter;
- the last complete line of a paragraph that contains ``|`` is held back until
  the next line shows whether it is a table header; a partial table row too;
- inline: an open code span, ``*``/``_``/``~~`` emphasis are closed (which spans
  are open is markdown-it's own delimiter balancing: ``spans``); a link whose
  destination is being typed shows only its text (held back whole if it holds a
  delimiter character, which the link would keep apart from the rest); an
  unfinished image, autolink, entity, trailing backslash, delimiter run or code
  span closer is held back, and so is an opener that the closers could not close
  (CommonMark's rule of 3).

Repairs are heuristics for display only: the final render never uses them.
"""

from __future__ import annotations

import re

from markdown_it.token import Token

from streaming.markdown.render import block_parse
from streaming.markdown.spans import first_changed_run, open_spans

# Container prefixes a line may start with: block quotes and list markers.
_CONTAINER_PREFIX_RE = re.compile(r"(?:[ \t]*(?:>|[-+*]|\d{1,9}[.)])(?=[ \t]|$))*[ \t]*")
_ONLY_MARKERS_RE = re.compile(r"[-=*_#|:`~+> \t]*|\d{1,9}[.)]?")
_FENCE_OPENER_RE = re.compile(r"(?:`{3,}|~{3,})")
_FENCE_CLOSER_PREFIX_RE = re.compile(r"[ \t]*(?:`+|~+)[ \t]*")
# An autolink or e-mail autolink still being typed, up to the end of the text.
_OPEN_AUTOLINK_RE = re.compile(
    r"<(?:[A-Za-z][A-Za-z0-9+.\-]{0,31}(?::[^\s<>]*)?|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]*)$"
)
_OPEN_ENTITY_RE = re.compile(r"&#?[A-Za-z0-9]{0,31}$")
# Characters that can start inline markup; the scanner jumps between them.
_SPECIAL_RE = re.compile(r"[\\`\[\]!*_~<&]")
_CODE_TYPES = ("fence", "code_block")
_CELL_OPENERS = ("th_open", "td_open")


def _line_offsets(src: str) -> list[int]:
    """Start offset of every line of ``src`` (split on "\\n" as markdown-it does)."""
    offsets = [0]
    position = src.find("\n")
    while position >= 0:
        offsets.append(position + 1)
        position = src.find("\n", position + 1)
    return offsets


def _covering(tokens: list[Token], line: int) -> tuple[Token | None, Token | None]:
    """The deepest code or inline token whose lines include ``line``, and its parent opener."""
    found: tuple[Token | None, Token | None] = (None, None)
    for i, token in enumerate(tokens):
        if token.map is None or not token.map[0] <= line < token.map[1]:
            continue
        if token.type in _CODE_TYPES:
            found = (token, None)
        elif token.type == "inline":
            found = (token, tokens[i - 1] if i else None)
    return found


def repair_tail(src: str, *, live_type: str = "") -> str:
    """The source to render for the live tail ``src`` (see the module docstring).

    ``live_type`` is a hint from the caller, who already parsed the complete
    lines: ``"fence"`` if they are one open top-level fence, ``"table"`` if one
    table. It saves a block parse, the costliest step here.
    """
    if not src.strip():
        return ""
    offsets = _line_offsets(src)
    partial = src[offsets[-1] :]
    if live_type == "fence":
        if _FENCE_CLOSER_PREFIX_RE.fullmatch(partial):
            return src[: offsets[-1]]
        return src
    if live_type == "table" and (not partial or holds_back_partial(partial)):
        return src[: offsets[-1]]
    # The line the reader is looking at: the partial one, else the last complete one.
    line = len(offsets) - 1 if partial else len(offsets) - 2
    token, parent = _covering(block_parse(src), line)

    if token is not None and token.type in _CODE_TYPES:
        assert token.map is not None
        if partial and (
            token.map[0] == line or _FENCE_CLOSER_PREFIX_RE.fullmatch(partial) is not None
        ):
            return src[: offsets[-1]]  # the fence's opener or closer is still being typed
        return src

    if partial and holds_back_partial(partial):
        src = src[: offsets[-1]]  # offsets[-1] is now the start of an empty line
        line = len(offsets) - 2
        token, parent = _covering(block_parse(src), line) if src.strip() else (None, None)
        if token is not None and token.type in _CODE_TYPES:
            return src

    if (
        src.endswith("\n")
        and parent is not None
        and parent.type == "paragraph_open"
        and "|" in src[offsets[line] : offsets[line + 1]]
    ):
        # Could be a table header row: wait for the delimiter row (or its absence).
        return repair_tail(src[: offsets[line]])

    if token is None or token.map is None or (parent is not None and parent.type in _CELL_OPENERS):
        return src
    start = offsets[token.map[0]]
    end = offsets[token.map[1]] if token.map[1] < len(offsets) else len(src)
    return src[:start] + repair_inline(src[start:end]) + src[end:]


def container_length(line: str) -> int:
    """Length of ``line``'s container prefix: block quote and list markers, and the
    spaces around them (the pattern matches every line, if only emptily)."""
    return _CONTAINER_PREFIX_RE.match(line).end()  # type: ignore[union-attr]


def holds_back_partial(partial: str) -> bool:
    """True if a partial line outside code may still turn into block markup."""
    body = partial[container_length(partial) :]
    return (
        _ONLY_MARKERS_RE.fullmatch(body) is not None
        or _FENCE_OPENER_RE.match(body) is not None
        or "|" in partial
    )


def _changed_by_removal(src: str, kept: str, removed: list[int]) -> int | None:
    """The first of the ``removed`` brackets of ``src`` (giving ``kept``) whose
    removal may change what the rest shows; None if there is none.

    A link's text is balanced on its own, and without its ``[`` it is not: a
    ``*`` in it could close or be closed by one outside, so a link text with
    a delimiter character waits whole. Otherwise only the runs next to the
    bracket can change: two runs of a marker joined, or a delimiter run that
    opens or closes differently.
    """
    runs: list[tuple[int, int, int]] = []  # (removed position, run start in src, in kept)
    for index, position in enumerate(removed):
        if src[position] == "[":
            end = src.find("]", position)
            label = src[position + 1 : end if end >= 0 else len(src)]
            if "*" in label or "_" in label or "~" in label:
                return position
        # The characters the removal brings together, in ``kept``: brackets
        # removed side by side ("`a`[[`b") join what is around the group.
        joint = position - index
        left = kept[joint - 1] if joint else ""
        if left and left == kept[joint : joint + 1] and left in "*_~`":
            return position
        after = src[position + 1] if position + 1 < len(src) else ""
        before = src[position - 1] if position else ""
        if before and before in "*_~":
            start = position - 1
            while start and src[start - 1] == before:
                start -= 1
            runs.append((position, start, start - index))
        if after and after in "*_~":
            runs.append((position, position + 1, position - index))
    changed = first_changed_run(src, kept, [(a, b) for _, a, b in runs])
    return None if changed is None else runs[changed][0]


def _find_destination_end(text: str, start: int) -> int | None:
    """Index of the ``)`` closing a link destination (and title) opened before ``start``."""
    depth = 1
    quote = ""
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'" and i > start and text[i - 1].isspace():
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def repair_inline(text: str) -> str:
    """Close or hold back unfinished inline markup at the end of one paragraph's source.

    Which emphasis and strikethrough spans are open is markdown-it's own
    decision (``spans.open_spans``) on the text that is kept; the scan here only
    finds what is held back: a code span's or a link's unfinished parts, the
    delimiter run being typed.
    """
    body = text.rstrip()
    trailing = text[len(body) :]
    n = len(body)
    cut = n
    removals: set[int] = set()
    code_open: tuple[int, int] | None = None  # (position, backtick run length)
    brackets: list[tuple[int, bool]] = []  # (position of "[", is an image)
    runs: dict[int, int] = {}  # end -> start of each "*", "_" or "~" run outside code
    i = 0
    while i < n:
        if code_open is None:
            special = _SPECIAL_RE.search(body, i)
            if special is None:
                break
            i = special.start()
        char = body[i]
        if char == "\\":
            if i + 1 >= n:
                cut = i  # an escape or hard break whose second half is not here yet
                break
            i += 2
            continue
        if char == "`":
            j = i
            while j < n and body[j] == "`":
                j += 1
            if code_open is None:
                code_open = (i, j - i)
            elif j == n and j - i <= code_open[1]:
                cut = i  # the closer being typed, or the start of a longer run
                break
            elif code_open[1] == j - i:
                code_open = None
            i = j
            continue
        if code_open is not None:
            # Inside a code span only a closing backtick run matters.
            next_tick = body.find("`", i)
            i = n if next_tick < 0 else next_tick
            continue
        if char == "[" or (char == "!" and body.startswith("[", i + 1)):
            brackets.append((i, char == "!"))
            i += 2 if char == "!" else 1
            continue
        if char == "]" and brackets:
            start, image = brackets.pop()
            if body.startswith("(", i + 1):
                close = _find_destination_end(body, i + 2)
                if close is None:  # destination still being typed: show the text only
                    if image:
                        cut = start
                    else:
                        removals.add(start)
                        cut = i
                    break
                i = close + 1
                continue
            if i + 1 == n:  # "[label]" may still be followed by "(url)"
                if image:
                    cut = start
                    break
                removals.update((start, i))
            i += 1
            continue
        if char in "*_~":
            j = i
            while j < n and body[j] == char:
                j += 1
            if j == n:
                cut = i  # a delimiter run still being typed
                break
            runs[j] = i
            i = j
            continue
        if (char == "<" and _OPEN_AUTOLINK_RE.match(body, i)) or (
            char == "&" and _OPEN_ENTITY_RE.match(body, i)
        ):
            cut = i
            break
        i += 1

    code_closer = ""
    if code_open is not None and code_open[0] < cut:
        content = body[code_open[0] + code_open[1] : cut].rstrip()  # as ``shown`` has it
        if content:
            code_closer = (" " if content.endswith("`") else "") + "`" * code_open[1]
        else:
            cut = code_open[0]
    for position, image in brackets:
        if position < cut:
            if image:
                cut = position
            else:
                removals.add(position)
    if not code_closer:
        # A delimiter run that ends what is kept (but for spaces and removed
        # brackets) opens nothing yet, as one at the very end: held back too,
        # so that closers never touch a run (``open_spans`` needs that).
        stop = cut
        while True:
            while stop and (body[stop - 1].isspace() or stop - 1 in removals):
                stop -= 1
            if stop not in runs:
                break
            cut = stop = runs[stop]
    removed = sorted(k for k in removals if k < cut)
    kept = body[:cut]
    for position in reversed(removed):
        kept = kept[:position] + kept[position + 1 :]
    changed = _changed_by_removal(body[:cut], kept, removed)
    if changed is not None:
        # Taken out, this bracket would change what the rest shows ("*a[*b"
        # would close "*a"): the link's text waits for its "](...)".
        return repair_inline(body[:changed]) + trailing
    shown = kept.rstrip() + code_closer
    spans = open_spans(shown)
    if spans.held_from is not None:  # a span no closer can close: wait for more
        held_from = spans.held_from
        for position in removed:
            if position <= held_from:
                held_from += 1  # back to a position in ``body``
        return repair_inline(body[:held_from]) + trailing
    if not spans.closers and not code_closer:
        return kept + trailing
    return shown + spans.closers + trailing
