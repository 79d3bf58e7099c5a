"""The calculator evaluates arithmetic exactly and refuses everything else, fast."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streaming.tools.base import ToolError
from streaming.tools.calculator import calculator, evaluate, format_number


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2^10", "1024"),
        ("2^10 - 24", "1000"),  # a power binds tighter than "-", as in maths
        ("(2^10 - 24) / 8", "125"),
        ("2 ** 3 ** 2", "512"),  # right-associative
        ("7 // 2", "3"),
        ("-7 % 3", "2"),
        ("10 / 4", "2.5"),
        ("0.1 + 0.2", "0.3"),
        ("-(3)", "-3"),
        ("6 \u00d7 7", "42"),
        ("8 \u2212 1", "7"),
        ("1 ÷ 8", "0.125"),
        ("2^-2", "0.25"),
        ("1.5e3 * 2", "3000"),
        ("2**1000 // 2**999", "2"),
    ],
)
def test_arithmetic(expression: str, expected: str) -> None:
    assert format_number(evaluate(expression)) == expected


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("__import__('os')", "function calls are not"),
        ("os.system", "attribute access is not"),
        ("x + 1", "names such as 'x' are not"),
        ("9**9**9", "too large"),
        ("9^9^9", "too large"),
        ("2**1001", "too large"),
        ("(2**600) * (2**600)", "too large"),
        ("1" * 10_000, "longer than 100 digits"),
        ("1e308 * 10", "not a finite number"),
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("(-1) ** 0.5", "not a real number"),
        ("'a' * 3", "found str"),
        ("True + 1", "found a boolean"),
        ("[1, 2]", "found List"),
        ("1 if 2 else 3", "found IfExp"),
        ("1 << 3", "found BinOp"),
        ("lambda: 1", "found Lambda"),
        ("2 +", "is not a valid arithmetic expression"),
        ("", "empty"),
        ("+".join(["1"] * 150), "too long"),
        ("1+" * 300 + "1", "longer than 500 characters"),
    ],
)
def test_refusals_say_why(expression: str, says: str) -> None:
    with pytest.raises(ToolError, match=re.escape(says)):
        evaluate(expression)


def test_huge_inputs_are_refused_before_any_work() -> None:
    started = time.perf_counter()
    for expression in ("9**9**9", "(10**100)**(10**100)", "1" * 10_000, "2**1000**1000"):
        with pytest.raises(ToolError):
            evaluate(expression)
    assert time.perf_counter() - started < 0.1


@given(st.integers(-(10**30), 10**30), st.integers(-(10**30), 10**30))
def test_integer_arithmetic_is_exact(a: int, b: int) -> None:
    assert evaluate(f"({a}) + ({b})") == a + b
    assert evaluate(f"({a}) * ({b})") == a * b
    if b:
        assert evaluate(f"({a}) // ({b})") == a // b


def test_the_tool_names_its_chips() -> None:
    tool = calculator()
    assert tool.name == "calculator"
    assert tool.describe({"expression": "2^10"}) == "Calculating 2^10"
    result = asyncio.run(tool.run({"expression": "2^10"}))
    assert result == "1024"
    assert tool.summarize({"expression": "2^10"}, result) == "Calculated: 1024"
    assert tool.spec.parameters["required"] == ["expression"]


def test_missing_expression_is_an_error_for_the_model() -> None:
    with pytest.raises(ToolError, match="'expression' is required"):
        asyncio.run(calculator().run({}))
