"""The contract every real provider keeps, checked on both: Anthropic and OpenAI-compatible.

Each test runs against the provider's own loopback server, through the real SDK client, on
both transports: text and usage come back, the end tool's call round-trips, metadata is never
sent, and every failure is a ModelError of the same kind whichever provider raised it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from welfare.errors import ModelError, RetryableModelError
from welfare.models.anthropic import AnthropicModel
from welfare.models.base import Model, Request, Response
from welfare.models.openai_compat import OpenAIModel
from welfare.testing import FakeAnthropicServer, tool_use
from welfare.testing.openai_server import FakeOpenAIServer

KEY = "test-key-0123456789SECRET"

END_TOOL = {
    "name": "end_conversation",
    "description": "End the conversation.",
    "input_schema": {"type": "object", "properties": {"reason": {"type": "string"}}},
}


@dataclass(frozen=True)
class Provider:
    """How to start one provider's loopback server and point its model at it."""

    name: str
    server: type[FakeAnthropicServer]
    model: Callable[..., Any]
    model_id: str

    def user_text(self, body: dict[str, Any]) -> str:
        """The last user message's text in this provider's request body."""
        for message in reversed(body["messages"]):
            if message["role"] == "user":
                content = message["content"]
                if isinstance(content, str):
                    return content
                return "".join(b.get("text", "") for b in content if b.get("type") == "text")
        return ""


PROVIDERS = {
    "anthropic": Provider("anthropic", FakeAnthropicServer, AnthropicModel, "claude-test"),
    "openai": Provider("openai", FakeOpenAIServer, OpenAIModel, "qwen-test"),
}


@pytest.fixture(params=[(p, t) for p in PROVIDERS for t in ("sdk", "direct")],
                ids=lambda pt: f"{pt[0]}-{pt[1]}")
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[Provider, str]]:
    name, transport = request.param
    yield PROVIDERS[name], transport


def run(provider: tuple[Provider, str], server: FakeAnthropicServer,
        use: Callable[[Any], Awaitable[Any]], **kwargs: Any) -> Any:
    spec, transport = provider

    async def main() -> Any:
        options = {"api_key": KEY, "base_url": server.base_url, "transport": transport, **kwargs}
        async with spec.model(spec.model_id, **options) as model:
            return await use(model)

    return asyncio.run(main())


def ask(prompt: str, **kwargs: Any) -> Request:
    return Request(messages=({"role": "user", "content": prompt},), **kwargs)


def failure(provider: tuple[Provider, str], server: FakeAnthropicServer, request: Request,
            **kwargs: Any) -> ModelError:
    with pytest.raises(ModelError) as caught:
        run(provider, server, lambda m: m.generate(request), **kwargs)
    return caught.value


def test_text_usage_and_spec(provider: tuple[Provider, str]) -> None:
    spec = provider[0]
    with spec.server(lambda body: f"you said {spec.user_text(body)}", api_key=KEY,
                     latency=0.02) as server:
        response = run(provider, server, lambda m: m.generate(ask("hello there")))
        model = spec.model(spec.model_id, api_key=KEY, base_url=server.base_url)
        assert model.spec == f"{spec.name}:{spec.model_id}"
        assert isinstance(model, Model) and model.simulated is False
        assert KEY not in repr(model)
    assert response.text == "you said hello there"
    assert response.stop_reason == "end_turn"
    assert response.model == spec.model_id
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert 0.02 <= response.latency_s < 5


def test_end_tool_round_trip(provider: tuple[Provider, str]) -> None:
    """The model calls the end tool; its result goes back; the follow-up answer is plain text."""
    spec = provider[0]
    seen: list[dict[str, Any]] = []

    def responder(body: dict[str, Any]) -> Any:
        seen.append(body)
        if len(seen) == 1:
            return tool_use("end_conversation", {"reason": "persistent abuse"}, text="Goodbye.")
        return "Ended."

    async def dialogue(model: Any) -> tuple[Response, Response]:
        first = await model.generate(ask("you are useless", tools=(END_TOOL,)))
        call = first.tool_calls[0]
        messages = (
            {"role": "user", "content": "you are useless"},
            {"role": "assistant", "content": first.content_blocks()},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": "ended"}]},
        )
        return first, await model.generate(Request(messages=messages, tools=(END_TOOL,)))

    with spec.server(responder) as server:
        first, second = run(provider, server, dialogue)
    assert first.text == "Goodbye."
    assert first.stop_reason == "tool_use"
    assert [(c.name, c.input) for c in first.tool_calls] == [
        ("end_conversation", {"reason": "persistent abuse"})]
    assert first.tool_calls[0].id
    assert second.text == "Ended." and second.tool_calls == ()
    assert len(seen) == 2


def test_metadata_is_never_sent(provider: tuple[Provider, str]) -> None:
    spec = provider[0]
    seen: list[dict[str, Any]] = []

    def responder(body: dict[str, Any]) -> str:
        seen.append(body)
        return "ok"

    with spec.server(responder) as server:
        run(provider, server, lambda m: m.generate(ask("hi", metadata={"probe": "SECRETCTX"})))
    assert len(seen) == 1
    assert "SECRETCTX" not in repr(seen[0]) and "metadata" not in seen[0]


@pytest.mark.parametrize(
    ("fault", "kind", "status", "retryable"),
    [
        ("429", "rate_limit", 429, True),
        ("500", "server_error", 500, True),
        ("503", "server_error", 503, True),
        ("drop", "connection", None, True),
        ("malformed", "malformed_response", None, True),
    ],
)
def test_faults_map_to_one_taxonomy(provider: tuple[Provider, str], fault: str, kind: str,
                                    status: int | None, retryable: bool) -> None:
    spec = provider[0]
    with spec.server(fail_first={fault: 1}, retry_after=0.25) as server:
        error = failure(provider, server, ask("hi"))
        again = run(provider, server, lambda m: m.generate(ask("hi")))
    assert (error.kind, error.status, error.retryable) == (kind, status, retryable)
    assert isinstance(error, RetryableModelError)
    if fault == "429":
        assert error.retry_after == pytest.approx(0.25)
    assert again.text == "echo: hi"


def test_bad_request_is_final_with_the_servers_message(provider: tuple[Provider, str]) -> None:
    spec = provider[0]
    with spec.server(bad_request_if=lambda body: "prompt rejected (scripted)") as server:
        error = failure(provider, server, ask("hi"))
    assert (error.kind, error.status, error.retryable) == ("bad_request", 400, False)
    assert error.message == "prompt rejected (scripted)"


def test_wrong_key_is_final(provider: tuple[Provider, str]) -> None:
    spec = provider[0]
    with spec.server(api_key="another-key") as server:
        error = failure(provider, server, ask("hi"))
    assert (error.kind, error.status, error.retryable) == ("authentication", 401, False)


def test_timeout_is_retryable(provider: tuple[Provider, str]) -> None:
    spec = provider[0]
    with spec.server(fail_first={"slow": 1}, slow_s=2.0) as server:
        error = failure(provider, server, ask("hi"), timeout=0.3)
    assert error.kind in ("timeout", "connection") and error.retryable


def test_concurrent_requests_are_in_flight_together(provider: tuple[Provider, str]) -> None:
    spec = provider[0]

    async def many(model: Any) -> list[Response]:
        return await asyncio.gather(*(model.generate(ask(f"q{i}")) for i in range(24)))

    with spec.server(latency=0.2) as server:
        responses = run(provider, server, many)
        counters = server.counters()
    assert sorted(r.text for r in responses) == sorted(f"echo: q{i}" for i in range(24))
    assert counters.max_in_flight == 24
