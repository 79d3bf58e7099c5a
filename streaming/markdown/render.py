"""One-shot rendering: markdown-it configuration, link policy, sanitising.

Everything the streaming renderer sends goes through ``render_blocks``, and the
one-shot ``render_markdown`` is the concatenation of the same per-block output,
so "blocks sent + final tail == one-shot render" is a property of the token
stream alone.

Safety, in depth:
- markdown-it runs with raw HTML disabled: ``<script>`` in the source is text.
- ``validate_link`` admits only http(s), mailto, relative URLs, and data: URIs
  of raster images; anything else (javascript:, vbscript:, file:, …) is not
  made into a link. Links never get a data: href.
- Every block is passed through nh3 with an allow-list of exactly the tags and
  attributes this renderer emits; ``rel="noopener noreferrer nofollow"`` is
  forced on links. No ``style`` attribute survives (CSP): table alignment
  becomes ``class="align-…"``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any, cast

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from streaming.markdown.highlight import code_block_html
from streaming.markdown.inline import InlineMemo, inline_rule, joined

_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s",
    "code", "pre", "span", "div", "blockquote", "ul", "ol", "li", "a", "table", "thead",
    "tbody", "tr", "th", "td", "img", "button",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "span": {"class"},
    "div": {"class"},
    "ol": {"start"},
    "th": {"class"},
    "td": {"class"},
    "button": {"class", "aria-label"},
}
_URL_SCHEMES = {"http", "https", "mailto"}
_LINK_REL = "noopener noreferrer nofollow"
# A button outside a form does nothing by default, but "submit" inside one would.
_FORCED_VALUES = {"button": {"type": "button"}}

_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    attributes=_ATTRIBUTES,
    url_schemes=_URL_SCHEMES,
    link_rel=_LINK_REL,
    set_tag_attribute_values=_FORCED_VALUES,
)

# Raster image types browsers cannot run script from (SVG can carry script).
_SAFE_DATA_IMAGE_RE = re.compile(r"^data:image/(?:png|gif|jpeg|webp|avif);base64,[a-z0-9+/=]*$")
_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.-]*):")
# Browsers drop ASCII whitespace and controls inside a scheme ("java\tscript:").
_URL_NOISE_RE = re.compile(r"[\x00-\x20\x7f]+")


def _allow_data_images(tag: str, attribute: str, value: str) -> str | None:
    """nh3 attribute filter for blocks with data: URLs: only on <img src>, only rasters."""
    if value[:5].lower() == "data:" and not (
        tag == "img" and attribute == "src" and _SAFE_DATA_IMAGE_RE.match(value.lower())
    ):
        return None
    return value


# Used only for the rare block that contains a data: URL: the per-attribute
# Python callback is slow on code blocks with thousands of spans.
_DATA_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    attributes=_ATTRIBUTES,
    url_schemes=_URL_SCHEMES | {"data"},
    link_rel=_LINK_REL,
    set_tag_attribute_values=_FORCED_VALUES,
    attribute_filter=_allow_data_images,
)


def validate_link(url: str) -> bool:
    """True if ``url`` (normalised by markdown-it) may become a link or image source."""
    cleaned = _URL_NOISE_RE.sub("", url).lower()
    match = _SCHEME_RE.match(cleaned)
    if match is None:
        return True  # relative: same site
    if match.group(1) in _URL_SCHEMES:
        return True
    return bool(_SAFE_DATA_IMAGE_RE.match(cleaned))


# HTML that nh3 gives back unchanged, byte for byte: text with no character
# that it escapes, drops or normalises (entities only as it writes them), in
# or between class-only spans that do not nest: plain inline text, and
# Pygments' lines of code. Tests compare ``sanitise`` with nh3 on any text
# and on random markup. (nh3 cost ~2.5 us a call plus ~85 ns a byte.)
_TEXT = "(?:[^<>&\x00\r\xa0\ufeff]++|&(?:amp|lt|gt);)"
_SPAN = f'<span class="[a-z0-9]++(?: [a-z0-9]++)*+">{_TEXT}*+</span>'
_UNCHANGED_RE = re.compile(f"(?:{_TEXT}|{_SPAN})*+")
# Likewise inline markup without attributes, when its tags nest properly.
_INLINE_TAGS = "(?:code|strong|em|del|s)"
_INLINE_RE = re.compile(f"(?:{_TEXT}|</?{_INLINE_TAGS}>)*+")
_INLINE_TAG_RE = re.compile(f"<(/?)({_INLINE_TAGS})>")


def _nests(html: str) -> bool:
    """Whether the inline tags of ``html`` (as ``_INLINE_RE`` allows) nest properly."""
    open_tags: list[str] = []
    for match in _INLINE_TAG_RE.finditer(html):
        if not match.group(1):
            open_tags.append(match.group(2))
        elif not open_tags or open_tags.pop() != match.group(2):
            return False
    return not open_tags


def sanitise(html: str) -> str:
    """Pass renderer output through nh3 with Spool's allow-list."""
    if _UNCHANGED_RE.fullmatch(html) is not None or (
        _INLINE_RE.fullmatch(html) is not None and _nests(html)
    ):
        return html
    cleaner = _DATA_CLEANER if "data:" in html else _CLEANER
    return str(cleaner.clean(html))


