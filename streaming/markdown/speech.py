"""What a screen reader should hear for one finished top-level block.

Contract: ``speech_for_html(html)`` takes a block's rendered (sanitised) HTML
and returns plain text, markdown stripped and
whitespace collapsed. Code is summarised ("Code block, Python, 24 lines."),
a table too ("Table, 3 columns, 5 rows."; rows of the body), an image is read
by its alt text, a list reads its items' text, a thematic break is silent ("").
Each paragraph, heading or item ends with punctuation so that speech pauses
between them.

It reads the HTML rather than markdown tokens so that what is spoken is what
is shown, and so that the streaming renderer can freeze a block from HTML it
already has (``stream``) without parsing it again.
"""

from __future__ import annotations

import re
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
# Tags that end a run of inline text: each run is read as one sentence.
_BLOCK_TAGS = frozenset(
    {"p", "li", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "div", "pre"}
)

_SPACE_RE = re.compile(r"\s+")
_SENTENCE_END = (".", "!", "?", ":", ";", "…")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _lines_summary(code: str, lang: str) -> str:
    lines = code.count("\n") + (0 if code.endswith("\n") else 1) if code else 0
    parts = ["Code block", language_name(lang), _plural(lines, "line")]
    return ", ".join(part for part in parts if part) + "."


def speech_for_html(html: str) -> str:
    """Plain text for screen readers of one top-level block's HTML."""
    segments: list[str] = []
    run: list[str] = []

    def end_run() -> None:
        text = _SPACE_RE.sub(" ", unescape("".join(run))).strip()
        run.clear()
        if text:
            segments.append(text if text.endswith(_SENTENCE_END) else text + ".")

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
                # Lines only: tags hold no newline and no entity is one (no unescape).
                segments.append(_lines_summary(_TAG_RE.sub("", body), label))
    end_run()
    return " ".join(segments)


def speech_for_table_html(html: str) -> str:
    """``speech_for_block`` of a table from its rendered HTML (``"<table>…"``)."""
    head, _, body = html.partition("</thead>")
    columns = head.count("<th>") + head.count("<th ")
    return f"Table, {_plural(columns, 'column')}, {_plural(body.count('<tr>'), 'row')}."
