"""Subjects: who is being assessed. `load_model(spec)` builds one from its spec string."""

from __future__ import annotations

from welfare.models.base import Message, Model, Request, Response, ToolCall, Usage
from welfare.models.registry import PROVIDERS, load_model, register_provider

__all__ = [
    "PROVIDERS", "Message", "Model", "Request", "Response", "ToolCall", "Usage", "load_model",
    "register_provider",
]
