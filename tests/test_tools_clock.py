"""The clock tells the time in a named zone and refuses anything else."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from streaming.tools.base import ToolError
from streaming.tools.clock import clock

INSTANT = dt.datetime(2026, 7, 14, 10, 30, 5, tzinfo=dt.UTC)
tool = clock(now=lambda: INSTANT)


def test_time_in_a_zone() -> None:
    result = asyncio.run(tool.run({"timezone": "Europe/Paris"}))
    assert result == "Tuesday 14 July 2026, 12:30:05 CEST (UTC+0200, Europe/Paris)"
    assert tool.summarize({"timezone": "Europe/Paris"}, result) == (
        "Time in Europe/Paris: Tuesday 14 July 2026, 12:30:05 CEST"
    )
    assert tool.describe({"timezone": "Europe/Paris"}) == "Checking the time in Europe/Paris"


def test_utc_by_default() -> None:
    assert asyncio.run(tool.run({})) == "Tuesday 14 July 2026, 10:30:05 UTC (UTC+0000, UTC)"


def test_the_real_clock_is_the_default() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    result = asyncio.run(clock().run({"timezone": "UTC"}))
    shown = dt.datetime.strptime(result.split(" UTC")[0], "%A %d %B %Y, %H:%M:%S")
    assert abs(shown.replace(tzinfo=dt.UTC) - before) < dt.timedelta(seconds=5)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "/etc/passwd", "../../etc/passwd", "x" * 100, 42])
def test_unknown_zones_are_refused(zone: object) -> None:
    with pytest.raises(ToolError, match=r"time zone|must be a string"):
        asyncio.run(tool.run({"timezone": zone}))
