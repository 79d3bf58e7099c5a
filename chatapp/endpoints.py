"""Which model servers Spool talks to, and each model's options, from configuration.

``SPOOL_LLM_ENDPOINTS`` holds the configuration as JSON, or names a JSON or
TOML file holding it::

    [[endpoints]]
    name = "ollama"
    base_url = "http://127.0.0.1:11434/v1"

    [[endpoints.models]]
    name = "qwen3:8b"
    tools = true
    context_window = 32768

    [[endpoints]]
    name = "openai"
    base_url = "https://api.openai.com/v1"
    api_key_env = "OPENAI_API_KEY"
    models = ["gpt-4o-mini", { name = "o4-mini", max_output_tokens = 8192 }]

A key is never in the configuration, only the name of the environment
variable that holds it (``api_key_env``). Without ``SPOOL_LLM_ENDPOINTS``, the
single-endpoint settings (``SPOOL_LLM_BASE_URL``, ``SPOOL_LLM_API_KEY``,
``SPOOL_LLM_MODELS``) describe one endpoint named "default". Every mistake is
an ``ImproperlyConfigured`` that names the field, so a deploy fails at start
(``chatapp/checks.py``) rather than at a user's first send.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from django.core.exceptions import ImproperlyConfigured

from streaming.providers.base import ReasoningEffort

LEGACY_ENDPOINT = "default"
_ENDPOINT_KEYS = {"name", "label", "base_url", "api_key_env", "models", "defaults"}
_MODEL_KEYS = {
    "name",
    "id",
    "label",
    "include_usage",
    "tools",
    "vision",
    "reasoning",
    "prefill",
    "prefill_style",
    "max_output_tokens",
    "context_window",
    "extra_body",
    "max_tokens_field",
}
_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens")
# How a server with ``prefill`` is told to continue the final assistant message
# (streaming/providers/openai_compat.py, PrefillStyle).
_PREFILL_STYLES = ("plain", "vllm", "prefix")
_BOOL_OPTIONS = ("include_usage", "tools", "vision", "reasoning", "prefill")
# What a reasoning model's conversation may ask for (sent as ``reasoning_effort``).
REASONING_EFFORTS = ("low", "medium", "high")
_INT_OPTIONS = ("max_output_tokens", "context_window")


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """What a model server accepts and what the model can do.

    ``include_usage`` off for servers that reject ``stream_options``;
    ``prefill`` for servers that continue a trailing assistant message (Continue),
    told so as ``prefill_style`` says: "plain" (llama.cpp, Ollama), "vllm"
    (``continue_final_message``), "prefix" (DeepSeek, Mistral);
    ``extra_body`` is merged into every request (``top_k``, ``chat_template_kwargs``…);
    ``max_tokens_field`` names the output cap's field (OpenAI's reasoning models
    refuse ``max_tokens`` and want ``max_completion_tokens``);
    ``reasoning``: a reasoning model, whose conversations offer an effort
    picker (low / medium / high) sent as ``reasoning_effort``. Any model's
    reasoning is shown whether or not it is marked so.
    """

    include_usage: bool = True
    tools: bool = False
    vision: bool = False
    reasoning: bool = False
    prefill: bool = False
    prefill_style: str = "plain"
    max_output_tokens: int | None = None
    context_window: int | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    max_tokens_field: str = "max_tokens"


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A model as the picker offers it: ``id`` is what messages store and the
    form posts, ``name`` what the server is asked for."""

    id: str
    name: str
    label: str
    endpoint: str
    options: ModelOptions


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    label: str
    base_url: str
    api_key_env: str
    models: tuple[ModelEntry, ...]
    # The single-endpoint settings hold the key itself (SPOOL_LLM_API_KEY).
    settings_key: str = field(default="", repr=False)

    def api_key(self, environ: Mapping[str, str] = os.environ) -> str:
        """The key, read when a provider is built; "" for keyless local servers."""
        if not self.api_key_env:
            return self.settings_key
        key = environ.get(self.api_key_env, "")
        if not key:
            raise ImproperlyConfigured(
                f"Endpoint {self.name!r}: the environment variable {self.api_key_env} "
                "(api_key_env) is not set."
            )
        return key


def requested_effort(entry: ModelEntry, effort: str) -> ReasoningEffort | None:
    """What a conversation's effort (``Conversation.reasoning_effort``) sends to
    ``entry``: itself for a model configured as a reasoning model, else nothing."""
    if not entry.options.reasoning or effort not in REASONING_EFFORTS:
        return None
    return cast(ReasoningEffort, effort)


def parse(value: str, *, base_dir: Path | None = None) -> tuple[Endpoint, ...]:
    """``SPOOL_LLM_ENDPOINTS``: inline JSON, or the path of a .json or .toml file."""
    text = value.strip()
    if text.startswith(("[", "{")):
        return from_data(_loads_json(text, "SPOOL_LLM_ENDPOINTS"))
    path = Path(text)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImproperlyConfigured(f"SPOOL_LLM_ENDPOINTS: cannot read {path}: {exc}") from None
    if path.suffix == ".toml":
        try:
            return from_data(tomllib.loads(raw))
        except tomllib.TOMLDecodeError as exc:
            raise ImproperlyConfigured(f"SPOOL_LLM_ENDPOINTS: {path}: {exc}") from None
    return from_data(_loads_json(raw, str(path)))


