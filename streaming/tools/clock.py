"""The clock tool: the current date and time in an IANA time zone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streaming.providers.base import ToolSpec
from streaming.tools.base import Tool, ToolError

SPEC = ToolSpec(
    name="clock",
    description="The current date and time in a time zone (IANA name such as Europe/Paris).",
    parameters={
        "type": "object",
        "properties": {
            "timezone": {
                "type": "string",
                "description": "IANA time zone name, for example 'America/New_York'; default UTC",
            }
        },
        "additionalProperties": False,
    },
)


def _zone(arguments: Mapping[str, Any]) -> str:
    zone = arguments.get("timezone") or "UTC"
    if not isinstance(zone, str):
        raise ToolError("'timezone' must be a string such as 'Europe/Paris'")
    return zone


def clock(now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> Tool:
    """``now`` (aware, UTC) is injectable so tests can pin the instant."""

    async def run(arguments: Mapping[str, Any]) -> str:
        name = _zone(arguments)
        # zoneinfo reads files named by the key: refuse paths before it sees them.
        if name.startswith("/") or ".." in name or len(name) > 64:
            raise ToolError(f"unknown time zone {name!r}; use an IANA name such as 'Asia/Tokyo'")
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ToolError(
                f"unknown time zone {name!r}; use an IANA name such as 'Asia/Tokyo'"
            ) from None
        local = now().astimezone(zone)
        return f"{local:%A %d %B %Y, %H:%M:%S} {local.tzname()} (UTC{local:%z}, {name})"

    return Tool(
        spec=SPEC,
        run=run,
        describe=lambda arguments: f"Checking the time in {_zone(arguments)}",
        summarize=lambda arguments, result: f"Time in {_zone(arguments)}: {result.split(' (')[0]}",
        timeout_s=1.0,
    )
