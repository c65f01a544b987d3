"""OpenAIModel specifics: translating the toolkit's Messages-shaped requests to chat completions
and back, reasoning kept apart, error bodies of OpenAI and vLLM, and the strict loopback server.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from welfare.errors import ModelError
from welfare.models.base import Request, Response
from welfare.models.openai_compat import (
    OpenAIModel,
    chat_body,
    reasoning_of,
    response_from_json,
    status_error,
)
from welfare.testing.openai_server import FakeOpenAIServer, build_completion, validate_chat_body

KEY = "sk-test-0123456789SECRET"
END_TOOL = {
    "name": "end_conversation",
    "description": "End the conversation.",
    "input_schema": {"type": "object", "properties": {"reason": {"type": "string"}}},
}


def generate(server: FakeOpenAIServer, request: Request, **kwargs: Any) -> Response:
    async def main() -> Response:
        options = {"api_key": KEY, "base_url": server.base_url, **kwargs}
        async with OpenAIModel("qwen-test", **options) as model:
            return await model.generate(request)

    return asyncio.run(main())


@pytest.fixture(params=["sdk", "direct"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ------------------------------------------------------------------------- translation


def test_request_translation_system_tools_results_and_sampling() -> None:
    request = Request(
        system="Be kind.",
        messages=(
            {"role": "user", "content": [{"type": "text", "text": "a"},
                                         {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "private"},
                {"type": "text", "text": "Ending."},
                {"type": "tool_use", "id": "toolu_1", "name": "end_conversation",
                 "input": {"reason": "abuse"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1",
                 "content": [{"type": "text", "text": "done"}]},
                {"type": "text", "text": "wait"}]},
        ),
        tools=(END_TOOL,),
        tool_choice={"type": "tool", "name": "end_conversation"},
        temperature=0.7,
        max_tokens=99,
        stop_sequences=("STOP",),
        metadata={"probe": "never sent"},
    )
    body = chat_body("m", request)
    assert body == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "a\nb"},
            {"role": "assistant", "content": "Ending.", "tool_calls": [{
                "id": "toolu_1", "type": "function",
                "function": {"name": "end_conversation", "arguments": '{"reason": "abuse"}'}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "done"},
            {"role": "user", "content": "wait"},
        ],
        "max_tokens": 99,
        "tools": [{"type": "function", "function": {
            "name": "end_conversation", "description": "End the conversation.",
            "parameters": END_TOOL["input_schema"]}}],
        "tool_choice": {"type": "function", "function": {"name": "end_conversation"}},
        "temperature": 0.7,
        "stop": ["STOP"],
    }
    assert validate_chat_body(body) is None
    assert chat_body("m", request, max_tokens_field="max_completion_tokens")[
        "max_completion_tokens"] == 99


@pytest.mark.parametrize(("choice", "expected"), [
    ({"type": "auto"}, "auto"), ({"type": "any"}, "required"), ({"type": "none"}, "none")])
def test_tool_choice_kinds(choice: dict[str, Any], expected: str) -> None:
    body = chat_body("m", Request(messages=({"role": "user", "content": "x"},),
                                  tools=(END_TOOL,), tool_choice=choice))
    assert body["tool_choice"] == expected


def test_untranslatable_blocks_are_bad_requests_not_crashes() -> None:
    request = Request(messages=({"role": "user", "content": [{"type": "document"}]},))
    with pytest.raises(ModelError) as caught:
        chat_body("m", request)
    assert caught.value.kind == "bad_request" and "document" in caught.value.message


def test_images_become_data_urls() -> None:
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "AAA="}}
    body = chat_body("m", Request(messages=({"role": "user", "content": [
        {"type": "text", "text": "what is this?"}, block]},)))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA="}},
    ]


# ------------------------------------------------------------------------------ answers


@pytest.mark.parametrize(("finish", "stop"), [
    ("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"),
    ("tool_calls", "tool_use"), ("weird", "weird")])
def test_finish_reasons(finish: str, stop: str) -> None:
    completion = build_completion({"model": "m", "messages": []},
                                  {"content": "x", "finish_reason": finish}, "chatcmpl-1")
    assert response_from_json(completion).stop_reason == stop


def test_reasoning_is_kept_apart_from_the_answer(transport: str) -> None:
    answers = iter([
        {"content": "I prefer task A.", "reasoning_content": "A is kinder."},
        {"content": "I prefer task B.", "reasoning": "B is shorter."},
        "<think>\nweighing both\n</think>\n\nI prefer task A.",
    ])
    with FakeOpenAIServer(lambda body: next(answers)) as server:
        first, second, third = (generate(server, Request(messages=(
            {"role": "user", "content": f"q{i}"},)), transport=transport) for i in range(3))
    assert (first.text, reasoning_of(first)) == ("I prefer task A.", "A is kinder.")
    assert (second.text, reasoning_of(second)) == ("I prefer task B.", "B is shorter.")
    assert (third.text, reasoning_of(third)) == ("I prefer task A.", "weighing both")
    assert first.raw["choices"][0]["message"]["reasoning_content"] == "A is kinder."


def test_usage_and_raw_as_the_server_sent_them(transport: str) -> None:
    answer = {"content": "A", "usage": {"prompt_tokens": 17, "completion_tokens": 3}}
    with FakeOpenAIServer(lambda body: answer) as server:
        response = generate(server, Request(messages=({"role": "user", "content": "?"},),
                                            max_tokens=7), transport=transport)
    assert (response.usage.input_tokens, response.usage.output_tokens) == (17, 3)
    assert response.raw["id"].startswith("chatcmpl-")
    assert response.raw["usage"]["total_tokens"] == 20


def test_broken_tool_arguments_give_an_empty_input_not_a_crash() -> None:
    completion = build_completion({"model": "m", "messages": []}, {"content": None, "tool_calls": [
        {"id": "c1", "function": {"name": "end_conversation", "arguments": "{not json"}}]}, "x")
    response = response_from_json(completion)
    assert [(c.id, c.name, c.input) for c in response.tool_calls] == [
        ("c1", "end_conversation", {})]
    assert response.text == "" and response.stop_reason == "tool_use"


def test_a_completion_without_choices_is_malformed() -> None:
    with pytest.raises(ModelError) as caught:
        response_from_json({"id": "x", "choices": []})
    assert caught.value.kind == "malformed_response" and caught.value.retryable


# ------------------------------------------------------------------------------- errors


def test_insufficient_quota_is_billing_not_a_rate_limit() -> None:
    error = status_error(429, "You exceeded your current quota", {}, "insufficient_quota")
    assert (error.kind, error.retryable) == ("billing", False)
    limited = status_error(429, "slow down", {"retry-after-ms": "1500"}, "rate_limit_exceeded")
    assert (limited.kind, limited.retryable, limited.retry_after) == ("rate_limit", True, 1.5)


def test_vllm_top_level_error_body_gives_its_message(transport: str) -> None:
    """vLLM's older servers answer errors as {"object": "error", "message": ...}."""

    async def main() -> ModelError:
        from aiohttp import web

        async def handler(request: web.Request) -> web.Response:
            return web.json_response({"object": "error", "message": "context too long",
                                      "type": "BadRequestError", "param": None, "code": 400},
                                     status=400)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with OpenAIModel("m", api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1",
                                   transport=transport) as model:
                with pytest.raises(ModelError) as caught:
                    await model.generate(Request(messages=({"role": "user", "content": "x"},)))
                return caught.value
        finally:
            await runner.cleanup()

    error = asyncio.run(main())
    assert (error.kind, error.status, error.message) == ("bad_request", 400, "context too long")


