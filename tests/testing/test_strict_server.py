"""The strict loopback server enforces the documented rules of the model a request names, and
`Response.assistant_message` passes a turn back the way those rules require."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from welfare.models.anthropic import AnthropicModel
from welfare.models.base import Request
from welfare.testing.fake_api import FakeAnthropicServer, text, tool_use

FLAGSHIP = "claude-opus-5-5"
LONG_SYSTEM = "You are a careful assistant. " * 200  # ~1,450 tokens: above the cache minimum


def post(server: FakeAnthropicServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /v1/messages as is; (status, parsed JSON)."""
    req = urllib.request.Request(
        f"{server.base_url}/v1/messages", data=json.dumps(body).encode(),
        headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def body(**fields: Any) -> dict[str, Any]:
    return {"model": FLAGSHIP, "max_tokens": 1024,
            "messages": [{"role": "user", "content": "hi"}], **fields}


END_TOOL = {"name": "end_conversation", "description": "End the conversation.",
            "input_schema": {"type": "object", "properties": {}}}


@pytest.mark.parametrize(("fields", "message"), [
    ({"temperature": 0.5}, "temperature: Extra inputs are not permitted"),
    ({"max_tokens": 128_001}, "max_tokens: 128001 > 128000"),
    ({"thinking": {"type": "disabled"}}, '"thinking.type.disabled" is not supported'),
    ({"thinking": {"type": "enabled", "budget_tokens": 2048}},
     '"thinking.type.enabled" is not supported'),
    ({"output_config": {"effort": "extreme"}}, "output_config.effort: 'extreme'"),
    ({"tools": [END_TOOL], "tool_choice": {"type": "tool", "name": "end_conversation"}},
     "tool_choice: forced tool use is not supported"),
    ({"tools": [END_TOOL], "tool_choice": {"type": "any"}},
     "tool_choice: forced tool use is not supported"),
    ({"messages": [{"role": "user", "content": ""}]}, "messages.0: all messages must have"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""},
                   {"role": "user", "content": "well?"}]}, "messages.1: all messages"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": " "}]}]},
     "messages.0.content.0: text content blocks must be non-empty"),
    ({"system": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}] * 5},
     "A maximum of 4 blocks with cache_control"),
    ({"model": "claude-opus-4-9"}, "model: 'claude-opus-4-9' is not a model"),
])
def test_each_documented_refusal_is_a_400(fields: dict[str, Any], message: str) -> None:
    with FakeAnthropicServer(strict=True) as server:
        status, reply = post(server, body(**fields))
        counted = server.counters().bad_requests
    assert status == 400, reply
    assert reply["error"]["type"] == "invalid_request_error"
    assert reply["error"]["message"].startswith(message), reply["error"]["message"]
    assert sum(counted.values()) == 1


def test_a_model_that_takes_forced_tools_and_temperature_is_not_refused_them() -> None:
    haiku = {"model": "claude-haiku-4-5", "tools": [END_TOOL],
             "tool_choice": {"type": "tool", "name": "end_conversation"}}
    with FakeAnthropicServer(lambda b: tool_use("end_conversation"), strict=True) as server:
        status, reply = post(server, body(**haiku))
        over, _ = post(server, body(model="claude-haiku-4-5", max_tokens=64_001))
    assert status == 200 and reply["content"][0]["type"] == "tool_use"  # no thinking block
    assert over == 400


def _tool_turn(server: FakeAnthropicServer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    first = [{"role": "user", "content": "please end this"}]
    status, reply = post(server, body(messages=first, tools=[END_TOOL]))
    assert status == 200
    return reply, first


def test_thinking_blocks_come_first_and_must_go_back_unaltered() -> None:
    with FakeAnthropicServer(lambda b: tool_use("end_conversation", text="Ending."),
                             strict=True) as server:
        reply, first = _tool_turn(server)
        kinds = [b["type"] for b in reply["content"]]
        assert kinds[0] == "thinking" and kinds[-1] == "tool_use"
        assert reply["content"][0]["thinking"] == ""  # omitted at the default display
        call = reply["content"][-1]
        result = {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call["id"], "content": "ended"}]}

        def follow(assistant_content: Any, after: dict[str, Any] | None = result) -> int:
            messages = [*first, {"role": "assistant", "content": assistant_content}]
            messages += [after] if after else [{"role": "user", "content": "bye"}]
            return post(server, body(messages=messages, tools=[END_TOOL]))[0]

        exact = reply["content"]
        altered = [{**exact[0], "thinking": "I secretly planned this."}, *exact[1:]]
        stripped = [b for b in exact if b["type"] not in ("thinking", "redacted_thinking")]
        assert follow(exact) == 200
        assert follow(altered) == 400  # signature no longer matches
        assert follow(stripped) == 400  # tool use without its thinking blocks
        assert follow(exact, after=None) == 400  # tool_use without a tool_result after it
        # the same blocks in another conversation are refused too
        other = [{"role": "user", "content": "a different opening"},
                 {"role": "assistant", "content": exact}, result]
        assert post(server, body(messages=other, tools=[END_TOOL]))[0] == 400
        # and under another model
        moved = [*first, {"role": "assistant", "content": exact}, result]
        assert post(server, body(model="claude-fable-5-2", messages=moved,
                                 tools=[END_TOOL]))[0] == 400


