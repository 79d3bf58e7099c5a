"""An answer's renderer across tool rounds: text segments with tool chips between them.

A model that calls tools writes its answer in rounds: maybe some text, the
calls, then (after their results) more text. The page shows each call as a
chip where it happened, so the text that follows continues *below* it. One
``StreamingMarkdown`` renders one segment of text; a chip closes it (its last
block is finished, ``close_segment``) and the next text starts a new one.

Seen from the run it is one renderer (``feed``, ``finish``, ``text``,
``html``, ``block_count``): ``text`` is the segments' text joined by a blank
line (what ``Message.content`` stores and the deltas rebuild), ``html`` the
segments' HTML with the chips' in their places (what ``Message.html``
stores, so a reload shows the chips where the stream put them).

``restore`` rebuilds one from a stored text and its chips (``ChipRecord``,
kept with the tool calls): a crashed run's answer is drawn by it
(``answer_html``) as a finished one is, and a Continue goes on from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace as with_fields

from streaming.markdown import Frame, StreamingMarkdown, render_markdown
from streaming.runs.chips import ChipRecord

# Between two segments' text: a paragraph break, so the second never glues
# onto the first ("I'll check." + "It is 1024." stays two paragraphs).
SEPARATOR = "\n\n"


@dataclass(slots=True)
class _Text:
    text: str
    html: str


@dataclass(slots=True)
class _Chip:
    id: str
    html: str
    at: int  # length of the answer's text when the chip was shown


class SegmentedMarkdown:
    def __init__(self) -> None:
        self._current = StreamingMarkdown()
        self._parts: list[_Text | _Chip] = []  # closed segments and chips, in order
        self._closed_text = ""
        self._closed_blocks = 0  # blocks and chips before the current segment
        self._owed = ""  # the separator owed before the next segment's first text

    @property
    def text(self) -> str:
        if not self._closed_text:
            return self._current.text  # no copy: the usual answer has no tools
        return self._closed_text + self._current.text

    @property
    def html(self) -> str:
        return self._closed_html() + self._current.html

    @property
    def closed_html(self) -> str:
        """The closed segments and the chips: all but the current segment."""
        return self._closed_html()

    @property
    def block_count(self) -> int:
        return self._closed_blocks + self._current.block_count

    @property
    def full_replacements(self) -> int:
        return self._current.full_replacements

    def feed(self, delta: str) -> Frame:
        if self._owed and delta:
            # Part of this delta as the run sends it: the run slices the text
            # from its length before the feed, so the deltas still join to it.
            self._closed_text += self._owed
            self._owed = ""
        return self._current.feed(delta)

    def finish(self) -> Frame:
        return self._whole(self._current.finish())

    def close_segment(self) -> Frame | None:
        """End the current segment before a chip: its last block is finished.

        Returns the segment's last frame (None when it holds no text); the
        run sends its tail as a block, so a chip appended after it follows it.
        """
        if not self._current.text:
            return None
        frame = self._whole(self._current.finish())
        segment = self._current
        self._parts.append(_Text(segment.text, segment.html))
        self._closed_text += segment.text
        self._closed_blocks += segment.block_count + (1 if frame.tail else 0)
        self._owed = "" if segment.text.endswith(SEPARATOR) else SEPARATOR
        self._current = StreamingMarkdown()
        return frame

    def restore(self, text: str, chips: Sequence[ChipRecord]) -> Frame:
        """Start from ``text`` with ``chips`` where they were shown (each after
        the text up to its ``at``), as if streamed so; on a new renderer.
        Returns the frame of the last segment (the text after the last chip)."""
        assert not self.text, "restore starts a renderer"
        assert not self._parts, "restore starts a renderer"
        for chip in chips:
            self._feed_stored(text[len(self.text) : max(len(self.text), chip.at)])
            self.close_segment()
            self.add_chip(chip.id, chip.html)
        return self._feed_stored(text[len(self.text) :])

    def _feed_stored(self, piece: str) -> Frame:
        """Stored text after a chip starts with the separator the stream wrote."""
        if self._owed and piece:
            if piece.startswith(self._owed):
                piece = piece[len(self._owed) :]
                self._closed_text += self._owed
            self._owed = ""
        return self._current.feed(piece)

    def add_chip(self, chip_id: str, html: str) -> None:
        """A chip after everything so far (``close_segment`` first)."""
        self._parts.append(_Chip(chip_id, html, len(self.text)))
        self._closed_blocks += 1

    def update_chip(self, chip_id: str, html: str) -> None:
        for part in self._parts:
            if isinstance(part, _Chip) and part.id == chip_id:
                part.html = html

    def render(self, text: str) -> str:
        """The HTML of a prefix of ``text`` (a Stop's clamp) with the chips
        shown before that point."""
        html: list[str] = []
        start = 0
        for part in self._parts:
            if isinstance(part, _Chip):
                if part.at <= len(text):
                    html.append(part.html)
                continue
            end = start + len(part.text)
            html.append(render_markdown(text[start:end]) if end > len(text) else part.html)
            start = min(end, len(text))
            if text[start : start + len(SEPARATOR)] == SEPARATOR and len(text) > start:
                start += len(SEPARATOR)
        if start < len(text):
            html.append(render_markdown(text[start:]))
        return "".join(html)

    def _closed_html(self) -> str:
        return "".join(part.html for part in self._parts)

    def _whole(self, frame: Frame) -> Frame:
        """A segment's ``replace`` (late reference definitions) replaces the
        whole answer on the page: the earlier segments and chips come first."""
        if frame.replace is None or not self._parts:
            return frame
        return with_fields(frame, replace=self._closed_html() + frame.replace)


def answer_html(text: str, chips: Sequence[ChipRecord]) -> str:
    """The HTML of an answer stored as ``text`` and its chips: what the run
    would have saved had it finished with them (a crashed run's answer)."""
    markdown = SegmentedMarkdown()
    markdown.restore(text, chips)
    markdown.finish()
    return markdown.html
