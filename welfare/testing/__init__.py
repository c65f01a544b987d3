"""Test helpers that ship with the package: a loopback Anthropic Messages API server."""

from welfare.testing.fake_api import (
    FAULT_KINDS,
    Counters,
    FakeAnthropicServer,
    FakeApiConfig,
    build_message,
    count_tokens,
    echo_responder,
    last_user_text,
    request_hash,
    text,
    tool_use,
)

__all__ = [
    "FAULT_KINDS",
    "Counters",
    "FakeAnthropicServer",
    "FakeApiConfig",
    "build_message",
    "count_tokens",
    "echo_responder",
    "last_user_text",
    "request_hash",
    "text",
    "tool_use",
]
