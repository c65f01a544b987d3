"""AnthropicModel against the loopback Messages API, through the real `anthropic` client."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import httpx2
import pytest

import welfare.models.anthropic as anthropic_model
from welfare.errors import ModelError, RetryableModelError
from welfare.models.anthropic import AnthropicModel, parse_retry_after, to_model_error
from welfare.models.base import Model, Request, Response
from welfare.testing import FakeAnthropicServer, last_user_text, request_hash, text, tool_use

KEY = "sk-ant-test-0123456789SECRET"
MODEL_ID = "claude-test-1"

END_TOOL = {
    "name": "end_conversation",
    "description": "End the conversation.",
    "input_schema": {"type": "object", "properties": {"reason": {"type": "string"}}},
}


def ask(prompt: str, **kwargs: Any) -> Request:
    return Request(messages=({"role": "user", "content": prompt},), **kwargs)


def with_model(
    server: FakeAnthropicServer,
    use: Callable[[AnthropicModel], Awaitable[Any]],
    **kwargs: Any,
) -> Any:
    """Run `use(model)` on a fresh event loop with a model pointed at `server`."""

    async def main() -> Any:
        options = {"api_key": KEY, "base_url": server.base_url, **kwargs}
        async with AnthropicModel(MODEL_ID, **options) as model:
            return await use(model)

    return asyncio.run(main())


def generate(server: FakeAnthropicServer, request: Request, **kwargs: Any) -> Response:
    return with_model(server, lambda m: m.generate(request), **kwargs)


def failure(server: FakeAnthropicServer, request: Request, **kwargs: Any) -> ModelError:
    """The ModelError that `generate` raises (and nothing else)."""
    with pytest.raises(ModelError) as caught:
        generate(server, request, **kwargs)
    return caught.value


# ------------------------------------------------------------------------------ answers


@pytest.fixture(params=["sdk", "direct"], autouse=True)
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs on both transports: the SDK's `messages.create` and the direct path."""
    monkeypatch.setattr(anthropic_model, "DEFAULT_TRANSPORT", request.param)
    return str(request.param)


def test_spec_and_protocol() -> None:
    model = AnthropicModel(MODEL_ID, api_key=KEY, base_url="http://127.0.0.1:9")
    assert model.spec == "anthropic:claude-test-1"
    assert model.simulated is False
    assert isinstance(model, Model)
    assert model.client.max_retries == 0


def test_text_answer_with_usage_latency_and_raw() -> None:
    answer = {"content": "A", "usage": {"input_tokens": 17, "output_tokens": 3}}
    with FakeAnthropicServer(lambda body: answer, latency=0.05) as server:
        request = ask("Which task? A or B", system="Be brief.", max_tokens=7)
        response = generate(server, request)
        sent = anthropic_model.cache_marks({"model": MODEL_ID, **request.api_params()})
        assert sent["system"] == [{"type": "text", "text": "Be brief.",
                                   "cache_control": {"type": "ephemeral"}}]
        assert server.counters().by_hash == {request_hash(sent): 1}
    assert response.text == "A"
    assert response.tool_calls == ()
    assert response.stop_reason == "end_turn"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (17, 3)
    assert response.model == MODEL_ID
    assert 0.05 <= response.latency_s < 5
    assert response.raw["id"].startswith("msg_")
    assert response.raw["content"] == [{"type": "text", "text": "A"}]
    assert response.raw["usage"] == {"input_tokens": 17, "output_tokens": 3}


def test_metadata_is_not_sent() -> None:
    seen: list[dict[str, Any]] = []

    def responder(body: dict[str, Any]) -> str:
        seen.append(body)
        return "ok"

    with FakeAnthropicServer(responder) as server:
        generate(server, ask("hi", metadata={"probe": "x"}, stop_sequences=("Z",)))
    assert seen == [
        {
            "model": MODEL_ID,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "hi"}],
            "stop_sequences": ["Z"],
        }
    ]


