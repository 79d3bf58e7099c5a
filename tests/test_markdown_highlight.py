"""Code-block highlighting helpers and the generated stylesheet."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaming.markdown.css import pygments_css
from streaming.markdown.highlight import code_block_html, normalise_lang

CSS_FILE = Path(__file__).parent.parent / "static" / "css" / "pygments.css"


@pytest.mark.parametrize(
    ("info", "lang"),
    [
        ("python", "python"),
        ("  Python  extra words", "python"),
        ("c++", "c++"),
        ('python" onclick="x', ""),
        ("<script>", ""),
        ("", ""),
    ],
)
def test_normalise_lang(info: str, lang: str) -> None:
    assert normalise_lang(info) == lang


def test_empty_fence_keeps_empty_code() -> None:
    assert '<code class="language-python"></code>' in code_block_html("", "python")


def test_stylesheet_is_up_to_date() -> None:
    assert CSS_FILE.read_text() == pygments_css()


def test_stylesheet_has_light_and_dark_themes_scoped_to_code_blocks() -> None:
    css = pygments_css()
    light, dark = css.split("@media (prefers-color-scheme: dark)", 1)
    assert ".code-block pre .k {" in light
    assert ".code-block pre .k {" in dark
    rules = [line for line in css.splitlines() if "{" in line and not line.startswith("@")]
    assert all(".code-block" in rule or ".align-" in rule for rule in rules)
