"""Subjects: who is being assessed. `load_model(spec)` builds one from its spec string."""

from __future__ import annotations

from welfare.errors import SpecError
from welfare.models.base import Message, Model, Request, Response, ToolCall, Usage

__all__ = ["Message", "Model", "Request", "Response", "ToolCall", "Usage", "load_model"]


def load_model(spec: str, **options: object) -> Model:
    """`simulated:<profile>` or `anthropic:<model-id>` → a Model.

    Options go to the backend (e.g. `base_url`, `timeout` for Anthropic; `seed` for simulated).
    """
    backend, _, name = spec.partition(":")
    if not name:
        raise SpecError(f"subject spec {spec!r} is not 'backend:name'")
    if backend == "simulated":
        from welfare.models.simulated import SimulatedModel

        return SimulatedModel(name, **options)  # type: ignore[arg-type]
    if backend == "anthropic":
        from welfare.models.anthropic import AnthropicModel

        return AnthropicModel(name, **options)  # type: ignore[arg-type]
    raise SpecError(f"unknown backend {backend!r} in {spec!r} (known: simulated, anthropic)")