def test_temperature_goes_on_the_wire_and_the_current_api_refuses_it() -> None:
    """anthropic 2.x dropped `temperature`; we still send it, so the API (not us) decides."""
    seen: list[dict[str, Any]] = []

    def responder(body: dict[str, Any]) -> str:
        seen.append(body)
        return "ok"

    with FakeAnthropicServer(responder) as server:
        error = failure(server, ask("hi", temperature=0.5))

        async def legacy() -> Response:
            client = anthropic.AsyncAnthropic(
                api_key=KEY,
                base_url=server.base_url,
                default_headers={"anthropic-version": "2023-06-01"},
            )
            async with AnthropicModel(MODEL_ID, client=client) as model:
                return await model.generate(ask("hi", temperature=0.5))

        assert asyncio.run(legacy()).text == "ok"
    assert (error.kind, error.status, error.retryable) == ("bad_request", 400, False)
    assert error.message == "temperature: Extra inputs are not permitted"
    assert seen[0]["temperature"] == 0.5


def test_text_blocks_are_joined() -> None:
    blocks = [{"type": "text", "text": "I prefer "}, {"type": "text", "text": "task B."}]
    with FakeAnthropicServer(lambda body: blocks) as server:
        assert generate(server, ask("?")).text == "I prefer task B."


def test_tool_use_round_trip() -> None:
    def responder(body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]["content"]
        if isinstance(last, list) and last[0]["type"] == "tool_result":
            return text(f"closed after {last[0]['tool_use_id']}")
        names = [t["name"] for t in body.get("tools", [])]
        if names == ["end_conversation"]:
            return tool_use("end_conversation", {"reason": "abuse"}, text="I will end this.")
        return text("no tools seen")

    with FakeAnthropicServer(responder) as server:
        first = ask("you are useless", tools=(END_TOOL,))
        response = generate(server, first)
        (call,) = response.tool_calls
        assert response.stop_reason == "tool_use"
        assert response.text == "I will end this."
        assert call.name == "end_conversation"
        assert call.input == {"reason": "abuse"}
        assert call.id.startswith("toolu_")

        result = {"type": "tool_result", "tool_use_id": call.id, "content": "ended"}
        second = Request(
            messages=(
                *first.messages,
                {"role": "assistant", "content": response.content_blocks()},
                {"role": "user", "content": [result]},
            ),
            tools=(END_TOOL,),
        )
        follow_up = generate(server, second)
    assert follow_up.text == f"closed after {call.id}"
    assert follow_up.stop_reason == "end_turn"


def test_many_concurrent_requests_each_sent_once() -> None:
    async def burst(model: AnthropicModel) -> list[Response]:
        return await asyncio.gather(*(model.generate(ask(f"q{i}")) for i in range(300)))

    with FakeAnthropicServer(latency=0.05) as server:
        responses = with_model(server, burst)
        counters = server.counters()
    assert [r.text for r in responses] == [f"echo: q{i}" for i in range(300)]
    assert counters.messages == 300
    assert len(counters.by_hash) == 300
    assert max(counters.succeeded_by_hash.values()) == 1


# ------------------------------------------------------------------------------- errors


def test_rate_limit_carries_retry_after_and_sdk_does_not_retry() -> None:
    with FakeAnthropicServer(fail_first={"429": 1}, retry_after=7) as server:
        error = failure(server, ask("hi"))
        assert server.counters().messages == 1  # no hidden SDK retry
        assert generate(server, ask("hi")).text == "echo: hi"  # the second attempt passes
    assert isinstance(error, RetryableModelError)
    assert (error.kind, error.status, error.retry_after) == ("rate_limit", 429, 7.0)
    assert "rate limit" in error.message
    assert error.cause == "rate_limit (429)"


def test_rate_limit_prefers_retry_after_ms() -> None:
    with FakeAnthropicServer(fail_first={"429": 1}, retry_after=0.25, retry_after_ms=True) as s:
        error = failure(s, ask("hi"))
    assert error.retry_after == 0.25


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (parse_retry_after({"retry-after": later}) or 0) <= 31


@pytest.mark.parametrize(
    ("fault", "kind", "status"),
    [
        ("529", "overloaded", 529),
        ("500", "server_error", 500),
        ("503", "server_error", 503),
        ("drop", "connection", None),
        ("malformed", "malformed_response", None),
    ],
)
def test_transient_faults_are_retryable(fault: str, kind: str, status: int | None) -> None:
    with FakeAnthropicServer(fail_first={fault: 1}) as server:
        error = failure(server, ask("hi"))
        assert server.counters().messages == 1
        assert server.counters().faults == {fault: 1}
    assert isinstance(error, RetryableModelError)
    assert (error.kind, error.status) == (kind, status)


