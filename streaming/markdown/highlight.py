"""Code blocks: Pygments highlighting inside Spool's code-block chrome.

Contract (the page's static JS relies on it): a fenced block renders as::

    <div class="code-block"><div class="code-head"><span class="code-lang">python</span>
    <button type="button" class="copy-code" aria-label="Copy python code">Copy</button></div>
    <pre><code class="language-python">…pygments spans…</code></pre></div>

(one line in the output). An unknown or missing language is labelled ``text``
and its code is escaped, not highlighted. Highlighting uses CSS classes only:
the page's CSP forbids inline styles. ``css.pygments_css()`` builds the matching
stylesheet (``python -m streaming.markdown.css > static/css/pygments.css``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from html import escape

from markdown_it.common.utils import escapeHtml
from pygments import format as format_tokens
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from streaming.markdown.lexing import TokenPair

# Info strings are model output: only a short token of these characters is
# used as a class name and label; anything else is treated as no language.
_LANG_RE = re.compile(r"^[a-z0-9][a-z0-9_+#.-]{0,31}$")
# Pygments aliases for "no highlighting": shown plain, labelled "text".
_PLAIN_LANGS = frozenset({"text", "txt", "plain", "plaintext", "none"})
PLAIN_LABEL = "text"

# nowrap: markdown-it would otherwise nest Pygments' own <div><pre> inside ours.
_FORMATTER = HtmlFormatter(nowrap=True)


def normalise_lang(info: str) -> str:
    """The language token of a fence info string, lower-cased, or "" if unusable."""
    word = info.strip().split(maxsplit=1)[0].lower() if info.strip() else ""
    return word if _LANG_RE.match(word) else ""


@lru_cache(maxsize=256)
def lexer_for(lang: str) -> Lexer | None:
    """A reusable Pygments lexer for ``lang``, or None when it is unknown or plain.

    Cached: Pygments looks aliases up through its plugin tables, which is slow
    next to highlighting a short block. ``stripnl=False`` keeps leading and
    trailing blank lines, which are part of the code.
    """
    if not lang or lang in _PLAIN_LANGS:
        return None
    try:
        lexer: Lexer = get_lexer_by_name(lang, stripnl=False)
    except ClassNotFound:
        return None
    return lexer


def language_name(lang: str) -> str:
    """The human name of a language for speech ("Python"), or "" if unknown."""
    lexer = lexer_for(lang)
    return str(lexer.name) if lexer is not None else ""


def code_block_html(code: str, info: str, tokens: Iterable[TokenPair] | None = None) -> str:
    """The full code-block markup for fenced ``code`` with fence ``info`` string.

    ``tokens``: ``lexer_for(…).get_tokens(code)`` if the caller has them already.
    """
    lang = normalise_lang(info)
    lexer = lexer_for(lang)
    if lexer is None:
        label = PLAIN_LABEL
        body = escapeHtml(code)
        code_open = "<code>"
        button_label = "Copy code"
    else:
        label = lang
        # What pygments.highlight does, with the tokens given if they are.
        body = format_tokens(lexer.get_tokens(code) if tokens is None else tokens, _FORMATTER)
        if not code.endswith("\n"):
            # Pygments' ensurenl adds a newline the source lacks (only an empty
            # fence reaches here without one); keep the code byte-identical.
            body = body.removesuffix("\n")
        code_open = f'<code class="language-{escape(lang)}">'
        button_label = f"Copy {escape(lang)} code"
    return (
        '<div class="code-block"><div class="code-head">'
        f'<span class="code-lang">{escape(label)}</span>'
        f'<button type="button" class="copy-code" aria-label="{button_label}">Copy</button>'
        f"</div><pre>{code_open}{body}</code></pre></div>\n"
    )
