"""streaming/runs/pump.py: an answer's usage, summed over its requests, is a
count only when every request reported its own."""

from __future__ import annotations

import pytest

from streaming.providers.base import Usage
from streaming.runs.pump import UsageSum


def summed(*rounds: tuple[Usage, ...]) -> UsageSum:
    """One request per round, each reporting the usages given (none: lost)."""
    usage = UsageSum()
    for reported in rounds:
        usage.request()
        for u in reported:
            usage.add(u)
    return usage


def test_every_request_counted_is_the_sum() -> None:
    usage = summed((Usage(11, 7),), (Usage(20, 5, 2),))
    assert usage.total == Usage(31, 12, 2)
    assert usage.so_far == usage.total


@pytest.mark.parametrize(
    "rounds",
    [
        ((),),  # no usage at all
        ((Usage(11, 7),), ()),  # the last round's was lost (or a Stop came first)
        ((), (Usage(11, 7),)),  # the first round's was lost
        ((), (Usage(11, 7), Usage(0, 1))),  # ... and the next sent two chunks
    ],
    ids=["none", "last_lost", "first_lost", "first_lost_two_chunks"],
)
def test_a_request_without_usage_leaves_the_total_unknown(
    rounds: tuple[tuple[Usage, ...], ...],
) -> None:
    usage = summed(*rounds)
    assert usage.total is None
    # What the server said is still what the JSON stream's usage events carry.
    assert (usage.so_far is None) == all(not r for r in rounds)


def test_no_request_is_no_count() -> None:
    assert UsageSum().total is None
