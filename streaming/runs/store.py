"""How a run reaches the database without knowing the chat models.

``streaming/`` calls these methods; ``chatapp/run_store.py`` implements them
with the ORM, on a thread of its own. ``started`` and ``finished`` return once
written; ``checkpoint`` must return at once (a slow database never holds up
the run's frames), so a store may write it later, coalesced with others, as
long as a checkpoint never lands after ``finished``. The manager calls
``aclose`` once, at process shutdown, after every run has finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from streaming.events import ErrorData, FinalData
from streaming.runs import chips
from streaming.runs.chips import ChipRecord
from streaming.status import FinalStatus


@dataclass(frozen=True, slots=True)
class RunMetrics:
    ttft_ms: float | None = None
    provider_ttft_ms: float | None = None
    duration_ms: float | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    output_tokens_estimated: bool = False
    tokens_per_s: float | None = None
    # Send to the first *answer* token shown (``ttft_ms`` counts any output,
    # reasoning included); the reasoning's duration and tokens.
    answer_ttft_ms: float | None = None
    reasoning_ms: float | None = None
    reasoning_tokens: int | None = None
    reasoning_tokens_estimated: bool = False

    def then(self, later: RunMetrics) -> RunMetrics:
        """One answer's metrics when ``later`` continued it (Continue).

        Times to first token are the first part's (or the first part that
        has one, e.g. after a crash); durations and token counts add up (the
        prompt's only when both parts have one, else it is unknown; a part
        without output tokens has them estimated first,
        ``Resume.earlier_metrics``); the rate is the tokens of both parts
        over their generation time.
        """
        tokens = _add(self.output_tokens, later.output_tokens)
        return RunMetrics(
            ttft_ms=self.ttft_ms if self.ttft_ms is not None else later.ttft_ms,
            provider_ttft_ms=(
                self.provider_ttft_ms
                if self.provider_ttft_ms is not None
                else later.provider_ttft_ms
            ),
            duration_ms=_add(self.duration_ms, later.duration_ms),
            # A part whose usage never came (a Stop) makes the sum unknown:
            # the other part's count alone is not the answer's.
            prompt_tokens=_both(self.prompt_tokens, later.prompt_tokens),
            output_tokens=tokens,
            output_tokens_estimated=self.output_tokens_estimated or later.output_tokens_estimated,
            tokens_per_s=_rate(self, later, tokens),
            answer_ttft_ms=(
                self.answer_ttft_ms if self.answer_ttft_ms is not None else later.answer_ttft_ms
            ),
            reasoning_ms=_add(self.reasoning_ms, later.reasoning_ms),
            reasoning_tokens=_add(self.reasoning_tokens, later.reasoning_tokens),
            reasoning_tokens_estimated=(
                self.reasoning_tokens_estimated or later.reasoning_tokens_estimated
            ),
        )

    def as_dict(self) -> dict[str, float | int | bool | None]:
        return {
            "ttft_ms": self.ttft_ms,
            "provider_ttft_ms": self.provider_ttft_ms,
            "duration_ms": self.duration_ms,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "output_tokens_estimated": self.output_tokens_estimated,
            "tokens_per_s": self.tokens_per_s,
            "answer_ttft_ms": self.answer_ttft_ms,
            "reasoning_ms": self.reasoning_ms,
            "reasoning_tokens": self.reasoning_tokens,
            "reasoning_tokens_estimated": self.reasoning_tokens_estimated,
        }


def _add[N: (int, float)](a: N | None, b: N | None) -> N | None:
    if a is None:
        return b
    return a if b is None else a + b


def _both(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _rate(first: RunMetrics, later: RunMetrics, tokens: int | None) -> float | None:
    """Tokens per second over both parts' generation time (tokens / rate each)."""
    spans = [
        m.output_tokens / m.tokens_per_s
        for m in (first, later)
        if m.output_tokens and m.tokens_per_s
    ]
    if not tokens or len(spans) != 2 or not sum(spans):
        return later.tokens_per_s if later.tokens_per_s is not None else first.tokens_per_s
    return round(tokens / sum(spans), 1)


