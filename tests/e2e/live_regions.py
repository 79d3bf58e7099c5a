"""What the page's live regions would make a screen reader say, recorded in the browser.

A MutationObserver, installed before any page script runs, notes every text
that lands inside a live region (``role=log|status|alert`` or ``aria-live`` other
than ``off``), one entry per region per mutation batch, with the time it
landed. It is the cross-check of the virtual screen reader: the two must agree
on how many announcements there were.

The nearest region wins, as in screen readers: ``aria-live="off"`` (the
transcript) silences what lands inside it, but an inner element with a live
role of its own would still speak -- which is why a test asserts that no
announcement comes from inside the transcript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

_RECORDER = r"""
(() => {
  if (window.__liveLog) return;
  const log = [];
  window.__liveLog = log;
  const LIVE_ROLES = { log: "polite", status: "polite", alert: "assertive" };
  function politeness(el) {
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const live = node.getAttribute("aria-live");
      if (live) return { region: node, live: live };
      const role = node.getAttribute("role");
      if (role && LIVE_ROLES[role]) return { region: node, live: LIVE_ROLES[role] };
    }
    return null;
  }
  function regionName(el) {
    if (el.id) return "#" + el.id;
    return el.tagName.toLowerCase() + "[" + (el.getAttribute("role") || "") + "]";
  }
  const observer = new MutationObserver((records) => {
    const batch = new Map();
    for (const record of records) {
      const target = record.type === "characterData" ? record.target.parentElement : record.target;
      if (!target) continue;
      const found = politeness(target);
      if (!found || found.live === "off") continue;
      const texts = [];
      if (record.type === "characterData") texts.push(record.target.data);
      for (const node of record.addedNodes) {
        if (node.nodeType === 3) texts.push(node.data);
        else if (node.nodeType === 1 && !node.hidden) texts.push(node.textContent);
      }
      const text = texts.join(" ").replace(/\s+/g, " ").trim();
      if (!text) continue;
      const key = regionName(found.region);
      const before = batch.get(key);
      const joined = before ? before.text + " " + text : text;
      batch.set(key, { region: key, live: found.live, text: joined });
    }
    const t = performance.now();
    for (const entry of batch.values()) log.push({ ...entry, t: t });
  });
  // The document node itself, not its root element: the root is created
  // after an init script runs, and can be replaced (document.write).
  observer.observe(document, { childList: true, subtree: true, characterData: true });
})();
"""


class _Context(Protocol):
    def add_init_script(self, script: str) -> Any: ...


class _Page(Protocol):
    def evaluate(self, expression: str) -> Any: ...


@dataclass(frozen=True)
class Announcement:
    region: str
    live: str
    text: str
    t_ms: float


def install(context: _Context) -> None:
    """Record live-region text on every page of ``context`` from its first paint."""
    context.add_init_script(_RECORDER)


def announcements(page: _Page, region: str | None = None) -> list[Announcement]:
    """Everything recorded on the page so far (since its last navigation)."""
    raw = page.evaluate("() => window.__liveLog || []")
    found = [Announcement(e["region"], e["live"], e["text"], float(e["t"])) for e in raw]
    return [a for a in found if region is None or a.region == region]
