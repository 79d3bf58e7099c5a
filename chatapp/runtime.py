"""The app's composition: which models exist, which provider serves each, the run manager.

``streaming/`` is an engine that takes its configuration as arguments and
imports no Django; this module reads the settings and builds its parts, once
per process (and again when a test overrides the settings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from chatapp import endpoints
from chatapp.endpoints import Endpoint, ModelEntry, ModelOptions
from streaming.eventlog import EventLog, MemoryEventLog, RedisEventLog
from streaming.providers.base import Provider
from streaming.providers.openai_compat import OpenAICompatProvider, PrefillStyle
from streaming.runs import Budgets, RunManager, RunStore
from streaming.tools import ToolRegistry, builtin_tools

DEMO_ENDPOINT = "demo"
DEMO_LABEL = "Demo (offline)"
DEMO_THINKING_LABEL = "Demo, thinking (offline)"


@dataclass(frozen=True, slots=True)
class ModelGroup:
    """One ``<optgroup>`` of the model picker: the models of one endpoint."""

    label: str
    models: tuple[ModelEntry, ...]


@dataclass(frozen=True, slots=True)
class Catalogue:
    endpoints: Mapping[str, Endpoint]
    models: Mapping[str, ModelEntry]
    groups: tuple[ModelGroup, ...]

    def get(self, model_id: str) -> ModelEntry | None:
        return self.models.get(model_id)


@cache
def catalogue() -> Catalogue:
    """Every model the picker offers, by id, from the settings (the demo model last)."""
    if settings.SPOOL_LLM_ENDPOINTS:
        configured = endpoints.parse(settings.SPOOL_LLM_ENDPOINTS, base_dir=settings.BASE_DIR)
    else:
        configured = endpoints.legacy(
            settings.SPOOL_LLM_BASE_URL,
            settings.SPOOL_LLM_API_KEY,
            settings.SPOOL_LLM_MODELS,
            settings.SPOOL_LLM_TOOL_MODELS,
            settings.SPOOL_LLM_REASONING_MODELS,
        )
    demo = ModelEntry(
        settings.SPOOL_DEMO_MODEL,
        settings.SPOOL_DEMO_MODEL,
        DEMO_LABEL,
        DEMO_ENDPOINT,
        # The demo model streams whatever it is given: tools, images, a prefill.
        ModelOptions(tools=True, vision=True, prefill=True),
    )
    # The same demo model, thinking before every answer: reasoning without a key.
    thinking = ModelEntry(
        settings.SPOOL_DEMO_REASONING_MODEL,
        settings.SPOOL_DEMO_REASONING_MODEL,
        DEMO_THINKING_LABEL,
        DEMO_ENDPOINT,
        ModelOptions(tools=True, vision=True, prefill=True, reasoning=True),
    )
    groups = [ModelGroup(e.label, e.models) for e in configured]
    groups.append(ModelGroup("Offline", (demo, thinking)))
    models = {m.id: m for group in groups for m in group.models}
    return Catalogue({e.name: e for e in configured}, models, tuple(groups))


def default_model() -> str:
    """The picker's preselected model: the setting when it names an offered
    model, else the first model offered."""
    offered = catalogue()
    wanted = settings.SPOOL_DEFAULT_MODEL
    if wanted and offered.get(wanted) is not None:
        return str(wanted)
    return next(iter(offered.models))


def model_entry(model_id: str) -> ModelEntry:
    """The model a message names; ``LookupError`` for one not offered (any more)."""
    entry = catalogue().get(model_id)
    if entry is None:
        raise LookupError(f"unknown model {model_id!r}")
    return entry


def is_reasoning_model(model_id: str) -> bool:
    """A model offered the effort picker (``reasoning`` in its options)."""
    entry = catalogue().get(model_id)
    return entry is not None and entry.options.reasoning


def provider_for(model_id: str) -> Provider:
    """The provider for an offered model; ``LookupError`` for an unknown one."""
    entry = model_entry(model_id)
    if entry.endpoint == DEMO_ENDPOINT:
        from streaming.providers.demo import DemoProvider

        return DemoProvider(
            token_delay=settings.SPOOL_DEMO_TOKEN_DELAY_S,
            always_think=entry.options.reasoning,
        )
    return _openai_provider(model_id)


def tools_for(model_id: str) -> ToolRegistry | None:
    """The tools offered to a model: the built-in ones when its options say
    ``tools`` (``SPOOL_LLM_TOOL_MODELS``, an endpoint's ``tools = true``, the
    demo model), else none."""
    return builtin_tools() if model_entry(model_id).options.tools else None


# One provider per model (its options), built once: its client pools the
# connections to the model server.
_providers: dict[str, OpenAICompatProvider] = {}


def _openai_provider(model_id: str) -> OpenAICompatProvider:
    provider = _providers.get(model_id)
    if provider is None:
        entry = model_entry(model_id)
        endpoint = catalogue().endpoints[entry.endpoint]
        provider = OpenAICompatProvider(
            endpoint.base_url,
            endpoint.api_key(),
            name=endpoint.name,
            include_usage=entry.options.include_usage,
            extra_body=entry.options.extra_body,
            max_tokens_field=entry.options.max_tokens_field,
            # One of PrefillStyle's values: the endpoint parser refuses any other.
            prefill=cast(
                "PrefillStyle | None",
                entry.options.prefill_style if entry.options.prefill else None,
            ),
        )
        _providers[model_id] = provider
    return provider


async def aclose_providers() -> None:
    """Close the model servers' pooled connections (process shutdown, once the
    runs have ended); a provider never built has none."""
    for provider in list(_providers.values()):
        await provider.aclose()


# --- the run manager ---------------------------------------------------------

_manager: RunManager | None = None


def _event_log() -> EventLog:
    if settings.SPOOL_REDIS_URL:
        # A live run's stream outlives its longest possible run, so only a
        # crashed owner's stream ever expires while "live".
        return RedisEventLog(
            settings.SPOOL_REDIS_URL, live_ttl_s=settings.SPOOL_RUN_WALL_CLOCK_S + 300
        )
    return MemoryEventLog()


def get_manager() -> RunManager:
    """The process-wide run manager, built from settings on first use.

    Built lazily inside the server's event loop: Redis connections belong to
    the loop that made them.
    """
    global _manager
    if _manager is None:
        store: RunStore = import_string(settings.SPOOL_RUN_STORE)()
        _manager = RunManager(
            log=_event_log(),
            store=store,
            budgets=Budgets(
                idle_timeout_s=settings.SPOOL_IDLE_TIMEOUT_S,
                wall_clock_s=settings.SPOOL_RUN_WALL_CLOCK_S,
                max_output_tokens=settings.SPOOL_MAX_OUTPUT_TOKENS,
            ),
            detach_grace=settings.SPOOL_DETACH_GRACE_S,
        )
    return _manager


def built_manager() -> RunManager | None:
    """The process's run manager if something has used it yet (shutdown has
    nothing to stop otherwise, and must not build one just to close it)."""
    return _manager


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(("SPOOL_LLM_", "SPOOL_DEMO_")):
        catalogue.cache_clear()
        _providers.clear()