def _render_fence(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    info = unescapeAll(token.info) if token.info else ""
    return code_block_html(token.content, info)


def _render_link_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    href = str(token.attrGet("href") or "")
    if _URL_NOISE_RE.sub("", href)[:5].lower() == "data:":
        # validate_link admits data: images; as a link target it is a phishing vector.
        token.attrs.pop("href", None)
    return self.renderToken(tokens, idx, options, env)


_ALIGN_RE = re.compile(r"^text-align:(left|center|right)$")


def _alignment_classes(state: StateCore) -> None:
    """Core rule: turn the table plugin's ``style="text-align:x"`` into a class.

    The page's CSP has no 'unsafe-inline' for style attributes.
    """
    for token in state.tokens:
        if token.type in ("th_open", "td_open") and "style" in token.attrs:
            match = _ALIGN_RE.match(str(token.attrs.pop("style")))
            if match:
                token.attrSet("class", f"align-{match.group(1)}")


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.validateLink = validate_link  # type: ignore[method-assign]
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("link_open", _render_link_open)
    # An escape's text (``\*``) before the core rule ``text_join`` turned it into
    # text: inline HTML rendered straight from a parse (``inline_html``) has them.
    md.add_render_rule("text_special", RendererHTML.text)
    md.core.ruler.at("inline", inline_rule)  # the same, or through an ``InlineMemo``
    md.core.ruler.push("alignment_classes", _alignment_classes)
    return md


MD = _build()

# The same block grammar without inline parsing: enough to find where top-level
# blocks start, at a fraction of the cost of a full parse.
BLOCK_MD = _build()
BLOCK_MD.core.ruler.enableOnly(["normalize", "block"])
# Tests turn this off to compare ``parse_after_block`` with full parses.
REUSE_BLOCK_PARSE = True


# The core rules after "normalize" and "block": run on tokens of a block parse.
_AFTER_BLOCK = MD.core.ruler.getRules("")[2:]
assert [rule.__name__ for rule in MD.core.ruler.getRules("")[:2]] == ["normalize", "block"]
_last_block = threading.local()  # the last ``block_parse``: (src, tokens, env)


def block_parse(src: str) -> list[Token]:
    """``BLOCK_MD.parse(src)``, kept for a following ``parse_after_block(src)``."""
    env: dict[str, Any] = {}
    tokens = BLOCK_MD.parse(src, env)
    _last_block.value = (src, tokens, env)
    return tokens


def parse_after_block(src: str, env: dict[str, Any]) -> list[Token]:
    """``MD.parse(src, env)``, without its block parse when the last ``block_parse``
    in this thread was of ``src`` and found no reference definition (the only
    part of the block parse that depends on ``env``). Those tokens are used up."""
    last = getattr(_last_block, "value", None)
    _last_block.value = None
    if last is None or last[0] != src or last[2].get("references") or not REUSE_BLOCK_PARSE:
        return MD.parse(src, env)
    state = StateCore(src, MD, env, last[1])
    for rule in _AFTER_BLOCK:
        rule(state)
    return state.tokens


def top_level_starts(tokens: Sequence[Token]) -> list[int]:
    """Indices of the tokens that open a top-level block."""
    return [
        i
        for i, t in enumerate(tokens)
        if t.level == 0 and t.nesting in (0, 1) and t.map is not None
    ]


def split_blocks(tokens: list[Token]) -> list[list[Token]]:
    """The token stream cut into one slice per top-level block."""
    starts = top_level_starts(tokens)
    if not starts:
        return []
    ends = [*starts[1:], len(tokens)]
    return [tokens[a:b] for a, b in zip(starts, ends, strict=True)]


_RENDERER = cast(RendererHTML, MD.renderer)


def inline_html(tokens: Sequence[Token], env: EnvType) -> str:
    """Sanitised HTML of one inline token's children.

    Sanitising distributes over balanced fragments, so the HTML of a text's
    clean prefix and of its rest may be sanitised apart (``inline.InlineMemo``).
    """
    # As the core rule text_join leaves them: an escape's text_special token
    # would be left out of an image's alt text.
    return sanitise(_RENDERER.renderInline(joined(list(tokens)), MD.options, env))


# Characters an inline rule acts on (commonmark with strikethrough, raw HTML
# off, no linkify; "]" and "!" too, to be safe): text without any of them
# parses as one text token, whatever else it holds ("-", ":", "#"... are text).
_INLINE_MARKUP_RE = re.compile(r"[\\`*_~\[\]!<&\n]")


def render_inline(content: str, env: dict[str, Any], memo: InlineMemo | None) -> str:
    """Sanitised HTML of the inline text ``content`` (through ``memo`` if given)."""
    if _INLINE_MARKUP_RE.search(content) is None:  # plain text: its HTML is known
        return sanitise(escapeHtml(content))
    if memo is not None:
        return memo.render(MD, content, env, lambda tokens: inline_html(tokens, env))
    tokens: list[Token] = []
    MD.inline.parse(content, MD, env, tokens)
    return inline_html(tokens, env)


def render_block(tokens: Sequence[Token], env: EnvType) -> str:
    """Sanitised HTML of one top-level block's tokens."""
    return sanitise(MD.renderer.render(tokens, MD.options, env))


def parse(text: str, env: dict[str, Any] | None = None) -> list[Token]:
    """Full markdown-it parse; ``env`` collects reference definitions."""
    return MD.parse(text, {} if env is None else env)


def render_markdown(text: str) -> str:
    """Render a whole markdown text to sanitised HTML (also used for stored messages)."""
    env: dict[str, Any] = {}
    tokens = MD.parse(text, env)
    return "".join(render_block(block, env) for block in split_blocks(tokens))
