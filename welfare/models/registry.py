"""Model providers by name: a spec `provider:model` → a Model, with lazy imports.

Each provider is a `module:Class` string, imported only when a subject uses it (the way Inspect AI
registers model APIs), so `welfare` never imports an SDK it does not need. A provider lists the
options it accepts; options from the subject table or the runner reach only providers that take
them. Third-party packages can add providers through the `welfare.providers` entry-point group.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from welfare.errors import SpecError
from welfare.models.base import Model

__all__ = ["PROVIDERS", "Provider", "load_model", "provider_for", "register_provider"]


@dataclass(frozen=True)
class Provider:
    """A registered provider: where its Model class lives and which options it accepts."""

    name: str
    target: str  # "package.module:ClassName", imported on first use
    options: tuple[str, ...] = ()
    doc: str = ""

    def load_class(self) -> type[Model]:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


PROVIDERS: dict[str, Provider] = {}


def register_provider(name: str, target: str, options: tuple[str, ...] = (), doc: str = "") -> None:
    """Register (or replace) a provider: `register_provider("mine", "pkg.mod:MyModel")`."""
    PROVIDERS[name] = Provider(name, target, tuple(options), doc)


register_provider(
    "simulated", "welfare.simulated:SimulatedModel", ("seed",),
    "offline simulated subjects with known truths",
)
register_provider(
    "anthropic", "welfare.models.anthropic:AnthropicModel",
    ("api_key", "base_url", "timeout", "transport", "max_connections", "effort", "thinking",
     "prompt_cache"),
    "Claude models through the official anthropic SDK",
)
register_provider(
    "openai", "welfare.models.openai_compat:OpenAIModel",
    ("api_key", "base_url", "timeout", "transport", "max_connections", "max_tokens_field"),
    "any OpenAI-compatible chat-completions server (vLLM, Ollama, llama.cpp, OpenAI) "
    "through the official openai SDK",
)


def _entry_point_providers() -> None:
    """Providers that installed packages declare under the `welfare.providers` group."""
    for ep in entry_points(group="welfare.providers"):
        if ep.name not in PROVIDERS:
            register_provider(ep.name, ep.value, ("api_key", "base_url", "timeout"))


def provider_for(spec: str) -> Provider:
    """The provider a spec names; one clear error for a malformed spec or unknown provider."""
    name, sep, model = spec.partition(":")
    if not sep or not model:
        raise SpecError(f"subject spec {spec!r} is not 'provider:model'")
    if name not in PROVIDERS:
        _entry_point_providers()
    if name not in PROVIDERS:
        known = ", ".join(sorted(PROVIDERS))
        raise SpecError(f"unknown provider {name!r} in {spec!r} (known: {known})")
    return PROVIDERS[name]


def load_model(spec: str, *, api_key_env: str | None = None, strict: bool = True,
               **options: Any) -> Model:
    """Build the Model a spec names.

    `options` are provider options (e.g. `base_url`, `timeout`); with `strict=False` options the
    provider does not take are dropped (runner-wide defaults), otherwise they are an error.
    `api_key_env` names the environment variable that holds the key.
    """
    provider = provider_for(spec)
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(provider.options))
    if unknown and strict:
        raise SpecError(f"{spec!r}: provider {provider.name!r} takes no option "
                        f"{', '.join(unknown)} (it takes: {', '.join(provider.options) or 'none'})")
    options = {k: v for k, v in options.items() if k in provider.options}
    if api_key_env:
        if "api_key" not in provider.options:
            raise SpecError(f"{spec!r}: provider {provider.name!r} takes no API key")
        key = os.environ.get(api_key_env)
        if not key:
            raise SpecError(f"{spec!r}: environment variable {api_key_env} is not set")
        options["api_key"] = key
    cls = provider.load_class()
    return cls(spec.partition(":")[2], **options)
