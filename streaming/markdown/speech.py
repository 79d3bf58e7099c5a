"""What a screen reader should hear for one finished top-level block.

Contract: ``speech_for_html(html)`` takes a block's rendered (sanitised) HTML
and returns plain text, markdown stripped and
whitespace collapsed. Code is summarised ("Code block, Python, 24 lines."),
a table too ("Table, 3 columns, 5 rows."; rows of the body), an image is read
by its alt text, a list reads its items' text, a thematic break is silent ("").
Each paragraph, heading or item ends with punctuation so that speech pauses
between them.

``speech_for_answer(blocks)`` joins the blocks' speech into the one read-out
of a whole answer (the "only when done" read-aloud setting), cut after the
blocks that fit ``WHOLE_ANSWER_CHARS`` with "… N more blocks." for the rest.

It reads the HTML rather than markdown tokens so that what is spoken is what
is shown, and so that the streaming renderer can freeze a block from HTML it
already has (``stream``) without parsing it again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import unescape

from streaming.markdown.highlight import language_name, normalise_lang

# A piece of a block's HTML: a code block (Spool's chrome, or an indented
# block's bare <pre>), a table, an image, another tag, or text.
_PIECE_RE = re.compile(
    r'<div class="code-block"><div class="code-head"><span class="code-lang">([^<]*)</span>'
    r".*?<code[^>]*>(.*?)</code></pre></div>"
    r"|<pre><code[^>]*>(.*?)</code></pre>"
    r"|(<table>.*?</table>)"
    r"|<img\s[^>]*?alt=\"([^\"]*)\"[^>]*>"
    r"|<(/?)([a-z][a-z0-9]*)[^>]*>"
    r"|([^<]+)",
    re.DOTALL,
)
_TAG_RE = re.compile(r"<[^>]*>")
_BLOCK_TAG_RE = re.compile(r"</?(?:p|li|ul|ol|blockquote|h[1-6]|hr|div|pre)(?:\s[^>]*)?/?>")
_IMG_RE = re.compile(r"<img\s[^>]*?alt=\"([^\"]*)\"[^>]*>")
_BR_RE = re.compile(r"<br\s*/?>")
_CODE_BLOCK = '<div class="code-block"><div class="code-head"><span class="code-lang">'
_CODE_END = "</code></pre></div>\n"
# Tags that end a run of inline text: each run is read as one sentence.
_BLOCK_TAGS = frozenset(
    {"p", "li", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "div", "pre"}
)

_SENTENCE_END = (".", "!", "?", ":", ";", "…")

# One read-out of a whole answer stops after about a minute of speech (a
# screen reader's default rate is ~180 words, ~1,000 characters a minute):
# a longer wall of speech cannot be skimmed, while the transcript can be read
# block by block with the reader's own keys.
WHOLE_ANSWER_CHARS = 1000


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _line_count(body: str) -> int:
    """Lines of the code whose highlighted HTML is ``body`` (no tag holds a newline)."""
    end = _TAG_RE.sub("", body[-200:])  # the text the code ends with
    if not end and not _TAG_RE.sub("", body):
        return 0
    return body.count("\n") + (0 if end.endswith("\n") else 1)


def _code_summary(lines: int, lang: str) -> str:
    parts = ["Code block", language_name(lang), _plural(lines, "line")]
    return ", ".join(part for part in parts if part) + "."


def speech_for_answer(blocks: Sequence[str], *, limit: int = WHOLE_ANSWER_CHARS) -> str:
    """One read-out of a finished answer from its blocks' speech (empty ones skipped).

    Blocks are kept whole: the first always, the next ones while the text
    stays within ``limit`` characters; the rest are counted ("… 3 more blocks.").
    """
    spoken = [block for block in blocks if block]
    kept: list[str] = []
    size = 0
    for block in spoken:
        if kept and size + 1 + len(block) > limit:
            break
        kept.append(block)
        size += len(block) + (1 if size else 0)
    rest = len(spoken) - len(kept)
    if rest:
        kept.append(f"… {_plural(rest, 'more block')}.")
    return " ".join(kept)


def speech_for_html(html: str) -> str:
    """Plain text for screen readers of one top-level block's HTML."""
    if html.startswith(_CODE_BLOCK) and html.endswith(_CODE_END) and html.count("<pre>") == 1:
        # A fenced block alone (the common case): its label and its lines.
        label = html[len(_CODE_BLOCK) : html.index("</span>")]
        body = html[html.index(">", html.index("<code")) + 1 : -len(_CODE_END)]
        return _code_summary(_line_count(body), normalise_lang(unescape(label)))
    if "<div" in html or "<pre>" in html or "<table>" in html:
        return _speech_by_pieces(html)
    # Text only (the common case): the same in a few C-speed passes.
    text = _BLOCK_TAG_RE.sub("\0", html)
    text = _IMG_RE.sub(lambda m: f"Image: {m.group(1)}" if m.group(1) else "Image", text)
    text = _TAG_RE.sub("", _BR_RE.sub(" ", text))
    return " ".join(_sentence(part) for part in text.split("\0") if part.strip())


def _sentence(run: str) -> str:
    text = " ".join(unescape(run).split())  # whitespace collapsed (as r"\s+"), stripped
    return text if not text or text.endswith(_SENTENCE_END) else text + "."


def _speech_by_pieces(html: str) -> str:
    segments: list[str] = []
    run: list[str] = []

    def end_run() -> None:
        text = _sentence("".join(run))
        run.clear()
        if text:
            segments.append(text)

    for match in _PIECE_RE.finditer(html):
        lang, code, bare, table, alt, _, tag, text = match.groups()
        if text is not None:
            run.append(text)
        elif tag is not None:
            if tag in _BLOCK_TAGS:
                end_run()
            elif tag == "br":
                run.append(" ")
        elif alt is not None:
            run.append(f"Image: {alt}" if alt else "Image")
        else:
            end_run()
            if table is not None:
                segments.append(speech_for_table_html(table))
            else:
                body = code if code is not None else bare
                label = normalise_lang(unescape(lang)) if lang is not None else ""
                segments.append(_code_summary(_line_count(body), label))
    end_run()
    return " ".join(segments)


def speech_for_table_html(html: str) -> str:
    """``speech_for_block`` of a table from its rendered HTML (``"<table>…"``)."""
    head, _, body = html.partition("</thead>")
    columns = head.count("<th>") + head.count("<th ")
    return f"Table, {_plural(columns, 'column')}, {_plural(body.count('<tr>'), 'row')}."
