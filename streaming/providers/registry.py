"""Which provider serves which model, from settings. Keys never leave the server."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, cast

from django.conf import settings

from streaming.providers.base import Provider

if TYPE_CHECKING:
    from streaming.providers.openai_compat import OpenAICompatProvider, PrefillStyle


@dataclass(frozen=True, slots=True)
class ModelChoice:
    name: str
    label: str
    is_demo: bool


def available_models() -> list[ModelChoice]:
    models = [ModelChoice(m, m, False) for m in settings.SPOOL_LLM_MODELS]
    models.append(ModelChoice(settings.SPOOL_DEMO_MODEL, "Demo (offline)", True))
    return models


def is_known_model(name: str) -> bool:
    return any(m.name == name for m in available_models())


@cache
def _openai_provider(base_url: str, api_key: str) -> OpenAICompatProvider:
    from streaming.providers.openai_compat import OpenAICompatProvider

    return OpenAICompatProvider(
        base_url,
        api_key or "not-needed",
        idle_timeout=settings.SPOOL_IDLE_TIMEOUT_S,
        # One of PrefillStyle's values: the settings refuse any other.
        prefill=cast("PrefillStyle | None", settings.SPOOL_LLM_PREFILL or None),
    )


def provider_for(model: str) -> Provider:
    """The provider for a known model; raises LookupError for an unknown one."""
    if model == settings.SPOOL_DEMO_MODEL:
        from streaming.providers.demo import DemoProvider

        return DemoProvider(token_delay=settings.SPOOL_DEMO_TOKEN_DELAY_S)
    if model in settings.SPOOL_LLM_MODELS and settings.SPOOL_LLM_BASE_URL:
        return _openai_provider(settings.SPOOL_LLM_BASE_URL, settings.SPOOL_LLM_API_KEY)
    raise LookupError(f"unknown model {model!r}")


def takes_prefill(model: str) -> bool:
    """Whether ``model`` continues a final assistant message (Continue's prefill):
    the demo model always, a served model when SPOOL_LLM_PREFILL names how."""
    if model == settings.SPOOL_DEMO_MODEL:
        return True
    return bool(settings.SPOOL_LLM_PREFILL) and model in settings.SPOOL_LLM_MODELS


async def aclose_providers() -> None:
    """Close the model server's pooled connections (process shutdown, once the
    runs have ended); a provider never built has none."""
    if _openai_provider.cache_info().currsize:
        await _openai_provider(settings.SPOOL_LLM_BASE_URL, settings.SPOOL_LLM_API_KEY).aclose()
