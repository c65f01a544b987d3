"""A loopback OpenAI-compatible chat-completions server for tests and benchmarks.

It speaks POST /v1/chat/completions as OpenAI, vLLM, Ollama and llama.cpp do (the `chat.completion`
object, `tool_calls` with JSON-string arguments, `finish_reason`, `usage`, the nested error body
`{"error": {"message", "type", "param", "code"}}`, `x-request-id` headers), answers through a
pluggable responder, injects the same faults as the loopback Messages API (429 with
`retry-after`, 500/503, dropped connections, slow and malformed answers, scripted 400s) and
counts every request by the SHA-256 of its canonical JSON body.

Strict mode (the default) refuses what the documented API refuses, so a client bug shows as a
400 rather than passing silently: unknown top-level keys (e.g. a Messages API `system` or
`stop_sequences`), roles other than system/developer/user/assistant/tool, a `tool` message that
answers no pending tool call, an assistant's tool calls left unanswered, malformed tools or
`tool_choice`, `n` other than 1, more than 4 stop sequences, temperature outside [0, 2].

    with FakeOpenAIServer(lambda body: "A") as server:
        model = OpenAIModel("qwen-test", api_key="test", base_url=server.base_url)

The responder receives the chat-completions body and returns a str (the content), the loopback
Messages API helpers' answers (`text(...)`, `tool_use(...)`: converted to `tool_calls`), or a
dict with `content`, `tool_calls`, `reasoning_content`, `finish_reason`, `usage` overrides.
`base_url` ends in `/v1`, as the `openai` SDK expects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from welfare.testing.fake_api import (
    Body,
    FakeAnthropicServer,
    FakeApiConfig,
    LoopbackApi,
    Predicate,
    Responder,
    count_tokens,
    request_hash,
)

log = logging.getLogger(__name__)

CHAT_PARAMS = frozenset({
    "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n",
    "stop", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "seed",
    "user", "response_format", "reasoning_effort", "metadata", "store", "service_tier",
    "modalities", "prediction", "audio", "web_search_options", "verbosity", "prompt_cache_key",
    "safety_identifier",
    # vLLM's extra sampling parameters (https://docs.vllm.ai/ "Extra parameters")
    "top_k", "min_p", "repetition_penalty", "chat_template_kwargs", "guided_json",
})
"""Top-level keys a chat-completions server accepts; strict mode refuses any other."""

ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_STOP = 4
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}
_FAULT_MESSAGES = {
    "429": "Rate limit reached for requests (fake).",
    "500": "The server had an error while processing your request.",
    "503": "The server is overloaded or not ready yet.",
    "529": "The server is overloaded or not ready yet.",
}
_MALFORMED_BODY = b'{"id": "chatcmpl-truncated", "object": "chat.completion", "choices": [{"me'


# ------------------------------------------------------------------------------ config


@dataclass(frozen=True)
class FakeOpenAIConfig(FakeApiConfig):
    """The loopback Messages API's settings plus `strict` (validate as the documented API)."""

    strict: bool = True


