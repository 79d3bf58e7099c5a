"""Built-in tools a model may call: safe, bounded, each with a schema and a timeout."""

from streaming.tools.base import Tool, ToolOutcome, ToolRegistry
from streaming.tools.calculator import calculator
from streaming.tools.clock import clock


def builtin_tools() -> ToolRegistry:
    """The registry offered to tool-capable models."""
    return ToolRegistry([calculator(), clock()])


__all__ = ["Tool", "ToolOutcome", "ToolRegistry", "builtin_tools", "calculator", "clock"]
