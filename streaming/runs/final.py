"""How a run's end is told: the ``final`` event's data, an ``error`` event's,
and the metrics of a continued answer's earlier parts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from streaming.metrics import estimate_tokens
from streaming.runs.spec import Resume
from streaming.runs.store import RunError, RunMetrics, RunOutcome


def earlier_metrics(resume: Resume) -> RunMetrics:
    """The stored parts' metrics; a crash leftover has no token count: estimated."""
    if resume.metrics.output_tokens is not None:
        return resume.metrics
    tokens = estimate_tokens(resume.text)
    return replace(resume.metrics, output_tokens=tokens, output_tokens_estimated=True)


def final_data(outcome: RunOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "finish_reason": outcome.finish_reason,
        "error": None if outcome.error is None else error_data(outcome.error),
        "metrics": outcome.metrics.as_dict(),
    }


def error_data(error: RunError) -> dict[str, Any]:
    return {
        "code": error.code,
        "message": error.message,
        "retryable": error.retryable,
        "retry_after": error.retry_after,
    }
