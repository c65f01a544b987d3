"""Test helpers that ship with the package: loopback Anthropic Messages API and OpenAI-compatible
chat-completions servers, and a relay that serves a simulated subject through either."""

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
from welfare.testing.openai_server import FakeOpenAIServer
from welfare.testing.relay import SimulatedRelay

__all__ = [
    "FAULT_KINDS",
    "Counters",
    "FakeAnthropicServer",
    "FakeApiConfig",
    "FakeOpenAIServer",
    "SimulatedRelay",
    "build_message",
    "count_tokens",
    "echo_responder",
    "last_user_text",
    "request_hash",
    "text",
    "tool_use",
]
