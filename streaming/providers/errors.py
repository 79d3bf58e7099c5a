"""Map failures talking to an OpenAI-compatible server to ``ProviderError``.

Contract: every function here returns a ``ProviderError`` whose ``message`` is
safe to show a user (no key, no upstream stack trace, no raw upstream text) and
says what to do; the upstream details go to ``detail`` for the logs.
``retryable`` is True only where pressing Retry later can help.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping

import openai

from streaming.providers.base import ProviderError

# How servers word "your prompt is too long" (OpenAI, vLLM, llama.cpp, Ollama,
# OpenRouter, LM Studio, Anthropic/Gemini compat layers): no shared error code.
_CONTEXT_LENGTH = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|too many tokens|prompt is too long"
    r"|exceeds? the (available )?context|input is too long|reduce the length",
    re.IGNORECASE,
)
_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
# OpenAI answers 429 for an empty balance too; waiting will not fix that one.
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
# A retry-after beyond this is treated as "not soon" rather than echoed to the user.
MAX_SHOWN_RETRY_AFTER_S = 3600.0

MSG_AUTH = (
    "The model server rejected Spool's API key. An administrator needs to check SPOOL_LLM_API_KEY."
)
MSG_QUOTA = (
    "The model provider's quota for Spool is used up. "
    "An administrator needs to check the account's billing."
)
MSG_CONTEXT = (
    "This conversation is too long for the model. "
    "Start a new conversation, or shorten your message."
)
MSG_BAD_REQUEST = (
    "The model server refused the request (HTTP {status}). "
    "Try rephrasing; if it keeps happening, an administrator can find details in the logs."
)
MSG_NOT_FOUND = (
    "The model server does not know the model “{model}”. "
    "An administrator needs to check the models configured for this server."
)
MSG_UPSTREAM_STATUS = "The model server is having trouble (HTTP {status}). Try again in a moment."
MSG_UNREACHABLE = (
    "Spool can't reach the model server. Try again in a moment; if it keeps happening, "
    "an administrator needs to check the model server's address."
)
MSG_TIMEOUT = "The model server took too long to answer. Try again."
# Raised by the run (streaming/runs/run.py), which owns SPOOL_IDLE_TIMEOUT_S for every provider.
MSG_IDLE = (
    "The model stopped sending for {seconds:g} s. The partial answer is kept; Retry to try again."
)
MSG_BROKEN = "The connection to the model broke off mid-answer. Try again."
MSG_UPSTREAM_FAILED = "The model server failed while answering. Try again."
MSG_BAD_TOOL_CALL = "The model produced a malformed tool call. Try again."


def from_openai_error(exc: openai.OpenAIError, *, model: str, streaming: bool) -> ProviderError:
    """Classify an SDK exception. ``streaming`` is True once the 200 response began:
    a connection failure then means the stream broke, not that the server is down."""
    if isinstance(exc, openai.APIStatusError):
        return from_status(exc.status_code, exc.response.headers, _error_fields(exc), model=model)
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("timeout", MSG_TIMEOUT, retryable=True, detail=_describe(exc))
    if isinstance(exc, openai.APIConnectionError):
        if streaming:
            return broken_stream(_describe(exc))
        return ProviderError(
            "upstream_down", MSG_UNREACHABLE, retryable=True, detail=_describe(exc)
        )
    if isinstance(exc, openai.APIError):
        # An {"error": …} event inside a 200 stream (vLLM, OpenRouter do this).
        message, code = _error_fields(exc)
        if _is_context_length(message, code):
            return ProviderError("context_length", MSG_CONTEXT, detail=message)
        return ProviderError(
            "stream_broken",
            MSG_UPSTREAM_FAILED,
            retryable=True,
            detail=f"error event ({code}): {message}",
        )
    return ProviderError("internal", MSG_UPSTREAM_FAILED, retryable=True, detail=_describe(exc))


def from_status(
    status: int, headers: Mapping[str, str], fields: tuple[str, str | None], *, model: str
) -> ProviderError:
    """Classify an HTTP error response by status, error code and message."""
    message, code = fields
    detail = f"HTTP {status} ({code}): {message}" if code else f"HTTP {status}: {message}"
    retry_after = parse_retry_after(headers)
    if status in (401, 403):
        return ProviderError("auth", MSG_AUTH, detail=detail)
    if status == 429:
        if code in _QUOTA_CODES:
            return ProviderError("rate_limit", MSG_QUOTA, detail=detail)
        return ProviderError(
            "rate_limit", rate_limit_message(retry_after), True, retry_after, detail
        )
    if status == 404:
        return ProviderError("not_found", MSG_NOT_FOUND.format(model=model), detail=detail)
    if status in (400, 413, 422) and _is_context_length(message, code):
        return ProviderError("context_length", MSG_CONTEXT, detail=detail)
    if status == 408:
        return ProviderError("timeout", MSG_TIMEOUT, retryable=True, detail=detail)
    if status >= 500:
        msg = MSG_UPSTREAM_STATUS.format(status=status)
        return ProviderError("upstream_down", msg, True, retry_after, detail)
    return ProviderError("bad_request", MSG_BAD_REQUEST.format(status=status), detail=detail)


def rate_limit_message(retry_after: float | None) -> str:
    if retry_after is None or retry_after > MAX_SHOWN_RETRY_AFTER_S:
        return "The model is rate-limited. Try again in a little while."
    seconds = max(1, math.ceil(retry_after))
    unit = "second" if seconds == 1 else "seconds"
    return f"The model is rate-limited. Try again in {seconds} {unit}."


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date), or None."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if (ms := lowered.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
        value = lowered.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (ValueError, TypeError, OverflowError):
        return None


def idle_timeout(seconds: float) -> ProviderError:
    return ProviderError(
        "timeout", MSG_IDLE.format(seconds=seconds), retryable=True, detail="idle timeout"
    )


def request_timeout(seconds: float) -> ProviderError:
    detail = f"no response within {seconds:g} s"
    return ProviderError("timeout", MSG_TIMEOUT, retryable=True, detail=detail)


def broken_stream(detail: str) -> ProviderError:
    return ProviderError("stream_broken", MSG_BROKEN, retryable=True, detail=detail)


def bad_tool_call(detail: str) -> ProviderError:
    return ProviderError("stream_broken", MSG_BAD_TOOL_CALL, retryable=True, detail=detail)


def _error_fields(exc: openai.APIError) -> tuple[str, str | None]:
    """(upstream message, upstream error code) from the SDK's parsed error body."""
    body = exc.body
    message = exc.message
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        message = body["message"]
    return message, exc.code


def _is_context_length(message: str, code: str | None) -> bool:
    return code in _CONTEXT_CODES or bool(_CONTEXT_LENGTH.search(message))


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{type(exc).__name__}: {exc}" + (f" ({cause!r})" if cause else "")
