"""No frame shows a markup character that the finished answer does not show.

The tail repair closes what is open and holds back what is undecided, so the
reader never sees a ``*``, ``_``, ``~`` or backtick that the next frames turn
into formatting. Checked on random texts built from emphasis, strong, code,
strikethrough and link pieces, nested and glued together, at every prefix.
"""

from __future__ import annotations

import html
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streaming.markdown import render_markdown
from tests.test_markdown_support import random_cuts, render_every_frame, stream

_TAG_RE = re.compile(r"<[^>]*>")
# A run of one marker character: what a reader sees as "a stray marker".
_MARKER_RUN_RE = re.compile(r"([*_~`])\1*")

_WORDS = st.sampled_from(["a", "word", "x1", "snake_case", "end.", "(b)"])
# Code spans, some showing marker characters as their content.
_CODE = st.sampled_from(["`code`", "`a*b`", "``a`b``", "`__`", "`~~`"])
_LINK = "](http://x.y)"
_SPANS = ["*", "**", "***", "_", "__", "~~", "["]
# Between pieces: mostly a space; glued pieces make intraword and mixed runs;
# line breaks make soft breaks and new paragraphs (frozen blocks).
_GLUE = st.sampled_from([" ", " ", " ", "", ", ", "\n", "\n\n"])


@st.composite
def _joined(draw: st.DrawFn, pieces: st.SearchStrategy[str], max_size: int) -> str:
    parts = draw(st.lists(pieces, min_size=1, max_size=max_size))
    text = parts[0]
    for part in parts[1:]:
        glue = draw(_GLUE)
        if not glue and text.endswith("`") and part.startswith("`"):
            # Glued, two code spans' backtick runs would be one that nothing
            # closes: the final text would leave a code span open, which the
            # repair can only guess at (it shows a code span being typed).
            glue = " "
        text += glue + part
    return text


def _span(marker_and_inner: tuple[str, str]) -> str:
    marker, inner = marker_and_inner
    if marker == "[":
        return f"[{inner}{_LINK}"
    return marker + inner + marker


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    inner = _joined(children, 3).map(lambda text: text.replace("\n\n", " "))
    return st.tuples(st.sampled_from(_SPANS), inner).map(_span)


_PIECES = st.recursive(_WORDS | _CODE, _extend, max_leaves=8)
TEXTS = _joined(_PIECES, 5)


def marker_runs(page: str) -> Counter[str]:
    """How many times each run of one marker character (``**``, ``_``, ...) shows
    in the text of ``page`` (tags stripped, entities decoded). A tag ends a run:
    ``a**<em>**b</em>`` shows ``**`` twice, not ``****``."""
    return Counter(
        match.group()
        for text in _TAG_RE.split(page)
        for match in _MARKER_RUN_RE.finditer(html.unescape(text))
    )


def unexplained_runs(shown: Counter[str], allowed: Counter[str]) -> list[str]:
    """The runs of ``shown`` that no distinct run of ``allowed`` explains.

    A run is explained by a run of the same character at least as long (a code
    span being typed shows the start of its content's run), each run of
    ``allowed`` explaining one run of ``shown``: longest first, greedily, which
    finds a matching whenever one exists.
    """
    missing = []
    for char in "*_~`":
        wanted = sorted((run for run in shown.elements() if run[0] == char), key=len)
        have = sorted((run for run in allowed.elements() if run[0] == char), key=len)
        while wanted:
            run = wanted.pop()
            if not have or len(have[-1]) < len(run):
                missing.append(run)
            else:
                have.pop()
    return missing


def test_marker_runs_are_counted_whole_in_each_text() -> None:
    assert marker_runs("a ** b * c ** `x` ~~") == Counter({"**": 2, "*": 1, "`": 2, "~~": 1})
    assert marker_runs("<p>a**<em>**b</em> &#42;<code>*_</code></p>") == Counter(
        {"**": 2, "*": 2, "_": 1}
    )


def test_a_run_is_explained_by_one_at_least_as_long() -> None:
    assert unexplained_runs(Counter({"_": 1}), Counter({"__": 1})) == []
    assert unexplained_runs(Counter({"_": 2}), Counter({"__": 1})) == ["_"]
    assert unexplained_runs(Counter({"**": 1, "*": 1}), Counter({"*": 1, "***": 1})) == []
    assert unexplained_runs(Counter({"**": 1}), Counter({"*": 2})) == ["**"]
    assert unexplained_runs(Counter({"~~": 1}), Counter({"**": 1})) == ["~~"]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=TEXTS)
@example(text="Combined **bold and *italic*** text")
@example(text="*a **b*** c")
@example(text="_a __b___ c")
@example(text="a `__`")
@example(text="a a a `code`[[`code`](http://x.y)](http://x.y)")
def test_no_frame_shows_a_marker_the_final_render_does_not(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every prefix's page (blocks + tail) shows no marker run beyond the final's.

    The final text is one completion of each of its prefixes; a marker that the
    one-shot render of it shows (a ``*`` glued between words, a backtick in a
    code span) may show while streaming, any other is one the reader sees
    flicker away. Marker runs are compared as multisets, each run whole (``**``
    is not two ``*``): each run a page shows needs its own run of the final
    render, of the same character and at least as long. That is stricter than
    comparing sets of runs (a stray ``*`` next to a legitimate one would pass),
    and still true: a page shows the final render's text cut short, plus the
    repair's closers (formatting, never text) and less the markup held back (text
    that shows later). Two relaxations keep it true. A run may be longer in the
    final render: the content of a code span being typed shows the start of a
    run (``a `_`` of ``a `__```). A tag ends a run: a delimiter that may still
    open is closed while streaming and shows for good only at the end (``_`` in
    ``a**_** b``, shown as ``a**<em>** b</em>``), and its markup must not count
    as joining the runs on its sides.
    """
    render_every_frame(monkeypatch)  # every prefix is rendered, not appended to
    allowed = marker_runs(render_markdown(text))
    run = stream(text, list(range(len(text))))
    for end, page in enumerate(run.shown(), start=1):
        stray = unexplained_runs(marker_runs(page), allowed)
        assert not stray, (text[:end], page, stray)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, data=st.data())
def test_no_frame_shows_a_stray_marker_with_the_render_cadence(
    text: str, data: st.DataObject
) -> None:
    # As the run feeds it: deltas of a few characters, renders on the cadence's
    # frames, plain words appended in between (the page is then not a render
    # of the text so far, so the check is on what was shown, not per prefix).
    allowed = marker_runs(render_markdown(text))
    run = stream(text, random_cuts(data, text, (1, 6)))
    for page in run.shown():
        stray = unexplained_runs(marker_runs(page), allowed)
        assert not stray, (page, stray)