def legacy(
    base_url: str,
    api_key: str,
    models: Sequence[str],
    tool_models: Sequence[str],
    reasoning_models: Sequence[str] = (),
) -> tuple[Endpoint, ...]:
    """The endpoint the single-endpoint settings describe (none without a URL).

    ``tool_models`` and ``reasoning_models`` name which of ``models`` are offered
    tools and the effort picker ("*": all of them)."""
    if not base_url or not models:
        return ()

    def named(m: str, names: Sequence[str]) -> bool:
        return "*" in names or m in names

    entries = tuple(
        ModelEntry(
            m,
            m,
            m,
            LEGACY_ENDPOINT,
            ModelOptions(tools=named(m, tool_models), reasoning=named(m, reasoning_models)),
        )
        for m in models
    )
    return (Endpoint(LEGACY_ENDPOINT, "Models", base_url, "", entries, settings_key=api_key),)


def from_data(data: Any) -> tuple[Endpoint, ...]:
    items = data.get("endpoints") if isinstance(data, Mapping) else data
    if not isinstance(items, list) or not items:
        raise ImproperlyConfigured(
            "SPOOL_LLM_ENDPOINTS must hold a non-empty list of endpoints "
            "(a JSON list, or an 'endpoints' list / [[endpoints]] tables)."
        )
    endpoints = tuple(_endpoint(item, i) for i, item in enumerate(items))
    _check_unique([e.name for e in endpoints], "endpoint name", "rename one")
    _check_unique(
        [m.id for e in endpoints for m in e.models], "model id", "give one of them an 'id'"
    )
    return endpoints


def _endpoint(item: Any, index: int) -> Endpoint:
    where = f"endpoint #{index + 1}"
    if not isinstance(item, Mapping):
        raise ImproperlyConfigured(f"SPOOL_LLM_ENDPOINTS: {where} must be a table/object.")
    if "api_key" in item:
        raise ImproperlyConfigured(
            f"SPOOL_LLM_ENDPOINTS: {where} has 'api_key': keys never go in the configuration. "
            "Put the key in an environment variable and name it with 'api_key_env'."
        )
    _check_keys(item, _ENDPOINT_KEYS, where)
    name = _text(item, "name", where, required=True)
    where = f"endpoint {name!r}"
    base_url = _text(item, "base_url", where, required=True)
    if not base_url.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"SPOOL_LLM_ENDPOINTS: {where}: base_url must be an http(s) URL."
        )
    defaults = item.get("defaults", {})
    if not isinstance(defaults, Mapping):
        raise ImproperlyConfigured(f"SPOOL_LLM_ENDPOINTS: {where}: 'defaults' must be a table.")
    models = item.get("models")
    if not isinstance(models, list) or not models:
        raise ImproperlyConfigured(
            f"SPOOL_LLM_ENDPOINTS: {where}: 'models' must be a non-empty list."
        )
    entries = tuple(_model(m, name, defaults, where) for m in models)
    return Endpoint(
        name=name,
        label=_text(item, "label", where) or name,
        base_url=base_url.rstrip("/"),
        api_key_env=_text(item, "api_key_env", where),
        models=entries,
    )


def _model(item: Any, endpoint: str, defaults: Mapping[str, Any], where: str) -> ModelEntry:
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, Mapping):
        raise ImproperlyConfigured(
            f"SPOOL_LLM_ENDPOINTS: {where}: a model must be a name or a table."
        )
    merged = {**defaults, **item}
    _check_keys(merged, _MODEL_KEYS, where)
    name = _text(merged, "name", where, required=True)
    where = f"{where}, model {name!r}"
    options: dict[str, Any] = {}
    for key in _BOOL_OPTIONS:
        if key in merged:
            if not isinstance(merged[key], bool):
                raise ImproperlyConfigured(
                    f"SPOOL_LLM_ENDPOINTS: {where}: '{key}' must be true or false."
                )
            options[key] = merged[key]
    for key in _INT_OPTIONS:
        if key in merged:
            value = merged[key]
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ImproperlyConfigured(
                    f"SPOOL_LLM_ENDPOINTS: {where}: '{key}' must be a positive whole number."
                )
            options[key] = value
    if "extra_body" in merged:
        if not isinstance(merged["extra_body"], Mapping):
            raise ImproperlyConfigured(
                f"SPOOL_LLM_ENDPOINTS: {where}: 'extra_body' must be a table."
            )
        options["extra_body"] = dict(merged["extra_body"])
    if "prefill_style" in merged:
        if merged["prefill_style"] not in _PREFILL_STYLES:
            raise ImproperlyConfigured(
                f"SPOOL_LLM_ENDPOINTS: {where}: 'prefill_style' must be one of "
                f"{', '.join(_PREFILL_STYLES)}."
            )
        options["prefill_style"] = merged["prefill_style"]
    if "max_tokens_field" in merged:
        if merged["max_tokens_field"] not in _TOKEN_FIELDS:
            raise ImproperlyConfigured(
                f"SPOOL_LLM_ENDPOINTS: {where}: 'max_tokens_field' must be one of "
                f"{', '.join(_TOKEN_FIELDS)}."
            )
        options["max_tokens_field"] = merged["max_tokens_field"]
    model_id = _text(merged, "id", where) or name
    label = _text(merged, "label", where) or name
    return ModelEntry(model_id, name, label, endpoint, ModelOptions(**options))


def _text(item: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = item.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ImproperlyConfigured(
            f"SPOOL_LLM_ENDPOINTS: {where}: '{key}' must be a non-empty string."
        )
    return value.strip()


def _check_keys(item: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ImproperlyConfigured(
            f"SPOOL_LLM_ENDPOINTS: {where}: unknown field(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(allowed))})."
        )


def _check_unique(names: list[str], what: str, fix: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ImproperlyConfigured(
                f"SPOOL_LLM_ENDPOINTS: two entries share the {what} {name!r}: {fix}."
            )
        seen.add(name)


def _loads_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{where} is not valid JSON: {exc}") from None
