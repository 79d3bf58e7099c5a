"""What a run is asked to do: its spec, its budgets, a Continue's starting point.

Plain values, shared by the run (``run.py``), its manager and the app that
builds them (``chatapp/services.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Literal

from streaming.metrics import estimate_tokens
from streaming.providers.base import ChatMessage, ReasoningEffort
from streaming.runs.chips import ChipRecord
from streaming.runs.store import RunMetrics, ToolRecord
from streaming.runs.titles import TitleJob
from streaming.tools.base import ToolRegistry

# Stop saves ``stopped``; a detach (nobody watched) or a process shutdown
# saves ``interrupted``.
CancelReason = Literal["stop", "detach", "shutdown"]


@dataclass(frozen=True, slots=True)
class Resume:
    """Continue: the run starts from a stored partial answer and appends to it.

    ``text`` is the answer as stored; ``metrics`` are its earlier parts',
    summed with this part's at the end (``RunMetrics.then``). ``verbatim``:
    the model server continues the text itself (a prefill), so the
    continuation follows it as written; otherwise ``seam.Seam`` trims what
    the model repeats. ``reasoning``: the thinking stored with it, kept and
    appended to (``reasoning.ReasoningTrack.resume``). ``tool_calls``: the
    calls stored with it, kept, their chips drawn where they were
    (``segments.SegmentedMarkdown.restore``).
    """

    text: str
    metrics: RunMetrics
    verbatim: bool
    reasoning: str = ""
    tool_calls: tuple[ToolRecord, ...] = ()

    @property
    def chips(self) -> list[ChipRecord]:
        return [call.chip for call in self.tool_calls if call.chip is not None]

    @property
    def after_chip(self) -> bool:
        """The stored text ends at its last chip (cut in the round after a
        call): the continuation starts a new segment below it."""
        chips = self.chips
        return bool(chips) and chips[-1].at >= len(self.text.rstrip())

    def earlier_metrics(self) -> RunMetrics:
        """The stored parts' metrics; a crash leftover has no token count: estimated."""
        if self.metrics.output_tokens is not None:
            return self.metrics
        tokens = estimate_tokens(self.text)
        return replace(self.metrics, output_tokens=tokens, output_tokens_estimated=True)


@dataclass(frozen=True, slots=True)
class RunSpec:
    run_id: str
    user_id: int
    model: str
    messages: list[ChatMessage]
    correlation_id: str
    accepted_at: float = field(default_factory=time.monotonic)
    max_tokens: int | None = None
    resume: Resume | None = None
    # The first answer of a conversation also asks for its title (runs/titles.py).
    title: TitleJob | None = None
    # The tools the model is offered (streaming/runs/tool_loop.py); None: none.
    tools: ToolRegistry | None = None
    # Asked of models configured as reasoning models; None sends nothing.
    reasoning_effort: ReasoningEffort | None = None


@dataclass(frozen=True, slots=True)
class Budgets:
    idle_timeout_s: float
    wall_clock_s: float
    max_output_tokens: int
