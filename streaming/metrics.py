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
    ended_at: float | None = None

    def metrics(
        self,
        *,
        text: str,
        prompt_tokens: int | None,
        completion_tokens: int | None,
    ) -> RunMetrics:
        def ms(a: float | None, b: float | None) -> float | None:
            return round((b - a) * 1000, 1) if a is not None and b is not None else None

        estimated = completion_tokens is None
        tokens = estimate_tokens(text) if estimated else completion_tokens
        rate = None
        if tokens and self.first_frame_at is not None and self.ended_at is not None:
            span = self.ended_at - self.first_frame_at
            rate = round(tokens / span, 1) if span > 0 else None
        return RunMetrics(
            ttft_ms=ms(self.accepted_at, self.first_frame_at),
            provider_ttft_ms=ms(self.started_at, self.provider_first_at),
            duration_ms=ms(self.accepted_at, self.ended_at),
            prompt_tokens=prompt_tokens,
            output_tokens=tokens,
            output_tokens_estimated=estimated,
            tokens_per_s=rate,
        )
