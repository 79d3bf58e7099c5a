"""Timing and token accounting for one run (all clocks are ``time.monotonic``)."""

from __future__ import annotations

from dataclasses import dataclass

from streaming.runs.store import RunMetrics

# Without provider usage, ~4 characters per token is the usual English estimate.
CHARS_PER_TOKEN = 4.0


def estimate_tokens(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN)) if text else 0


@dataclass
class RunClock:
    accepted_at: float  # when the user's send was accepted (server TTFT starts here)
    started_at: float | None = None  # provider request sent
    provider_first_at: float | None = None  # first model output: text, reasoning or a tool call
    first_frame_at: float | None = None  # first answer text handed to subscribers
    # first reasoning handed to subscribers (streaming/runs/reasoning.py)
    reasoning_frame_at: float | None = None
    ended_at: float | None = None

    def metrics(
        self,
        *,
        text: str,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        reasoning: str = "",
        reasoning_tokens: int | None = None,
        reasoning_ms: float | None = None,
    ) -> RunMetrics:
        """The run's figures. Time to first token counts any output shown,
        reasoning included, and ``answer_ttft_ms`` the answer's first; the
        rate is every output token (servers count the reasoning's in
        ``completion_tokens``) over the time from the first output shown to
        the end, so a long think neither inflates nor hides it."""

        def ms(a: float | None, b: float | None) -> float | None:
            return round((b - a) * 1000, 1) if a is not None and b is not None else None

        estimated = completion_tokens is None
        thought_estimated = bool(reasoning) and reasoning_tokens is None
        thought = estimate_tokens(reasoning) if thought_estimated else reasoning_tokens
        if estimated:
            tokens: int | None = estimate_tokens(text) + (thought or 0)
        else:
            tokens = completion_tokens
        shown = [t for t in (self.first_frame_at, self.reasoning_frame_at) if t is not None]
        first_shown = min(shown) if shown else None
        rate = None
        if tokens and first_shown is not None and self.ended_at is not None:
            span = self.ended_at - first_shown
            rate = round(tokens / span, 1) if span > 0 else None
        return RunMetrics(
            ttft_ms=ms(self.accepted_at, first_shown),
            provider_ttft_ms=ms(self.started_at, self.provider_first_at),
            duration_ms=ms(self.accepted_at, self.ended_at),
            prompt_tokens=prompt_tokens,
            output_tokens=tokens,
            output_tokens_estimated=estimated,
            tokens_per_s=rate,
            answer_ttft_ms=ms(self.accepted_at, self.first_frame_at),
            reasoning_ms=reasoning_ms,
            reasoning_tokens=thought if reasoning else None,
            reasoning_tokens_estimated=thought_estimated,
        )