def last_user_text(body: Body) -> str:
    """The text of the last user message of a chat-completions body (text parts joined)."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content", "")
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content if p.get("type") == "text")
    return ""


def echo_responder(body: Body) -> str:
    """The default responder: `echo: <last user text>`, deterministic."""
    return f"echo: {last_user_text(body)}"


# ------------------------------------------------------------------------ validation


def _content_problem(where: str, content: Any, *, parts: tuple[str, ...]) -> str | None:
    if isinstance(content, str):
        return None
    if not isinstance(content, list):
        return f"{where}.content: must be a string or an array of content parts"
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in parts:
            return f"{where}.content.{j}: part type must be one of {list(parts)}"
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            return f"{where}.content.{j}.text: Field required"
    return None


def _assistant_problem(where: str, message: Body, tool_names: set[str] | None) -> str | None:
    content = message.get("content")
    calls = message.get("tool_calls")
    if content is not None:
        problem = _content_problem(where, content, parts=("text", "refusal"))
        if problem:
            return problem
    if calls is None:
        if content is None:
            return f"{where}: an assistant message needs 'content' or 'tool_calls'"
        return None
    if not isinstance(calls, list) or not calls:
        return f"{where}.tool_calls: must be a non-empty array"
    for j, call in enumerate(calls):
        if not isinstance(call, dict) or call.get("type") != "function":
            return f"{where}.tool_calls.{j}.type: must be 'function'"
        if not isinstance(call.get("id"), str) or not call["id"]:
            return f"{where}.tool_calls.{j}.id: Field required"
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return f"{where}.tool_calls.{j}.function.name: Field required"
        if not isinstance(function.get("arguments"), str):
            return f"{where}.tool_calls.{j}.function.arguments: must be a JSON string"
    return None


def _messages_problem(messages: list[Any]) -> str | None:
    """Role, content and tool-call pairing rules of chat completions, in order."""
    pending: list[str] = []
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"{where}.role: must be one of {list(ROLES)}"
        role = message["role"]
        if role != "tool" and pending:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}"
            )
        if role in ("system", "developer"):
            problem = _content_problem(where, message.get("content"), parts=("text",))
        elif role == "user":
            problem = _content_problem(
                where, message.get("content"), parts=("text", "image_url", "input_audio", "file")
            )
        elif role == "assistant":
            problem = _assistant_problem(where, message, None)
            if problem is None:
                pending = [c["id"] for c in message.get("tool_calls") or ()]
        else:
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in pending:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    f"preceding message with 'tool_calls' ({where}.tool_call_id {call_id!r})"
                )
            pending.remove(call_id)
            problem = _content_problem(where, message.get("content"), parts=("text",))
        if problem:
            return problem
    return None


def _tools_problem(body: Body) -> str | None:
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: must be an array"
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or \
                    not isinstance(function, dict):
                return f"tools.{i}: must be {{'type': 'function', 'function': {{...}}}}"
            name = function.get("name")
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                return f"tools.{i}.function.name: must match '^[a-zA-Z0-9_-]{{1,64}}$'"
            if "parameters" in function and not isinstance(function["parameters"], dict):
                return f"tools.{i}.function.parameters: must be a JSON Schema object"
            if "input_schema" in function:
                return f"tools.{i}.function.input_schema: Unrecognized argument"
            names.add(name)
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if not tools:
        return "tool_choice: 'tool_choice' is only allowed when 'tools' are specified"
    if isinstance(choice, str):
        return None if choice in ("none", "auto", "required") else (
            f"tool_choice: {choice!r} is not one of 'none', 'auto', 'required'"
        )
    function = choice.get("function") if isinstance(choice, dict) else None
    if not isinstance(function, dict) or choice.get("type") != "function":
        return "tool_choice: must be a string or {'type': 'function', 'function': {'name': ...}}"
    if function.get("name") not in names:
        return f"tool_choice.function.name: no tool named {function.get('name')!r}"
    return None


def validate_chat_body(body: Any, *, strict: bool = True) -> str | None:
    """Why a chat-completions body would be refused (a 400's message), or None.

    Not strict: only what makes the request unanswerable (model, messages, token limit).
    """
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if key in body and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            return f"{key}: must be an integer of at least 1"
    if not strict:
        return None
    unknown = sorted(set(body) - CHAT_PARAMS)
    if unknown:
        return f"Unrecognized request argument supplied: {unknown[0]}"
    if body.get("stream"):
        return "stream: the loopback server does not stream"
    if body.get("n", 1) != 1:
        return "n: the loopback server answers one choice"
    temperature = body.get("temperature")
    if temperature is not None and not (
        isinstance(temperature, int | float) and 0 <= temperature <= 2
    ):
        return "temperature: must be a number between 0 and 2"
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            return "stop: must be a string or an array of strings"
        if len(stops) > MAX_STOP:
            return f"stop: at most {MAX_STOP} stop sequences"
    return _messages_problem(messages) or _tools_problem(body)


# ----------------------------------------------------------------------- answer shapes


def _from_blocks(blocks: list[Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """Messages API content blocks → (content, tool calls without ids)."""
    texts = [str(b.get("text", "")) for b in blocks if b.get("type") == "text"]
    calls = [
        {"name": b["name"], "arguments": b.get("input") or {}}
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    return ("".join(texts) if texts else None), calls


def _normalise(answer: Any) -> tuple[dict[str, Any], str | None, dict[str, Any] | None]:
    """A responder answer → (assistant message, finish_reason or None, usage override)."""
    if isinstance(answer, str):
        return {"content": answer}, None, None
    if isinstance(answer, list):
        content, calls = _from_blocks(answer)
        return {"content": content, "tool_calls": calls}, None, None
    if not isinstance(answer, dict):
        raise TypeError(f"responder returned {type(answer).__name__}")
    if answer.get("type") in ("text", "tool_use"):
        return _normalise([answer])
    message: dict[str, Any] = {}
    content = answer.get("content")
    if isinstance(content, list):
        text, calls = _from_blocks(content)
        message["content"] = text
        message["tool_calls"] = calls
    else:
        message["content"] = content if content is not None else answer.get("text")
    if "tool_calls" in answer:
        message["tool_calls"] = list(answer["tool_calls"])
    for key in ("reasoning_content", "reasoning", "refusal"):
        if key in answer:
            message[key] = answer[key]
    finish = answer.get("finish_reason")
    if finish is None and answer.get("stop_reason") == "max_tokens":
        finish = "length"
    return message, finish, answer.get("usage")


def build_completion(body: Body, answer: Any, completion_id: str) -> Body:
    """A full `chat.completion` object answering `body` with the responder's `answer`."""
    message, finish, usage = _normalise(answer)
    calls = []
    for i, call in enumerate(message.pop("tool_calls", None) or ()):
        function = call.get("function", call)
        arguments = function.get("arguments", {})
        calls.append({
            "id": call.get("id") or f"call_{completion_id[9:]}{i:02d}",
            "type": "function",
            "function": {
                "name": function["name"],
                "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
            },
        })
    out_message: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    if calls:
        out_message["tool_calls"] = calls
    for key in ("reasoning_content", "reasoning", "refusal"):
        if key in message:
            out_message[key] = message[key]
    output = (out_message["content"] or "") + "".join(c["function"]["arguments"] for c in calls)
    prompt = {k: body[k] for k in ("messages", "tools") if k in body}
    prompt_tokens, completion_tokens = count_tokens(prompt), count_tokens(output)
    if usage:
        prompt_tokens = int(usage.get("prompt_tokens", prompt_tokens))
        completion_tokens = int(usage.get("completion_tokens", completion_tokens))
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [{
            "index": 0,
            "message": out_message,
            "logprobs": None,
            "finish_reason": finish or ("tool_calls" if calls else "stop"),
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": None,
    }


def error_body(status: int, message: str) -> Body:
    """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    kind, code = _ERRORS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# ------------------------------------------------------------------------------ the app


class FakeOpenAIApi(LoopbackApi):
    """The handlers and state of one loopback chat-completions server (on its event loop)."""

    config: FakeOpenAIConfig

    def routes(self, app: web.Application) -> None:
        """The chat-completions and model-list endpoints."""
        app.router.add_post("/v1/chat/completions", self.create_completion)
        app.router.add_get("/v1/models", self.list_models)

    def _json(self, data: Body, status: int = 200,
              headers: Mapping[str, str] | None = None) -> web.Response:
        hdrs = {"x-request-id": self._next_id("req_"), **(headers or {})}
        return web.Response(body=json.dumps(data).encode(), status=status,
                            content_type="application/json", headers=hdrs)

    def _error(self, status: int, message: str,
               headers: Mapping[str, str] | None = None) -> web.Response:
        return self._json(error_body(status, message), status, headers)

    def _auth_error(self, request: web.Request) -> web.Response | None:
        """401 when the server was given a key and the request's bearer token is another."""
        if self.config.api_key is None:
            return None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and auth[7:] == self.config.api_key:
            return None
        return self._error(401, "Incorrect API key provided.")

    async def create_completion(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/chat/completions, counted while in flight (`Counters.max_in_flight`)."""
        counters = self.counters
        counters.in_flight += 1
        counters.max_in_flight = max(counters.max_in_flight, counters.in_flight)
        try:
            return await self._create_completion(request)
        finally:
            counters.in_flight -= 1

    async def _create_completion(self, request: web.Request) -> web.StreamResponse:
        counters = self.counters
        counters.total += 1
        counters.messages += 1
        counters.by_endpoint["chat.completions"] += 1
        if (denied := self._auth_error(request)) is not None:
            return denied
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return self._error(400, "request body must be a JSON object")
        digest = request_hash(body)
        attempt = counters.by_hash[digest]
        counters.by_hash[digest] += 1
        problem = (validate_chat_body(body, strict=self.config.strict)
                   or self._scripted_bad_request(body))
        if problem is not None:
            return self._error(400, problem)
        fault = self._fault(digest, attempt)
        if fault is not None:
            counters.faults[fault] += 1
            if fault != "slow":
                return await self._inject(fault, request)
        delay = self.config.slow_s if fault == "slow" else self.config.latency
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            completion = build_completion(
                body, self.config.responder(body), self._next_id("chatcmpl-")
            )
        except Exception as exc:  # a failing responder is a bug in the test: say so
            log.exception("loopback chat completions: the responder failed")
            return self._error(500, f"fake responder raised {type(exc).__name__}: {exc}")
        counters.succeeded_by_hash[digest] += 1
        return self._json(completion)

    async def _inject(self, fault: str, request: web.Request) -> web.StreamResponse:
        if fault == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if fault == "malformed":
            return web.Response(body=_MALFORMED_BODY, status=200,
                                content_type="application/json")
        status = 503 if fault == "529" else int(fault)
        headers: dict[str, str] = {}
        if status == 429:
            headers["retry-after"] = f"{self.config.retry_after:g}"
            if self.config.retry_after_ms:
                headers["retry-after-ms"] = f"{self.config.retry_after * 1000:g}"
        return self._error(status, _FAULT_MESSAGES[fault], headers)

    async def list_models(self, request: web.Request) -> web.Response:
        """GET /v1/models: one model, as vLLM lists the model it serves."""
        return self._json({"object": "list", "data": [
            {"id": "loopback", "object": "model", "created": 0, "owned_by": "welfare"}]})


class FakeOpenAIServer(FakeAnthropicServer):
    """A loopback chat-completions server in a background thread (or a child process).

    The same lifecycle and observation as `FakeAnthropicServer` (context manager, `counters()`,
    `reset()`, `configure()`); `base_url` is `http://127.0.0.1:<port>/v1`.
    """

    API = FakeOpenAIApi
    PATH = "/v1"
    NAME = "fake-openai"

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float = 0.0,
        fail_first: Mapping[str, int] | None = None,
        fault_rates: Mapping[str, float] | None = None,
        seed: int = 0,
        retry_after: float = 1.0,
        retry_after_ms: bool = False,
        slow_s: float = 30.0,
        bad_request_if: Predicate | None = None,
        api_key: str | None = None,
        strict: bool = True,
        process: bool = False,
    ) -> None:
        super().__init__(process=process)
        self.config = FakeOpenAIConfig(
            responder=responder or echo_responder,
            latency=latency,
            fail_first=dict(fail_first or {}),
            fault_rates=dict(fault_rates or {}),
            seed=seed,
            retry_after=retry_after,
            retry_after_ms=retry_after_ms,
            slow_s=slow_s,
            bad_request_if=bad_request_if,
            api_key=api_key,
            strict=strict,
        )


__all__ = [
    "CHAT_PARAMS",
    "FakeOpenAIApi",
    "FakeOpenAIConfig",
    "FakeOpenAIServer",
    "build_completion",
    "echo_responder",
    "error_body",
    "last_user_text",
    "validate_chat_body",
]