@dataclass(frozen=True, slots=True)
class RunError:
    """Why a run failed, as the provider said it (``ProviderError``).

    ``retryable``: pressing Retry may help. ``retry_after``: seconds the model
    server asked to wait before a retry (counted from when the run failed), or None.
    """

    code: str
    message: str
    retryable: bool = False
    retry_after: float | None = None

    def as_data(self) -> ErrorData:
        """The ``error`` event's payload (and the ``final`` event's ``error``)."""
        return {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
        }


# The stored error of a call the run ended before it finished.
STOPPED_CALL = "Stopped before it finished."


@dataclass(frozen=True, slots=True)
class ToolRecord:
    """One tool call of an answer, as stored: what the model asked, what it got back.

    ``arguments``: the parsed object, or the text sent when it was not one.
    ``result``: what went back to the model as the tool message (for a
    refused or failed call, the error text). ``error``: empty when the tool
    answered, else why not (shown on the chip). ``duration_ms``: None for a
    call stopped before it ended (or still running, in a checkpoint).
    ``round``: 1 for the model's first turn. ``chip``: the chip the page
    showed and where (None in rows stored before chips were kept).
    """

    id: str
    name: str
    arguments: dict[str, Any] | str
    result: str
    error: str
    duration_ms: float | None
    round: int
    chip: ChipRecord | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "name": self.name,
            "arguments": self.arguments,
            "result": self.result,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "round": self.round,
        }
        if self.chip is not None:
            data["chip"] = self.chip.as_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolRecord:
        """A call as ``as_dict`` stored it (``Message.tool_calls``)."""
        return cls(
            str(data.get("id", "")),
            str(data.get("name", "")),
            data.get("arguments", {}),
            str(data.get("result", "")),
            str(data.get("error", "")),
            data.get("duration_ms"),
            int(data.get("round", 1)),
            ChipRecord.from_dict(data.get("chip")),
        )

    def interrupted(self) -> ToolRecord:
        """The call as a run that died left it: one still running was stopped
        (its chip says so; it never spins on a page again)."""
        if self.chip is None or self.chip.state != chips.RUNNING:
            return self
        chip = replace(self.chip, state=chips.STOPPED, text=chips.stopped_text(self.name))
        return replace(self, error=STOPPED_CALL, duration_ms=None, chip=chip)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """The final state of a run. ``title``: the conversation's title the
    model proposed (``RunSpec.title``), saved unless its owner has named it."""

    status: FinalStatus
    content: str
    html: str
    finish_reason: str = ""
    error: RunError | None = None
    metrics: RunMetrics = field(default_factory=RunMetrics)
    tool_calls: tuple[ToolRecord, ...] = ()
    title: str | None = None
    # The model's thinking, kept apart from the answer (never sent back to it).
    reasoning: str = ""
    reasoning_html: str = ""

    def as_data(self) -> FinalData:
        """The ``final`` event's payload."""
        return {
            "status": self.status,
            "finish_reason": self.finish_reason,
            "error": None if self.error is None else self.error.as_data(),
            "metrics": self.metrics.as_dict(),
        }


class RunStore(Protocol):
    async def started(self, run_id: str) -> None:
        """The run owns the message now: status ``streaming``."""

    async def checkpoint(
        self,
        run_id: str,
        *,
        content: str,
        reasoning: str = "",
        tool_calls: tuple[ToolRecord, ...] = (),
    ) -> None:
        """Save the partial content (and reasoning, and the tool calls made so
        far with their chips) so a crash loses at most one interval.

        Returns without waiting for the write; never raises a database error
        (a failed write is the store's to log and retry)."""

    async def finished(self, run_id: str, outcome: RunOutcome) -> bool:
        """Save the final state; called exactly once per run, even on cancel.

        No checkpoint of the run recorded before this call may be written after it.
        Returns whether the outcome's title was saved (False without one, or
        when the conversation was named meanwhile: the owner's name stays)."""

    async def aclose(self) -> None:
        """Write what is still pending and release the store's resources."""
