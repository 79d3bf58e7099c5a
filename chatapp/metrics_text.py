"""How an answer's token figures read: a server's count as a count, Spool's
estimate as an estimate.

Without usage from the model server (a cut stream, a Stop, a server that
sends none, a tool round whose usage never came) the output tokens are
estimated from the text (``streaming.metrics.estimate_tokens``) and the row
says so (``Message.output_tokens_estimated``; ``reasoning_tokens_estimated``
for the thinking). The rate is those tokens over time, so it is an estimate
with them. The footer (``_message_footer.html``) and admin show these words.
"""

from __future__ import annotations

from django.template.defaultfilters import floatformat


def tokens_text(count: int | None, *, estimated: bool, unit: str = "tokens") -> str:
    """ "412 tokens", or "~412 tokens (estimated)"; "" without a figure."""
    if not count:
        return ""
    return f"~{count} {unit} (estimated)" if estimated else f"{count} {unit}"


def rate_text(per_s: float | None, *, estimated: bool) -> str:
    """ "38 tokens/s", or "~38 tokens/s (estimated)" when the tokens were."""
    if not per_s:
        return ""
    shown = f"{floatformat(per_s, 0)} tokens/s"
    return f"~{shown} (estimated)" if estimated else shown
