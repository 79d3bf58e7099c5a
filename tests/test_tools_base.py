"""The registry turns every mistake of the model into a result it can read."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from streaming.providers.base import ToolSpec
from streaming.tools import builtin_tools
from streaming.tools.base import Tool, ToolError, ToolRegistry


def _tool(name: str, run: Any, timeout_s: float = 1.0) -> Tool:
    return Tool(
        spec=ToolSpec(name=name, description=name, parameters={"type": "object"}),
        run=run,
        describe=lambda arguments: f"Running {name}",
        summarize=lambda arguments, result: f"{name}: {result}",
        timeout_s=timeout_s,
    )


async def _echo(arguments: Mapping[str, Any]) -> str:
    return str(arguments.get("x"))


async def _slow(arguments: Mapping[str, Any]) -> str:
    await asyncio.sleep(10)
    return "never"


async def _refuses(arguments: Mapping[str, Any]) -> str:
    raise ToolError("x must be positive")


async def _buggy(arguments: Mapping[str, Any]) -> str:
    raise KeyError("oops")


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry(
        [
            _tool("echo", _echo),
            _tool("slow", _slow, timeout_s=0.05),
            _tool("refuses", _refuses),
            _tool("buggy", _buggy),
        ]
    )


def test_a_call_runs_with_json_or_parsed_arguments(registry: ToolRegistry) -> None:
    for arguments in ('{"x": 3}', {"x": 3}):
        outcome = asyncio.run(registry.run("echo", arguments))
        assert (outcome.ok, outcome.content, outcome.summary) == (True, "3", "echo: 3")
        assert outcome.duration_s >= 0


@pytest.mark.parametrize(
    ("name", "arguments", "says"),
    [
        ("nope", "{}", "there is no tool named 'nope' (available: buggy, echo, refuses, slow)"),
        ("echo", '{"x": ', "the arguments are not valid JSON"),
        ("echo", "[1, 2]", "the arguments must be a JSON object"),
        ("refuses", "{}", "x must be positive"),
        ("buggy", "{}", "buggy failed (KeyError)"),
        ("slow", "{}", "slow took longer than 0.05 s and was stopped"),
    ],
)
def test_mistakes_become_error_results(
    registry: ToolRegistry, name: str, arguments: str, says: str
) -> None:
    outcome = asyncio.run(registry.run(name, arguments))
    assert not outcome.ok
    assert says in outcome.content
    assert outcome.content.startswith("Error: ")
    assert says in outcome.summary


def test_a_timeout_really_stops_the_tool(registry: ToolRegistry) -> None:
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await registry.run("slow", "{}")
        return loop.time() - started

    assert asyncio.run(scenario()) < 1.0


def test_cancellation_propagates(registry: ToolRegistry) -> None:
    async def scenario() -> None:
        task = asyncio.create_task(registry.run("slow", "{}"))
        await asyncio.sleep(0.01)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())


def test_describe_never_breaks(registry: ToolRegistry) -> None:
    assert registry.describe("echo", {"x": 1}) == "Running echo"
    assert registry.describe("nope", {}) == "Calling nope"
    assert registry.describe("echo", "not a mapping") == "Calling echo"
    tools = builtin_tools()
    assert tools.describe("calculator", {}) == "Calling calculator"  # no expression yet


def test_builtin_tools_offer_their_schemas() -> None:
    tools = builtin_tools()
    assert [spec.name for spec in tools.specs] == ["calculator", "clock"]
    assert "calculator" in tools
    assert "shell" not in tools
    for spec in tools.specs:
        assert spec.parameters["type"] == "object"
        assert spec.description