def test_slow_response_times_out_as_retryable() -> None:
    with FakeAnthropicServer(fail_first={"slow": 1}, slow_s=10) as server:
        start = time.monotonic()
        error = failure(server, ask("hi"), timeout=0.3)
        elapsed = time.monotonic() - start
    assert isinstance(error, RetryableModelError)
    assert error.kind == "timeout"
    assert 0.3 <= elapsed < 3


def test_bad_request_is_not_retryable_and_keeps_the_message() -> None:
    def invalid(body: dict[str, Any]) -> str | None:
        return "messages.0.content: forbidden word" if "forbidden" in last_user_text(body) else None

    with FakeAnthropicServer(bad_request_if=invalid) as server:
        error = failure(server, ask("a forbidden request"))
        assert generate(server, ask("an ordinary request")).text == "echo: an ordinary request"
    assert type(error) is ModelError
    assert not error.retryable
    assert (error.kind, error.status) == ("bad_request", 400)
    assert error.message == "messages.0.content: forbidden word"


def test_wrong_key_is_an_authentication_error_without_the_key() -> None:
    with FakeAnthropicServer(api_key="sk-ant-the-right-one") as server:
        error = failure(server, ask("hi"))
    assert type(error) is ModelError
    assert (error.kind, error.status) == ("authentication", 401)
    assert KEY not in str(error) and "SECRET" not in repr(error)


def _status_error(status: int, error_type: str) -> anthropic.APIStatusError:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/messages")
    body = {"type": "error", "error": {"type": error_type, "message": f"{error_type} says no"}}
    response = httpx2.Response(status, json=body, request=request)
    return anthropic.APIStatusError("msg", response=response, body=body)


@pytest.mark.parametrize(
    ("status", "error_type", "kind", "retryable"),
    [
        (403, "permission_error", "permission", False),
        (404, "not_found_error", "not_found", False),
        (413, "request_too_large", "request_too_large", False),
        (422, "invalid_request_error", "unprocessable", False),
        (502, "api_error", "server_error", True),
        (504, "timeout_error", "server_error", True),
        (418, "teapot_error", "http_error", False),
    ],
)
def test_status_mapping(status: int, error_type: str, kind: str, retryable: bool) -> None:
    error = to_model_error(_status_error(status, error_type))
    assert (error.status, error.kind, error.retryable) == (status, kind, retryable)
    assert error.message == f"{error_type} says no"


def test_unexpected_exceptions_become_model_errors() -> None:
    assert to_model_error(RuntimeError("boom")).kind == "client_error"
    assert not to_model_error(RuntimeError("boom")).retryable
    assert to_model_error(ConnectionResetError("reset")).kind == "connection"
    assert to_model_error(TimeoutError()).kind == "timeout"


def test_unexpected_message_shape_is_a_retryable_malformed_response() -> None:
    with FakeAnthropicServer(lambda body: {"content": "A", "usage": "garbage"}) as server:
        error = failure(server, ask("hi"))
    assert isinstance(error, RetryableModelError)
    assert error.kind == "malformed_response"


# -------------------------------------------------------------------- environment, keys


def test_key_and_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    with FakeAnthropicServer(api_key="sk-ant-from-env") as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")

        async def main() -> Response:
            async with AnthropicModel(MODEL_ID) as model:
                assert model.base_url.rstrip("/") == server.base_url
                return await model.generate(ask("from env"))

        assert asyncio.run(main()).text == "echo: from env"
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong")
        with pytest.raises(ModelError) as caught:
            asyncio.run(main())
        assert caught.value.kind == "authentication"
        assert server.counters().messages == 2


def test_missing_key_is_an_authentication_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no profile on disk: fails at the first call
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with FakeAnthropicServer() as server:
        error = failure(server, ask("hi"), api_key=None)
        assert server.counters().messages == 0  # refused before sending anything
    assert type(error) is ModelError
    assert error.kind == "authentication" and "ANTHROPIC_API_KEY" in error.message

    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path))  # a missing profile: at once
    with pytest.raises(ModelError) as caught:
        AnthropicModel(MODEL_ID)
    assert caught.value.kind == "authentication"


def test_key_never_in_repr_or_str() -> None:
    model = AnthropicModel(MODEL_ID, api_key=KEY, base_url="http://127.0.0.1:9")
    shown = [repr(model), str(model), repr(vars(model)), f"{model}"]
    assert all("SECRET" not in s and KEY not in s for s in shown)
    assert (
        repr(model)
        == "AnthropicModel(spec='anthropic:claude-test-1', base_url='http://127.0.0.1:9')"
    )


