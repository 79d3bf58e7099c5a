"""Shared checks for the markdown tests (well-formed, safe HTML; streaming runs) + their tests."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from hypothesis import strategies as st

from streaming.markdown import Frame, StreamingMarkdown, cadence

VOID = {"br", "hr", "img"}
ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code",
    "pre", "span", "div", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr",
    "th", "td", "img", "button",
}  # fmt: skip
_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_SAFE_SCHEMES = {"http", "https", "mailto"}
_SAFE_DATA_IMAGE_RE = re.compile(r"^data:image/(?:png|gif|jpeg|webp|avif);base64,", re.I)
_NOISE_RE = re.compile(r"[\x00-\x20\x7f]+")


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text_outside_code: list[str] = []
        self.code_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.errors.append(f"tag <{tag}>")
        for name, value in attrs:
            url = _NOISE_RE.sub("", value or "")
            if name.startswith("on") or name in ("style", "srcdoc", "formaction", "target"):
                self.errors.append(f"attribute {name}")
            scheme = _SCHEME_RE.match(url)
            unsafe = scheme is not None and scheme.group(1).lower() not in _SAFE_SCHEMES
            data_image = tag == "img" and name == "src" and _SAFE_DATA_IMAGE_RE.match(url)
            if name in ("href", "src") and unsafe and not data_image:
                self.errors.append(f"url {name}={value!r}")
        if tag == "button" and dict(attrs).get("type") != "button":
            self.errors.append("button without type=button")
        if (
            tag == "a"
            and dict(attrs).get("href")
            and "nofollow" not in (dict(attrs).get("rel") or "")
        ):
            self.errors.append("link without rel nofollow")
        if tag in ("code", "pre"):
            self.code_depth += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.errors.append(f"end tag </{tag}>")
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> with open {self.stack}")
            return
        self.stack.pop()
        if tag in ("code", "pre"):
            self.code_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.code_depth:
            self.text_outside_code.append(data)

    def handle_comment(self, data: str) -> None:
        self.errors.append("comment")


@dataclass
class HtmlReport:
    errors: list[str]
    text: str  # text outside code elements


def check_html(html: str) -> HtmlReport:
    """Balanced tags, allow-listed tags and attributes, safe URLs."""
    checker = _Checker()
    checker.feed(html)
    checker.close()
    errors = list(checker.errors)
    if checker.stack:
        errors.append(f"unclosed {checker.stack}")
    return HtmlReport(errors, "".join(checker.text_outside_code))


@dataclass
class StreamRun:
    frames: list[Frame]
    final: Frame
    renderer: StreamingMarkdown

    @property
    def result(self) -> str:
        """What the page shows at the end, following the frame protocol."""
        if self.final.replace is not None:
            return self.final.replace
        blocks = [b for frame in [*self.frames, self.final] for b in frame.new_blocks]
        return "".join(blocks) + self.final.tail

    def shown(self) -> list[str]:
        """The page's HTML (blocks + tail) after each intermediate frame."""
        blocks = ""
        tail = ""
        pages = []
        for frame in self.frames:
            blocks += "".join(frame.new_blocks)
            tail = frame.tail
            pages.append(blocks + tail)
        return pages


def render_every_frame(patch: pytest.MonkeyPatch) -> None:
    """Turn the render cadence off: every frame re-renders the tail."""
    patch.setattr(cadence, "TAIL_EVERY_FRAMES", 1)
    patch.setattr(cadence, "RENDER_BUDGET", 10**6)


def random_cuts(data: st.DataObject, text: str, sizes: tuple[int, int]) -> list[int]:
    """Cuts every ``size`` characters (drawn from ``sizes``), plus some anywhere."""
    size = data.draw(st.integers(*sizes), label="delta size")
    cuts = list(range(0, len(text), size))
    return cuts + data.draw(st.lists(st.integers(0, len(text)), max_size=50), label="extra cuts")


def stream(text: str, cuts: list[int]) -> StreamRun:
    """Feed ``text`` cut at ``cuts`` (offsets), then finish."""
    renderer = StreamingMarkdown()
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(text)}), len(text)]
    frames = [renderer.feed(text[a:b]) for a, b in itertools.pairwise(bounds)]
    return StreamRun(frames, renderer.finish(), renderer)


def test_checker_flags_unbalanced_and_unsafe_html() -> None:
    assert check_html("<p><em>x</p>").errors
    assert check_html("<p>x").errors
    assert check_html('<a href="javascript:alert(1)" rel="nofollow">x</a>').errors
    assert check_html('<img src="x" onerror="alert(1)">').errors
    assert check_html("<script>alert(1)</script>").errors
    assert check_html('<p style="color:red">x</p>').errors


def test_checker_accepts_safe_html() -> None:
    html = '<p><a href="https://x.org/a" rel="noopener noreferrer nofollow">x</a><br></p>\n'
    assert check_html(html).errors == []
    assert check_html("<pre><code>```</code></pre>").text == ""
