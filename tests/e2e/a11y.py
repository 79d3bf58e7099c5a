"""Accessibility tools in the browser: axe-core and a virtual screen reader.

Both come from npm (``make a11y-tools`` installs them into ``.npm-tools/``,
pinned by its package-lock) and are injected into the page under test. Spool's
CSP allows only its own scripts, so contexts that use them are made with
``bypass_csp=True`` -- in these tests only (``a11y_context`` in conftest).

The virtual screen reader (@guidepup/virtual-screen-reader) is a spec model:
it watches the DOM and logs what a reader would say for each change of a live
region (``"polite: …"``, ``"assertive: …"``), honouring roles, ``aria-live``,
``aria-atomic`` and ``aria-relevant``. It ignores ``aria-busy`` (a loud worst
case, like JAWS with Chrome). It is started on every page of the context as
soon as the page's DOM is parsed, so the phrases of a page are logged from
its first update.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.support.daphne import ROOT

TOOLS = ROOT / ".npm-tools"
AXE_SCRIPT = TOOLS / "node_modules" / "axe-core" / "axe.min.js"
READER_SCRIPT = TOOLS / "dist" / "virtual-screen-reader.js"
# What "0 violations" covers: WCAG 2.0/2.1/2.2 A and AA, and axe's best practices.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21aa", "wcag22aa", "best-practice")
ARTIFACTS = ROOT / "test-artifacts"

_START_READER = """
(() => {
  const start = () => {
    window.__readerReady = SpoolVSR.virtual.start({ container: document.body });
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start, { once: true });
  } else {
    start();
  }
})();
"""


def _tool(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: `make a11y-tools` installs it")
    return path


def install_reader(context: BrowserContext) -> None:
    """Run the virtual screen reader on every page of ``context``."""
    context.add_init_script(path=_tool(READER_SCRIPT))
    context.add_init_script(_START_READER)


@dataclass(frozen=True)
class Phrase:
    """One live-region phrase of the virtual screen reader."""

    live: str  # "polite" or "assertive"
    text: str


def spoken(page: Page) -> list[Phrase]:
    """What the reader said for live regions on this page, in order.

    A region emptied (a status cleared before the next answer) is logged as a
    bare ``"polite: "``: a reader has nothing to say for it, so it is no
    phrase here. Phrases for focus moves are not live-region phrases and are
    left out.
    """
    log = page.evaluate(
        """async () => {
          if (!window.__readerReady) return null;
          await window.__readerReady;
          return await SpoolVSR.virtual.spokenPhraseLog();
        }"""
    )
    assert log is not None, "the virtual screen reader did not start on this page"
    phrases = []
    for entry in log:
        live, sep, text = str(entry).partition(": ")
        if sep and live in ("polite", "assertive") and text.strip():
            phrases.append(Phrase(live, " ".join(text.split())))
    return phrases


def axe_violations(page: Page, tags: tuple[str, ...] = AXE_TAGS) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (injected on first use)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=_tool(AXE_SCRIPT))
    result: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
          const r = await axe.run(document, { runOnly: { type: "tag", values: tags } });
          return r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({ target: n.target.join(" "), summary: n.failureSummary })),
          }));
        }""",
        list(tags),
    )
    return result


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        lines.extend(f"    {n['target']}: {n['summary']}" for n in v["nodes"][:5])
    return "\n".join(lines)


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot under test-artifacts/ (gitignored) to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"a11y-{name}.png"
    page.screenshot(path=path)
    return path
