"""The loopback Messages API itself: wire shapes, faults, counters, batches, concurrency."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from welfare.testing import (
    FakeAnthropicServer,
    count_tokens,
    echo_responder,
    request_hash,
    text,
    tool_use,
)

BODY = {"model": "claude-test", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def call(
    server: FakeAnthropicServer,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request to the fake: (status, lower-cased headers, body bytes)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(
        server.base_url + path,
        data=data,
        method="POST" if data is not None else "GET",
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def ask(prompt: str) -> dict[str, Any]:
    return {**BODY, "messages": [{"role": "user", "content": prompt}]}


# ---------------------------------------------------------------------------- messages


def test_message_shape_usage_and_ids() -> None:
    with FakeAnthropicServer() as server:
        status, headers, raw = call(server, "/v1/messages", BODY)
        _, _, raw_again = call(server, "/v1/messages", BODY)
    message, again = json.loads(raw), json.loads(raw_again)
    assert status == 200
    assert headers["request-id"].startswith("req_")
    assert headers["content-type"].startswith("application/json")
    assert message["id"].startswith("msg_") and message["id"] != again["id"]
    assert (message["type"], message["role"], message["model"]) == (
        "message",
        "assistant",
        "claude-test",
    )
    assert message["content"] == [{"type": "text", "text": "echo: hi"}]
    assert message["stop_reason"] == "end_turn"
    prompt_tokens = count_tokens({"messages": BODY["messages"]})
    assert message["usage"] == {"input_tokens": prompt_tokens, "output_tokens": 2}
    assert again["usage"] == message["usage"]


def test_tokens_grow_with_text() -> None:
    assert count_tokens("abcd") == 1 and count_tokens("abcde") == 2 and count_tokens("") == 1
    long = ask("word " * 400)
    with FakeAnthropicServer() as server:
        usage = json.loads(call(server, "/v1/messages", long)[2])["usage"]
    assert usage["input_tokens"] > 400 and usage["output_tokens"] == math.ceil(
        len("echo: " + "word " * 400) / 4
    )


@pytest.mark.parametrize(
    ("answer", "content", "stop_reason"),
    [
        ("A", [{"type": "text", "text": "A"}], "end_turn"),
        (text("B", stop_reason="max_tokens"), [{"type": "text", "text": "B"}], "max_tokens"),
        ({"type": "text", "text": "C"}, [{"type": "text", "text": "C"}], "end_turn"),
        (
            tool_use("end_conversation", {"why": "x"}),
            [{"type": "tool_use", "name": "end_conversation", "input": {"why": "x"}}],
            "tool_use",
        ),
        (
            [{"type": "text", "text": "D"}, {"type": "text", "text": "E"}],
            [{"type": "text", "text": "D"}, {"type": "text", "text": "E"}],
            "end_turn",
        ),
    ],
)
def test_responder_shapes(answer: Any, content: list, stop_reason: str) -> None:
    with FakeAnthropicServer(lambda body: answer) as server:
        message = json.loads(call(server, "/v1/messages", BODY)[2])
    for block in message["content"]:
        if block["type"] == "tool_use":
            assert block.pop("id").startswith("toolu_")
    assert message["content"] == content
    assert message["stop_reason"] == stop_reason


def test_full_message_fields_override_defaults() -> None:
    answer = {"content": "F", "id": "msg_fixed", "usage": {"input_tokens": 1, "output_tokens": 9}}
    with FakeAnthropicServer(lambda body: answer) as server:
        message = json.loads(call(server, "/v1/messages", BODY)[2])
    assert (message["id"], message["usage"]["output_tokens"]) == ("msg_fixed", 9)


def test_failing_responder_is_a_500_naming_the_exception() -> None:
    def broken(body: dict[str, Any]) -> str:
        raise KeyError("nope")

    with FakeAnthropicServer(broken) as server:
        status, _, raw = call(server, "/v1/messages", BODY)
    assert status == 500
    assert "KeyError" in json.loads(raw)["error"]["message"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "request body must be a JSON object"),
        (json.dumps({**BODY, "max_tokens": 0}).encode(), "max_tokens: Field required"),
        (json.dumps({**BODY, "messages": []}).encode(), "messages: at least one message"),
        (json.dumps({**BODY, "top_k": 5}).encode(), "top_k: Extra inputs are not permitted"),
    ],
)
def test_invalid_requests_get_400(raw: bytes, message: str) -> None:
    with FakeAnthropicServer() as server:
        status, _, body = call(server, "/v1/messages", raw=raw)
    error = json.loads(body)
    assert status == 400
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(message)


def test_api_key_check_accepts_both_headers() -> None:
    with FakeAnthropicServer(api_key="sk-right") as server:
        assert call(server, "/v1/messages", BODY, headers={"x-api-key": "sk-right"})[0] == 200
        bearer = {"authorization": "Bearer sk-right"}
        assert call(server, "/v1/messages", BODY, headers=bearer)[0] == 200
        status, _, raw = call(server, "/v1/messages", BODY, headers={"x-api-key": "sk-wrong"})
    assert status == 401
    assert json.loads(raw)["error"]["type"] == "authentication_error"


def test_request_hash_is_sha256_of_canonical_json() -> None:
    canonical = json.dumps(BODY, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert request_hash(BODY) == hashlib.sha256(canonical.encode()).hexdigest()
    reordered = dict(reversed(list(BODY.items())))
    assert request_hash(reordered) == request_hash(BODY)


# ------------------------------------------------------------------------------ faults


def test_fail_first_is_per_distinct_request_in_order() -> None:
    with FakeAnthropicServer(fail_first={"429": 1, "529": 1}, retry_after=2) as server:
        statuses_a = [call(server, "/v1/messages", ask("a")) for _ in range(3)]
        status_b, headers_b, raw_b = call(server, "/v1/messages", ask("b"))
        counters = server.counters()
    assert [s for s, _, _ in statuses_a] == [429, 529, 200]
    assert status_b == 429 and headers_b["retry-after"] == "2"
    assert json.loads(raw_b)["error"]["type"] == "rate_limit_error"
    assert json.loads(statuses_a[1][2])["error"] == {
        "type": "overloaded_error",
        "message": "Overloaded",
    }
    assert counters.by_hash == {request_hash(ask("a")): 3, request_hash(ask("b")): 1}
    assert counters.succeeded_by_hash == {request_hash(ask("a")): 1}
    assert counters.faults == {"429": 2, "529": 1}
    assert counters.messages == counters.total == 4


def test_server_error_shape_and_retry_after_ms() -> None:
    with FakeAnthropicServer(
        fail_first={"500": 1, "429": 1}, retry_after=1.5, retry_after_ms=True
    ) as s:
        status, _, raw = call(s, "/v1/messages", BODY)
        _, headers, _ = call(s, "/v1/messages", BODY)
    body = json.loads(raw)
    assert status == 500 and body["error"]["type"] == "api_error"
    assert body["request_id"].startswith("req_")
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("1.5", "1500")


def test_malformed_body_is_invalid_json_with_200() -> None:
    with FakeAnthropicServer(fail_first={"malformed": 1}) as server:
        status, _, raw = call(server, "/v1/messages", BODY)
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


def test_drop_closes_the_connection_without_a_response() -> None:
    with FakeAnthropicServer(fail_first={"drop": 1}) as server:
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            call(server, "/v1/messages", BODY)
        assert call(server, "/v1/messages", BODY)[0] == 200


def test_slow_response_outlasts_a_short_client_timeout() -> None:
    async def fetch(url: str) -> float:
        start = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=0.2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with pytest.raises(asyncio.TimeoutError):
                await session.post(url, json=BODY)
        return time.monotonic() - start

    with FakeAnthropicServer(fail_first={"slow": 1}, slow_s=5) as server:
        elapsed = asyncio.run(fetch(server.base_url + "/v1/messages"))
        assert server.counters().faults == {"slow": 1}
    assert elapsed < 4  # the server holds it for 10 s


def test_bad_request_predicate() -> None:
    def bad(body: dict[str, Any]) -> bool:
        return body["messages"][0]["content"] == "bad"

    with FakeAnthropicServer(bad_request_if=bad) as server:
        status, _, raw = call(server, "/v1/messages", ask("bad"))
        assert call(server, "/v1/messages", ask("good"))[0] == 200
    assert status == 400 and json.loads(raw)["error"]["type"] == "invalid_request_error"


def _statuses(seed: int, n: int = 300) -> list[int]:
    rates = {"429": 0.2, "500": 0.1}
    with FakeAnthropicServer(fault_rates=rates, seed=seed) as server:
        return [call(server, "/v1/messages", ask(f"q{i}"))[0] for i in range(n)]


def test_random_faults_are_seeded_and_near_their_rates() -> None:
    first, again, other = _statuses(1), _statuses(1), _statuses(2)
    assert first == again and first != other
    assert 0.12 <= first.count(429) / len(first) <= 0.28
    assert 0.04 <= first.count(500) / len(first) <= 0.16
    assert set(first) == {200, 429, 500}


def test_unknown_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FakeAnthropicServer(fail_first={"418": 1})


def test_configure_and_reset_while_running() -> None:
    with FakeAnthropicServer() as server:
        call(server, "/v1/messages", BODY)
        server.configure(fail_first={"503": 5})
        assert call(server, "/v1/messages", ask("new"))[0] == 503
        server.reset()
        assert server.counters().total == 0
        assert call(server, "/v1/messages", ask("new"))[0] == 503  # schedule restarted


# ----------------------------------------------------------------------------- batches


def _batch_body(n: int) -> dict[str, Any]:
    return {"requests": [{"custom_id": f"r{i}", "params": ask(f"p{i}")} for i in range(n)]}


def test_batch_lifecycle_and_out_of_order_results() -> None:
    with FakeAnthropicServer(batch_delay=0.2) as server:
        status, _, raw = call(server, "/v1/messages/batches", _batch_body(20))
        batch = json.loads(raw)
        early = call(server, f"/v1/messages/batches/{batch['id']}/results")[0]
        time.sleep(0.25)
        ended = json.loads(call(server, f"/v1/messages/batches/{batch['id']}")[2])
        path = ended["results_url"].removeprefix(server.base_url)
        _, headers, jsonl = call(server, path)
    assert status == 200 and batch["id"].startswith("msgbatch_")
    assert batch["processing_status"] == "in_progress" and batch["results_url"] is None
    assert batch["request_counts"] == {
        "processing": 20,
        "succeeded": 0,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert early == 400
    assert ended["processing_status"] == "ended" and ended["request_counts"]["succeeded"] == 20
    assert ended["ended_at"] is not None
    lines = [json.loads(line) for line in jsonl.decode().splitlines()]
    ids = [line["custom_id"] for line in lines]
    assert sorted(ids, key=lambda c: int(c[1:])) == [f"r{i}" for i in range(20)]
    assert ids != [f"r{i}" for i in range(20)]
    by_id = {line["custom_id"]: line["result"] for line in lines}
    assert by_id["r7"]["message"]["content"][0]["text"] == "echo: p7"
    assert headers["request-id"].startswith("req_")


def test_batch_shares_are_seeded() -> None:
    shares = {"batch_errored": 0.2, "batch_expired": 0.2, "batch_canceled": 0.2}

    def counts(seed: int) -> dict[str, int]:
        with FakeAnthropicServer(seed=seed, **shares) as server:
            batch = json.loads(call(server, "/v1/messages/batches", _batch_body(200))[2])
            return batch["request_counts"]

    first = counts(5)
    assert first == counts(5)
    for outcome in ("errored", "expired", "canceled"):
        assert 20 <= first[outcome] <= 60, first
    assert sum(first.values()) == 200


def test_batch_cancel_and_validation() -> None:
    with FakeAnthropicServer(batch_delay=30) as server:
        batch = json.loads(call(server, "/v1/messages/batches", _batch_body(4))[2])
        canceled = json.loads(call(server, f"/v1/messages/batches/{batch['id']}/cancel", {})[2])
        missing = call(server, "/v1/messages/batches/msgbatch_nope")
        duplicate = {"requests": [{"custom_id": "x", "params": BODY}] * 2}
        dup_status, _, dup_raw = call(server, "/v1/messages/batches", duplicate)
        counters = server.counters()
    assert canceled["processing_status"] == "ended"
    assert canceled["request_counts"]["canceled"] == 4
    assert counters.succeeded_by_hash == {}  # canceled items are not paid for
    assert counters.batch_items == 4
    assert missing[0] == 404 and json.loads(missing[2])["error"]["type"] == "not_found_error"
    assert dup_status == 400 and "duplicate custom_id" in json.loads(dup_raw)["error"]["message"]


# ----------------------------------------------------------------------- scale, modes


def test_256_concurrent_requests_overlap() -> None:
    async def burst(url: str) -> tuple[float, list[int]]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> int:
                async with session.post(url, json=ask(f"c{i}")) as reply:
                    await reply.read()
                    return reply.status

            start = time.monotonic()
            statuses = await asyncio.gather(*(one(i) for i in range(256)))
            return time.monotonic() - start, statuses

    with FakeAnthropicServer(latency=1.0) as server:
        elapsed, statuses = asyncio.run(burst(server.base_url + "/v1/messages"))
        counters = server.counters()
    assert statuses == [200] * 256
    assert counters.messages == 256 and counters.in_flight == 0
    assert counters.max_in_flight == 256  # all held at once
    assert elapsed < 10  # serial would take 256 s


def test_async_context_manager() -> None:
    async def main() -> int:
        async with (
            FakeAnthropicServer() as server,
            aiohttp.ClientSession() as session,
            session.post(server.base_url + "/v1/messages", json=BODY) as reply,
        ):
            return reply.status

    assert asyncio.run(main()) == 200


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_process_mode_serves_counts_and_stops() -> None:
    server = FakeAnthropicServer(echo_responder, process=True, fail_first={"429": 1})
    with server:
        port = server.port
        assert call(server, "/v1/messages", BODY)[0] == 429
        assert json.loads(call(server, "/v1/messages", BODY)[2])["content"][0]["text"] == "echo: hi"
        counters = server.counters()
        server.reset()
        assert server.counters().total == 0
    assert counters.by_hash == {request_hash(BODY): 2}
    assert counters.faults == {"429": 1}
    assert port is not None and _port_is_free(port)
    with pytest.raises(RuntimeError):
        _ = server.base_url
