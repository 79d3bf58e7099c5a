"""One-shot rendering: safety (XSS corpus), link policy, tables, code-block markup."""

from __future__ import annotations

from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from streaming.markdown import render_markdown
from streaming.markdown.inline import InlineMemo
from streaming.markdown.render import (
    _CLEANER,
    _DATA_CLEANER,
    _UNCHANGED_RE,
    MD,
    render_inline,
    sanitise,
    validate_link,
)
from tests.test_markdown_support import check_html, stream

XSS_PAYLOADS = [
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](jav&#x61;script:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](  javascript:alert(1)  )",
    "[x](<javascript:alert(1)>)",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](data:image/png;base64,iVBORw0KGgo=)",
    "[x](file:///etc/passwd)",
    '[x](https://ok.org "title" onclick="alert(1)")',
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[x][r]\n\n[r]: <vbscript:alert(1)>",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2Zz48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+PC9zdmc+)",
    "![x](data:text/html,<script>alert(1)</script>)",
    '![x" onerror="alert(1)](https://ok.org/a.png)',
    '![x](https://ok.org/a.png"onerror="alert(1))',
    "<javascript:alert(1)>",
    "<vbscript:alert(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    '<div style="position:fixed">x</div>',
    "<!-- <script>alert(1)</script> -->",
    "<style>body{display:none}</style>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "*<script>*alert(1)",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    '```python" onmouseover="alert(1)\nx = 1\n```',
    "```<script>alert(1)</script>\nx\n```",
    "```js&#x22;&#x3E;&#x3C;script&#x3E;\nx\n```",
    '~~~ " onclick=alert(1) x\ny\n~~~',
    "| a |\n| - |\n| <script>alert(1)</script> |",
    "| a |\n|:-:|\n| [x](javascript:alert(1)) |",
    "> [x](javascript:alert(1))",
    "- ![x](javascript:alert(1))",
    '[x](https://ok.org/" onmouseover="alert(1))',
    "[<img src=x onerror=alert(1)>](https://ok.org)",
    "**[x](javascript:alert(1))**",
    "[x](\\javascript:alert(1))",
]


def test_xss_corpus_is_large_enough() -> None:
    assert len(XSS_PAYLOADS) >= 40


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_executable_vector_in_one_shot_render(payload: str) -> None:
    assert check_html(render_markdown(payload)).errors == []


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_executable_vector_in_any_streamed_frame(payload: str) -> None:
    run = stream(payload, list(range(len(payload))))
    for page in [*run.shown(), run.result]:
        assert check_html(page).errors == [], page
    assert run.result == render_markdown(payload)


def test_raw_html_is_shown_as_text() -> None:
    assert render_markdown("<b>hi</b>") == "<p>&lt;b&gt;hi&lt;/b&gt;</p>\n"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.org", True),
        ("http://example.org", True),
        ("mailto:a@b.org", True),
        ("/relative/path", True),
        ("#anchor", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("java%09script:x", True),  # percent-encoded: not a scheme, a relative path
        ("vbscript:x", False),
        ("file:///etc/passwd", False),
        ("data:text/html,x", False),
        ("data:image/svg+xml;base64,AAAA", False),
        ("data:image/png;base64,iVBORw0KGgo=", True),
    ],
)
def test_validate_link(url: str, ok: bool) -> None:
    assert validate_link(url) is ok


def test_links_get_rel_noopener_noreferrer_nofollow() -> None:
    html = render_markdown("[a](https://example.org)")
    assert html == (
        '<p><a href="https://example.org" rel="noopener noreferrer nofollow">a</a></p>\n'
    )


def test_data_image_allowed_only_as_image_source() -> None:
    uri = "data:image/png;base64,iVBORw0KGgo="
    assert f'<img src="{uri}" alt="x">' in render_markdown(f"![x]({uri})")
    assert "href" not in render_markdown(f"[x]({uri})")


def test_table_alignment_becomes_classes_without_style() -> None:
    html = render_markdown("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n")
    assert '<th class="align-left">a</th>' in html
    assert '<td class="align-center">2</td>' in html
    assert '<td class="align-right">3</td>' in html
    assert "style" not in html


def test_fenced_code_block_markup_contract() -> None:
    html = render_markdown("```python\nprint('hi')\n```\n")
    assert html.startswith(
        '<div class="code-block"><div class="code-head"><span class="code-lang">python</span>'
        '<button class="copy-code" aria-label="Copy python code" type="button">Copy</button>'
        '</div><pre><code class="language-python"><span class="nb">print</span>'
    )
    assert html.endswith("</code></pre></div>\n")


