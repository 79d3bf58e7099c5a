"""chatapp/metrics_text.py: a count reads as a count, an estimate as one."""

from __future__ import annotations

from chatapp.metrics_text import rate_text, tokens_text


def test_a_count_and_an_estimate_read_apart() -> None:
    assert tokens_text(412, estimated=False) == "412 tokens"
    assert tokens_text(412, estimated=True) == "~412 tokens (estimated)"
    assert tokens_text(30, estimated=True, unit="reasoning tokens") == (
        "~30 reasoning tokens (estimated)"
    )
    assert tokens_text(None, estimated=True) == tokens_text(0, estimated=False) == ""


def test_a_rate_from_an_estimate_is_one() -> None:
    assert rate_text(38.4, estimated=False) == "38 tokens/s"
    assert rate_text(38.5, estimated=True) == "~39 tokens/s (estimated)"
    assert rate_text(None, estimated=False) == ""