def test_injected_client_gets_retries_turned_off() -> None:
    with FakeAnthropicServer(fail_first={"500": 1}) as server:

        async def main() -> ModelError:
            client = anthropic.AsyncAnthropic(api_key=KEY, base_url=server.base_url, max_retries=5)
            async with AnthropicModel(MODEL_ID, client=client) as model:
                with pytest.raises(RetryableModelError) as caught:
                    await model.generate(ask("hi"))
                return caught.value

        assert asyncio.run(main()).kind == "server_error"
        assert server.counters().messages == 1


# ------------------------------------------------------------------------------ batches


def _no_bad_word(body: dict[str, Any]) -> str | None:
    return "messages.0: request marked bad" if "bad" in last_user_text(body) else None


def test_batch_submit_poll_and_results_joined_by_custom_id() -> None:
    prompts = {f"item-{i:03d}": ("bad prompt" if i % 10 == 3 else f"prompt {i}") for i in range(60)}
    server = FakeAnthropicServer(
        batch_delay=0.3,
        batch_errored=0.15,
        batch_expired=0.15,
        batch_canceled=0.15,
        bad_request_if=_no_bad_word,
        seed=3,
    )

    async def run(model: AnthropicModel) -> tuple[dict, dict, list]:
        batch_id = await model.submit_batch([(cid, ask(p)) for cid, p in prompts.items()])
        first = await model.batch_status(batch_id)
        status = first
        while status["processing_status"] != "ended":
            await asyncio.sleep(0.05)
            status = await model.batch_status(batch_id)
        results = [item async for item in model.batch_results(batch_id)]
        return first, status, results

    with server:
        first, status, results = with_model(server, run)
        counters = server.counters()

    assert first["processing_status"] == "in_progress"
    assert first["request_counts"]["processing"] == 60
    assert first["results_url"] is None
    ids = [cid for cid, _ in results]
    assert sorted(ids) == sorted(prompts) and ids != sorted(prompts)  # all back, out of order

    tally: dict[str, int] = {"succeeded": 0, "errored": 0, "expired": 0, "canceled": 0}
    for cid, outcome in results:
        if isinstance(outcome, Response):
            tally["succeeded"] += 1
            assert outcome.text == f"echo: {prompts[cid]}"  # joined to its own request
            assert outcome.model == MODEL_ID and outcome.usage.output_tokens > 0
            continue
        assert isinstance(outcome, ModelError)
        if outcome.kind == "batch_errored" and outcome.status == 400:
            assert prompts[cid] == "bad prompt" and not outcome.retryable
            assert "request marked bad" in outcome.message
        elif outcome.kind == "batch_errored":
            assert outcome.status == 500 and outcome.retryable
        elif outcome.kind == "batch_expired":
            assert outcome.retryable
        else:
            assert outcome.kind == "batch_canceled" and not outcome.retryable
        tally[outcome.kind.removeprefix("batch_")] += 1

    counts = status["request_counts"]
    assert {k: counts[k] for k in tally} == tally and counts["processing"] == 0
    assert all(n >= 3 for n in tally.values()), tally  # every outcome kind is exercised
    assert sum(isinstance(o, ModelError) and o.status == 400 for _, o in results) == 6
    assert counters.batch_items == 60 and counters.messages == 0


def test_batch_errors_are_model_errors() -> None:
    async def run(model: AnthropicModel) -> list[ModelError]:
        errors: list[ModelError] = []
        for attempt in (
            model.batch_status("msgbatch_missing"),
            model.submit_batch([("same", ask("a")), ("same", ask("b"))]),
            model.submit_batch([("not a valid id!", ask("a"))]),
        ):
            with pytest.raises(ModelError) as caught:
                await attempt
            errors.append(caught.value)
        batch_id = await model.submit_batch([("a", ask("a"))])
        with pytest.raises(ModelError) as caught:
            _ = [item async for item in model.batch_results(batch_id)]
        errors.append(caught.value)
        return errors

    with FakeAnthropicServer(batch_delay=30) as server:
        missing, duplicate, bad_id, unfinished = with_model(server, run)
    assert (missing.kind, missing.status) == ("not_found", 404)
    assert (duplicate.kind, duplicate.status) == ("bad_request", 400)
    assert "duplicate custom_id" in duplicate.message
    assert (bad_id.kind, bad_id.status) == ("bad_request", 400)
    assert not unfinished.retryable and "in_progress" in unfinished.message