@pytest.mark.parametrize("fence", ["```\n", "```nosuchlanguage\n", "```text\n"])
def test_unknown_or_missing_language_is_plain_and_escaped(fence: str) -> None:
    html = render_markdown(f"{fence}a < b && <i>\n```\n")
    assert '<span class="code-lang">text</span>' in html
    assert '<button class="copy-code" aria-label="Copy code" type="button">' in html
    assert "<pre><code>a &lt; b &amp;&amp; &lt;i&gt;\n</code></pre>" in html


def test_code_keeps_leading_and_trailing_blank_lines() -> None:
    html = render_markdown("```python\n\nx = 1\n\n```\n")
    assert '<code class="language-python">\n<span class="n">x</span>' in html
    assert "</span>\n\n</code>" in html


def test_fence_inside_a_list_gets_the_same_chrome() -> None:
    html = render_markdown("- item\n\n  ```bash\n  ls\n  ```\n")
    assert '<li>\n<p>item</p>\n<div class="code-block">' in html


def _nh3(html: str) -> str:
    """What nh3 itself makes of ``html`` (``sanitise`` may skip it)."""
    return str((_DATA_CLEANER if "data:" in html else _CLEANER).clean(html))


@settings(max_examples=1000)
@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_sanitise_gives_what_nh3_gives_for_any_text(text: str) -> None:
    # Text that nh3 would give back unchanged skips it (a fast path): both agree.
    assert sanitise(text) == _nh3(text)


_PIECES = st.sampled_from(
    [
        "a", " ", "\n", "<", ">", "&", "\x00", "\r", "\xa0", "\ufeff", '"', "'", "é",
        "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&copy;", "&amp", "&#x41;",
        '<span class="k">', '<span class="s2 w">', '<span class="K">', '<span class="">',
        "<span class='k'>", '<span class="k" id="x">', "<span>", '<span  class="k">',
        "</span>", "</span >", "<b>", "</b>", "<code>", "</code>", "<script>", "</script>",
        "<em>", "</em>", "<strong>", "</strong>", "<del>", "</del>", "<s>", "</s>", "<p>", "</p>",
        "<EM>", "<em >", "<strong/>", "<br />",
        "<!-- c -->", "<br>", "<br/>", '<a href="javascript:x">', "</a>", "data:",
    ]
)  # fmt: skip


@settings(max_examples=3000)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_sanitise_gives_what_nh3_gives_for_markup(html: str) -> None:
    assert sanitise(html) == _nh3(html)


def test_sanitise_skips_nh3_for_pygments_lines() -> None:
    html = '<span class="n">x</span> <span class="o">=</span> <span class="s2">"a&lt;b"</span>\n'
    assert _UNCHANGED_RE.fullmatch(html) is not None
    assert sanitise(html) == _nh3(html) == html


def test_sanitise_skips_nh3_for_nested_inline_markup() -> None:
    html = "a <strong>b <em>c</em> <code>d &amp; e</code></strong> f"
    assert sanitise(html) == _nh3(html) == html
    misnested = "<strong><em>x</strong></em>"
    assert sanitise(misnested) == _nh3(misnested) != misnested


_INLINE_PIECES = st.sampled_from(
    [
        "a", "b c", " ", "  ", "\t", "-", ":", "#", "=", "+", "$", "%", "@", "^", "{", "}", "|",
        '"', "'", ">", ".", ",", "(", ")", "/", "?", ";", "\u00e9", "\u00a0", "1.",
        "&", "&amp;", "&copy;", "&#65;", "&#x41;", "*", "**", "_", "`", "~~", "[", "]", "!",
        "[a](b)", "![i](j)", "<http://x.y>", "<a@b.c>", "\\*", "\\", "\n", "  \n",
    ]
)  # fmt: skip


@settings(max_examples=1000)
@given(st.lists(_INLINE_PIECES, max_size=10).map("".join))
def test_plain_inline_text_renders_as_markdown_it_renders_it(content: str) -> None:
    # render_inline's shortcut for text without inline markup characters.
    tokens: list[Token] = []
    MD.inline.parse(content, MD, {}, tokens)
    expected = sanitise(cast(RendererHTML, MD.renderer).renderInline(tokens, MD.options, {}))
    assert render_inline(content, {}, None) == expected
    assert render_inline(content, {}, InlineMemo()) == expected