def test_no_key_anywhere_is_an_authentication_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    with pytest.raises(ModelError) as caught:
        OpenAIModel("m", base_url="http://127.0.0.1:9/v1")
    assert caught.value.kind == "authentication"
    assert "OPENAI_API_KEY" in caught.value.message and "api_key_env" in caught.value.message


def test_sdk_environment_variables_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer(lambda body: "from env", api_key="env-key") as server:
        monkeypatch.setenv("OPENAI_API_KEY", "env-key")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)

        async def main() -> Response:
            async with OpenAIModel("m") as model:
                assert model.base_url.rstrip("/") == server.base_url
                return await model.generate(Request(messages=({"role": "user", "content": "x"},)))

        assert asyncio.run(main()).text == "from env"


def test_invalid_options_are_refused() -> None:
    with pytest.raises(ValueError, match="transport"):
        OpenAIModel("m", api_key=KEY, transport="carrier-pigeon")
    with pytest.raises(ValueError, match="max_tokens_field"):
        OpenAIModel("m", api_key=KEY, max_tokens_field="limit")
    with pytest.raises(ValueError, match="model_id"):
        OpenAIModel("", api_key=KEY)


# ------------------------------------------------------------------------ strict server


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "x"}], **extra}


@pytest.mark.parametrize(("body", "problem"), [
    (_body(system="Be kind."), "Unrecognized request argument supplied: system"),
    (_body(stop_sequences=["x"]), "Unrecognized request argument supplied: stop_sequences"),
    (_body(n=2), "n:"),
    (_body(stop=["a", "b", "c", "d", "e"]), "at most 4"),
    (_body(temperature=3), "temperature"),
    (_body(max_tokens=0), "max_tokens"),
    ({"model": "m", "messages": []}, "at least one message"),
    ({"model": "m", "messages": [{"role": "function", "content": "x"}]}, "role"),
    ({"model": "m", "messages": [{"role": "tool", "tool_call_id": "c", "content": "x"}]},
     "must be a response to a preceding message with 'tool_calls'"),
    ({"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "user", "content": "y"}]}, "did not have response messages: c1"),
    ({"model": "m", "messages": [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {}}}]}]},
     "arguments: must be a JSON string"),
    ({"model": "m", "messages": [{"role": "assistant", "content": None}]}, "needs 'content'"),
    (_body(tools=[{"name": "f", "input_schema": {}}]), "tools.0"),
    (_body(tool_choice="auto"), "only allowed when 'tools'"),
    (_body(tools=[{"type": "function", "function": {"name": "f"}}],
           tool_choice={"type": "function", "function": {"name": "g"}}), "no tool named 'g'"),
    (_body(messages=[{"role": "user", "content": [{"type": "tool_result"}]}]), "part type"),
])
def test_strict_server_refuses_what_the_api_refuses(body: dict[str, Any], problem: str) -> None:
    found = validate_chat_body(body)
    assert found is not None and problem in found


