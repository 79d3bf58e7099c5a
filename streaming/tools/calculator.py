"""The calculator tool: arithmetic on numbers, evaluated from Python's AST.

Never ``eval``: the expression is parsed, and only number literals, the four
operations, ``//``, ``%``, powers (``**`` or ``^``, as people write them) and
parentheses are evaluated. Names, attributes, calls, subscripts and every
other construct are refused with a message the model can act on. Sizes are
bounded before any work is done, so ``9**9**9`` or a 10,000-digit literal is
refused at once instead of eating the CPU.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from streaming.providers.base import ToolSpec
from streaming.tools.base import Tool, ToolError

MAX_EXPRESSION_CHARS = 500
MAX_LITERAL_DIGITS = 100
MAX_NODES = 200
# Integer results stay below ~300 digits: plenty for arithmetic, and every
# operation on such numbers takes microseconds.
MAX_RESULT_BITS = 1_000

SPEC = ToolSpec(
    name="calculator",
    description=(
        "Evaluate an arithmetic expression exactly: numbers, + - * / // % and powers "
        "(** or ^), with parentheses. No variables or functions."
    ),
    parameters={
        "type": "object",
        "properties": {
            "expression": {"type": "string", "description": "for example '(2^10 - 24) / 8'"}
        },
        "required": ["expression"],
        "additionalProperties": False,
    },
)

Number = int | float
_ALLOWED = "only numbers, + - * / // % ** ^ and parentheses are allowed"
_DIGIT_RUN = re.compile(rf"\d{{{MAX_LITERAL_DIGITS + 1},}}")
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def evaluate(expression: str) -> Number:
    """The value of ``expression``, or ``ToolError`` saying what is refused and why."""
    # "^" is a power to whoever writes "2^10", with the power's precedence
    # (Python's "^" binds looser than "-": "2^10-24" would be 2**-14).
    original = expression.strip()
    text = original.replace("^", "**")
    # Multiplication, division and minus signs as people type them.
    text = text.replace("\u00d7", "*").replace("\u00f7", "/").replace("\u2212", "-")
    if not text:
        raise ToolError("the expression is empty")
    if _DIGIT_RUN.search(text):
        raise ToolError(f"numbers longer than {MAX_LITERAL_DIGITS} digits are not allowed")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ToolError(f"{original!r} is not a valid arithmetic expression") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolError("the expression is too long")
    value = _eval(tree.body)
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("the result is not a finite number")
    return value


def format_number(value: Number) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".12g")
    return str(value)


def _eval(node: ast.expr) -> Number:
    match node:
        case ast.Constant(value=bool()):
            raise ToolError(f"{_ALLOWED}; found a boolean")
        case ast.Constant(value=int() | float() as value):
            return value
        case ast.Constant():
            raise ToolError(f"{_ALLOWED}; found {type(node.value).__name__} {node.value!r}")
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -_eval(operand)
        case ast.UnaryOp(op=ast.UAdd(), operand=operand):
            return +_eval(operand)
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
            return _binary(op, _eval(left), _eval(right))
        case ast.Name(id=name):
            raise ToolError(f"{_ALLOWED}; names such as {name!r} are not")
        case ast.Attribute():
            raise ToolError(f"{_ALLOWED}; attribute access is not")
        case ast.Call():
            raise ToolError(f"{_ALLOWED}; function calls are not")
        case _:
            raise ToolError(f"{_ALLOWED}; found {type(node).__name__}")


def _binary(op: ast.operator, left: Number, right: Number) -> Number:
    _check_size(op, left, right)
    try:
        result: Number = _BINARY[type(op)](left, right)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except OverflowError:
        raise ToolError("the result is too large") from None
    if isinstance(result, complex):  # a negative number to a fractional power
        raise ToolError("the result is not a real number")
    return result


def _check_size(op: ast.operator, left: Number, right: Number) -> None:
    """Refuse, before computing, an integer result past ``MAX_RESULT_BITS``."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return  # floats overflow to an error, in constant time
    if isinstance(op, ast.Pow):
        if abs(left) <= 1 or right <= 0:
            return
        bits = left.bit_length() - 1 if _is_power_of_two(abs(left)) else left.bit_length()
        if right > MAX_RESULT_BITS or bits * right > MAX_RESULT_BITS:
            raise ToolError("the result is too large (more than ~300 digits)")
    elif isinstance(op, ast.Mult) and left.bit_length() + right.bit_length() > MAX_RESULT_BITS:
        raise ToolError("the result is too large (more than ~300 digits)")


def _is_power_of_two(value: int) -> bool:
    return value & (value - 1) == 0


def _expression(arguments: Mapping[str, Any]) -> str:
    expression = arguments.get("expression")
    if not isinstance(expression, str):
        raise ToolError("'expression' is required and must be a string such as '2^10'")
    return expression


def calculator() -> Tool:
    async def run(arguments: Mapping[str, Any]) -> str:
        return format_number(evaluate(_expression(arguments)))

    return Tool(
        spec=SPEC,
        run=run,
        describe=lambda arguments: f"Calculating {_expression(arguments)}",
        summarize=lambda arguments, result: f"Calculated: {result}",
        timeout_s=1.0,
    )
