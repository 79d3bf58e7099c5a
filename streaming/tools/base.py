"""Tools and the registry that runs them.

Contract: ``ToolRegistry.run`` never raises for anything the model did. An
unknown tool, arguments that are not a JSON object, arguments the tool
refuses, a tool that fails or overruns its timeout: each becomes a
``ToolOutcome`` with ``ok=False`` and an error text written for the model,
which goes back to it as the tool's result so it can correct itself. Only
cancellation (Stop) propagates.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streaming.providers.base import ToolSpec


class ToolError(Exception):
    """A refusal or failure the model should read (and may fix)."""


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool: its schema, how to run it, and how a chip names what it does.

    ``describe`` gives the running chip's words ("Calculating 2^10"),
    ``summarize`` the finished chip's ("Calculated: 1024").
    """

    spec: ToolSpec
    run: Callable[[Mapping[str, Any]], Coroutine[Any, Any, str]]
    describe: Callable[[Mapping[str, Any]], str]
    summarize: Callable[[Mapping[str, Any], str], str]
    timeout_s: float = 5.0

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    ok: bool
    content: str  # what the model gets as the tool message
    summary: str  # what the finished chip says
    duration_s: float


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools = {tool.name: tool for tool in tools}

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(tool.spec for tool in self._tools.values())

    def describe(self, name: str, arguments: object) -> str:
        """The running chip's words; plain for calls the registry will refuse."""
        tool = self._tools.get(name)
        if tool is None or not isinstance(arguments, Mapping):
            return f"Calling {name}"
        try:
            return tool.describe(arguments)
        except Exception:  # a chip's words must never break the run
            return f"Calling {name}"

    async def run(self, name: str, arguments: str | Mapping[str, Any]) -> ToolOutcome:
        """Run one call; ``arguments`` as the model sent them (JSON text or parsed)."""
        started = time.monotonic()

        def refused(message: str) -> ToolOutcome:
            return ToolOutcome(False, f"Error: {message}", message, time.monotonic() - started)

        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self._tools)) or "none"
            return refused(f"there is no tool named {name!r} (available: {known})")
        parsed = _parse_arguments(arguments)
        if isinstance(parsed, str):
            return refused(parsed)
        try:
            async with asyncio.timeout(tool.timeout_s):
                content = await tool.run(parsed)
        except ToolError as exc:
            return refused(str(exc))
        except TimeoutError:
            return refused(f"{name} took longer than {tool.timeout_s:g} s and was stopped")
        except Exception as exc:  # a tool's bug is the model's error text, not a failed run
            return refused(f"{name} failed ({type(exc).__name__})")
        elapsed = time.monotonic() - started
        return ToolOutcome(True, content, tool.summarize(parsed, content), elapsed)


def _parse_arguments(arguments: str | Mapping[str, Any]) -> Mapping[str, Any] | str:
    """The arguments as a mapping, or the error text saying why they are not one."""
    if isinstance(arguments, Mapping):
        return arguments
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return "the arguments are not valid JSON; send a JSON object matching the tool's schema"
    if not isinstance(value, dict):
        return "the arguments must be a JSON object matching the tool's schema"
    return value