def test_lenient_server_accepts_extra_keys() -> None:
    assert validate_chat_body(_body(system="x"), strict=False) is None
    with FakeOpenAIServer(strict=False) as server:
        import urllib.request

        req = urllib.request.Request(
            f"{server.base_url}/chat/completions", method="POST",
            data=json.dumps(_body(system="x", max_tokens=5)).encode(),
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as reply:
            completion = json.loads(reply.read())
    assert completion["choices"][0]["message"]["content"] == "echo: x"
    assert completion["object"] == "chat.completion"


def test_server_in_a_child_process_counts_requests() -> None:
    with FakeOpenAIServer(process=True) as server:
        response = generate(server, Request(messages=({"role": "user", "content": "hi"},)))
        counters = server.counters()
        server.reset()
        assert server.counters().messages == 0
    assert response.text == "echo: hi"
    assert counters.messages == 1 and sum(counters.succeeded_by_hash.values()) == 1


def test_subject_table_options_reach_the_provider(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`base_url` and `api_key_env` from the subject table, `transport` from the runner."""
    from welfare.assess import build_models
    from welfare.config import parse_config

    monkeypatch.setenv("VLLM_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer(lambda body: f"served {body['model']}", api_key=KEY) as server:
        subject = {"spec": "openai:Qwen/Qwen3-8B", "base_url": server.base_url,
                   "api_key_env": "VLLM_API_KEY"}
        config = parse_config({"assessment": {"name": "vllm", "subjects": [subject]},
                               "runner": {"transport": "direct", "timeout_s": 5},
                               "probes": {"self_report": {}}},
                              source=tmp_path / "vllm.toml")
        model = build_models(config)["openai:Qwen/Qwen3-8B"]
        assert isinstance(model, OpenAIModel) and model.spec == "openai:Qwen/Qwen3-8B"
        assert model.base_url.rstrip("/") == server.base_url

        async def main() -> Response:
            async with model:
                return await model.generate(Request(messages=({"role": "user", "content": "x"},)))

        assert asyncio.run(main()).text == "served Qwen/Qwen3-8B"
    assert KEY not in repr(model)


def test_judge_model_on_openai_needs_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from welfare.cli import main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    src = tmp_path / "t.jsonl"
    src.write_text('{"id": "a", "messages": [{"role": "user", "content": "hi"}]}\n')
    code = main(["code", str(src), "--out", str(tmp_path / "out"), "--coder", "judge",
                 "--judge-model", "openai:gpt-judge"])
    assert code == 2
    assert "openai:gpt-judge needs OPENAI_API_KEY" in capsys.readouterr().err