def test_response_assistant_message_passes_the_turn_back_exactly() -> None:
    with FakeAnthropicServer(lambda b: tool_use("end_conversation", text="Ending."),
                             strict=True) as server:
        model = AnthropicModel(FLAGSHIP, api_key="k", base_url=server.base_url)
        first = Request(messages=({"role": "user", "content": "please end this"},),
                        tools=(END_TOOL,))

        async def dialogue() -> Any:
            async with model:
                response = await model.generate(first)
                call = response.tool_calls[0]
                turn = response.assistant_message()
                result = {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "ended"}]}
                second = Request(messages=(*first.messages, turn, result), tools=(END_TOOL,))
                return response, turn, await model.generate(second)

        import asyncio

        response, turn, after = asyncio.run(dialogue())
        assert server.counters().bad_requests == {}
    assert turn["content"] == list(response.content)  # thinking, text, tool_use, unchanged
    assert response.thinking_blocks >= 1 and response.text == "Ending."
    assert after.has_answer


def test_an_empty_answer_is_never_sent_back() -> None:
    from welfare.errors import ModelError
    from welfare.models.base import Response

    thinking_only = Response(text="", content=({"type": "thinking", "thinking": "",
                                                "signature": "s"},))
    with pytest.raises(ModelError) as info:
        thinking_only.assistant_message()
    assert info.value.kind == "empty_answer"
    assert Response(text="Fine.").assistant_message() == {"role": "assistant",
                                                          "content": "Fine."}


def test_cache_tokens_are_reported_and_a_dialogue_prefix_is_read_back() -> None:
    with FakeAnthropicServer(lambda b: text("Noted, and here is a reply."),
                             strict=True) as server:
        model = AnthropicModel(FLAGSHIP, api_key="k", base_url=server.base_url)

        async def talk() -> list[Any]:
            usages = []
            messages: list[dict[str, Any]] = [{"role": "user", "content": "Hello there."}]
            async with model:
                for turn in range(4):
                    response = await model.generate(Request(messages=tuple(messages),
                                                            system=LONG_SYSTEM))
                    usages.append(response.usage)
                    messages += [response.assistant_message(),
                                 {"role": "user", "content": f"Go on ({turn})."}]
            return usages

        import asyncio

        usages = asyncio.run(talk())
        counters = server.counters()
    assert usages[0].cache_write_tokens > 300 and usages[0].cache_read_tokens == 0
    assert usages[1].cache_read_tokens == usages[0].cache_write_tokens  # the system prompt
    assert usages[2].cache_read_tokens > usages[1].cache_read_tokens  # + the dialogue so far
    assert all(u.input_tokens < 100 for u in usages[1:])
    assert counters.cache_read_tokens == sum(u.cache_read_tokens for u in usages)
    assert counters.bad_requests == {}


def test_max_tokens_counts_thinking_and_truncates() -> None:
    with FakeAnthropicServer(lambda b: text("word " * 400), strict=True) as server:
        status, reply = post(server, body(max_tokens=60))
    assert status == 200 and reply["stop_reason"] == "max_tokens"
    assert reply["usage"]["output_tokens"] == 60
    assert reply["content"][0]["type"] == "thinking"


def test_a_stored_answer_keeps_its_thinking_blocks_and_cache_tokens() -> None:
    """A resume answers from the store: the turn it passes back must still be exact."""
    import asyncio

    from welfare.models.base import Response
    from welfare.run.store import response_json

    with FakeAnthropicServer(lambda b: tool_use("end_conversation", text="Ending."),
                             strict=True) as server:
        model = AnthropicModel(FLAGSHIP, api_key="k", base_url=server.base_url)

        async def once() -> Response:
            async with model:
                return await model.generate(Request(
                    messages=({"role": "user", "content": "please end this"},),
                    system=LONG_SYSTEM, tools=(END_TOOL,)))

        response = asyncio.run(once())
    again = Response.from_dict(json.loads(response_json(response)), cached=True)
    assert response.thinking_blocks >= 1 and response.usage.cache_write_tokens > 0
    assert again.content == response.content
    assert again.usage == response.usage
    assert again.assistant_message() == response.assistant_message()
