"""OpenAIModel: a subject on any OpenAI-compatible chat-completions server, through `openai`.

One provider reaches open-weight models served by vLLM, Ollama or llama.cpp, and OpenAI's own
API: they all speak POST `{base_url}/chat/completions`. A subject table names it

    { spec = "openai:Qwen/Qwen3-8B", base_url = "http://localhost:8000/v1",
      api_key_env = "VLLM_API_KEY" }

and without `base_url` / `api_key_env` the SDK's own `OPENAI_BASE_URL` and `OPENAI_API_KEY`
apply. The toolkit's Request is the Messages API shape; this module translates it to a chat
completion body (system → a `system` message, `tool_use` blocks → `tool_calls`, `tool_result`
blocks → `tool` messages, tools → `function` tools, `tool_choice`, `max_tokens`, `stop`) and the
completion back (text, tool calls, usage, `finish_reason` → the Messages API stop reasons).

Reasoning that a server returns apart from the answer (`reasoning_content`, as vLLM's reasoning
parsers and DeepSeek return it, or `reasoning`, vLLM's newer name) never enters
`Response.text`, which is what parsers and coders read; a leading `<think>…</think>` in the
content (a server run without a reasoning parser) is split off the same way. The reasoning is
kept in the stored raw payload; `reasoning_of(response)` returns it.

The SDK's own retries are off (`max_retries=0`): the runner owns the one retry layer, and every
failure surfaces as a `ModelError` with the same kinds as the Anthropic provider (`rate_limit`,
`server_error`, `timeout`, `connection`, `bad_request`, …). Two transports, as for Anthropic:
`"sdk"` calls `client.chat.completions.create`; `"direct"` posts the same body with the
client's URL and headers over one aiohttp session and reads the JSON as is (the SDK's request
building and response models cost CPU that caps a 2-core machine at high concurrency).

Sources (read 2026-12-07): the OpenAI chat-completions reference (tools, `tool_calls`,
`finish_reason` ∈ stop/length/tool_calls/content_filter, `usage.prompt_tokens` /
`completion_tokens`), https://platform.openai.com/docs/api-reference/chat ; vLLM's reasoning
outputs, https://docs.vllm.ai/en/v0.11.2/features/reasoning_outputs/ (`reasoning_content`,
renamed `reasoning`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from welfare.errors import ModelError, RetryableModelError
from welfare.models.base import Message, Request, Response, ToolCall, Usage, canonical_json
from welfare.models.wire import JsonWire

try:  # an optional extra: `pip install 'welfare[openai]'`
    import openai
except ImportError:  # pragma: no cover - exercised only where the extra is missing
    openai = None  # type: ignore[assignment]

DEFAULT_TRANSPORT = "sdk"
"""How requests are sent when the caller does not say: through `chat.completions.create`."""

DEFAULT_MAX_CONNECTIONS = 1100
"""HTTP connections per client: above any concurrency the runner allows (1,024)."""

STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
"""Chat-completions `finish_reason` → the Messages API `stop_reason` the probes read."""

TOOL_CHOICES: dict[str, str] = {"auto": "auto", "any": "required", "none": "none"}
"""Messages API `tool_choice.type` → chat-completions `tool_choice` (a named tool is an object)."""

_STATUS_KINDS: dict[int, str] = {
    400: "bad_request",
    401: "authentication",
    402: "billing",
    403: "permission",
    404: "not_found",
    408: "timeout",
    409: "conflict",
    413: "request_too_large",
    422: "unprocessable",
    429: "rate_limit",
}
_RETRYABLE_STATUSES = frozenset({408, 409, 429})
"""Client-side statuses that may pass on a later attempt; every 5xx may too."""

_THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)


def _require_sdk() -> Any:
    if openai is None:
        raise ModelError(
            "openai: subjects need the `openai` package: pip install 'welfare[openai]'",
            kind="missing_dependency",
        )
    return openai


# ------------------------------------------------------------------------- error mapping


def _error_message(body: Any, fallback: str) -> tuple[str, str | None]:
    """The server's message and error code from an error body in either common shape.

    OpenAI nests it (`{"error": {"message", "type", "code"}}`); vLLM's older servers put it at
    the top (`{"object": "error", "message": ..., "code": 400}`).
    """
    inner = body.get("error", body) if isinstance(body, Mapping) else None
    if isinstance(inner, Mapping) and inner.get("message"):
        code = inner.get("code")
        return str(inner["message"]), str(code) if isinstance(code, str) else None
    if isinstance(inner, str) and inner:
        return inner, None
    return fallback, None


def status_error(
    status: int, message: str, headers: Mapping[str, str] | None, code: str | None = None
) -> ModelError:
    """A ModelError for an HTTP error status.

    A 429 whose code is `insufficient_quota` is a billing problem no retry fixes.
    """
    from welfare.models.anthropic import parse_retry_after

    if status == 429 and code == "insufficient_quota":
        return ModelError(message, status=status, kind="billing")
    kind = _STATUS_KINDS.get(status, "server_error" if status >= 500 else "http_error")
    if status >= 500 or status in _RETRYABLE_STATUSES:
        retry_after = parse_retry_after(headers)
        return RetryableModelError(message, status=status, kind=kind, retry_after=retry_after)
    return ModelError(message, status=status, kind=kind)


def to_model_error(exc: BaseException) -> ModelError:
    """Translate any exception from a chat-completions call into the ModelError taxonomy."""
    if isinstance(exc, ModelError):
        return exc
    if openai is not None:
        if isinstance(exc, openai.APITimeoutError):
            cause = exc.__cause__ or exc.__context__
            if cause is not None and "disconnect" in str(cause).lower():
                # the SDK's aiohttp adapter reports a dropped connection as a timeout
                return RetryableModelError(f"connection failed: {cause}", kind="connection")
            return RetryableModelError("the request timed out", kind="timeout")
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f": {type(cause).__name__}: {cause}" if cause else ""
            return RetryableModelError(f"connection failed{detail}", kind="connection")
        if isinstance(exc, openai.APIStatusError):
            body = exc.body
            message, code = _error_message(body, exc.message)
            if code is None:
                code = exc.code if isinstance(exc.code, str) else None
            return status_error(exc.status_code, message, exc.response.headers, code)
        if isinstance(exc, openai.APIResponseValidationError):
            return RetryableModelError(
                exc.message, status=exc.status_code, kind="malformed_response"
            )
        if isinstance(exc, openai.OpenAIError) and "credentials" in str(exc).lower():
            return ModelError(
                "no credentials: set OPENAI_API_KEY, or api_key_env on the subject (a local "
                f"server that checks no key takes any value, e.g. EMPTY) ({exc})",
                kind="authentication",
            )
    if isinstance(exc, json.JSONDecodeError):
        return RetryableModelError(f"response is not JSON: {exc}", kind="malformed_response")
    if isinstance(exc, TimeoutError):
        return RetryableModelError("the request timed out", kind="timeout")
    if isinstance(exc, (OSError, aiohttp.ClientError)):
        return RetryableModelError(f"{type(exc).__name__}: {exc}", kind="connection")
    if type(exc).__name__ in ("TransportError", "ConnectError", "ReadError", "RemoteProtocolError"):
        return RetryableModelError(f"{type(exc).__name__}: {exc}", kind="connection")
    return ModelError(f"{type(exc).__name__}: {exc}", kind="client_error")


# ------------------------------------------------------------------------ request shapes


def _block_text(content: Any) -> str:
    """The text of a `tool_result`'s content: a string, or its text blocks joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", "")) for b in content if isinstance(b, Mapping) and
            b.get("type") == "text"
        )
    return "" if content is None else canonical_json(content)


def _image_part(block: Mapping[str, Any]) -> dict[str, Any]:
    """A Messages API image block as a chat-completions `image_url` part."""
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif source.get("type") == "url":
        url = str(source.get("url", ""))
    else:
        raise ModelError(f"image source {source.get('type')!r} has no chat-completions form",
                         kind="bad_request")
    return {"type": "image_url", "image_url": {"url": url}}


def _user_messages(content: Any) -> list[dict[str, Any]]:
    """One Messages API user message → `tool` messages (its tool results) then a user message.

    Chat completions needs each tool result as a `tool` message right after the assistant's
    `tool_calls`, so tool results go first and the user's own text, if any, after them.
    """
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type")
        if kind == "tool_result":
            text = _block_text(block.get("content"))
            if block.get("is_error"):
                text = f"Error: {text}"
            tools.append(
                {"role": "tool", "tool_call_id": str(block["tool_use_id"]), "content": text}
            )
        elif kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append(_image_part(block))
        else:
            raise ModelError(f"a user block of type {kind!r} has no chat-completions form",
                             kind="bad_request")
    if not parts:
        return tools
    if all(p["type"] == "text" for p in parts):
        return [*tools, {"role": "user", "content": "\n".join(p["text"] for p in parts)}]
    return [*tools, {"role": "user", "content": parts}]


def _assistant_message(content: Any) -> dict[str, Any]:
    """One Messages API assistant message → a chat-completions assistant message.

    Thinking blocks are the model's own earlier reasoning and are not sent back.
    """
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append({
                "id": str(block["id"]),
                "type": "function",
                "function": {
                    "name": str(block["name"]),
                    "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
                },
            })
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise ModelError(f"an assistant block of type {kind!r} has no chat-completions form",
                             kind="bad_request")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def chat_messages(system: str | None, messages: tuple[Message, ...] | list[Message]) -> list[
        dict[str, Any]]:
    """The Messages API dialogue (system prompt + messages) as chat-completions messages."""
    out: list[dict[str, Any]] = []
    if system is not None:
        out.append({"role": "system", "content": system})
    for message in messages:
        role = message.get("role")
        if role == "user":
            out.extend(_user_messages(message.get("content", "")))
        elif role == "assistant":
            out.append(_assistant_message(message.get("content", "")))
        else:
            raise ModelError(f"message role {role!r} is neither user nor assistant",
                             kind="bad_request")
    return out


def chat_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A Messages API tool (`name`, `description`, `input_schema`) as a `function` tool."""
    function: dict[str, Any] = {"name": str(tool["name"])}
    if tool.get("description"):
        function["description"] = str(tool["description"])
    function["parameters"] = dict(tool.get("input_schema") or {"type": "object", "properties": {}})
    return {"type": "function", "function": function}


def chat_tool_choice(choice: Mapping[str, Any]) -> str | dict[str, Any]:
    """A Messages API `tool_choice` as the chat-completions one."""
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": str(choice["name"])}}
    if kind in TOOL_CHOICES:
        return TOOL_CHOICES[str(kind)]
    raise ModelError(f"tool_choice {choice!r} has no chat-completions form", kind="bad_request")


def chat_body(model_id: str, request: Request, *, max_tokens_field: str = "max_tokens") -> dict[
        str, Any]:
    """The chat-completions request body for `request` (never its metadata)."""
    body: dict[str, Any] = {
        "model": model_id,
        "messages": chat_messages(request.system, request.messages),
        max_tokens_field: request.max_tokens,
    }
    if request.tools:
        body["tools"] = [chat_tool(t) for t in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = chat_tool_choice(request.tool_choice)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.stop_sequences:
        body["stop"] = list(request.stop_sequences)
    return body


# ----------------------------------------------------------------------- response shapes


def split_reasoning(message: Mapping[str, Any]) -> tuple[str, str]:
    """(reasoning, visible text) of a chat-completions message.

    Reasoning is `reasoning_content` or `reasoning` when the server returns it apart, else a
    leading `<think>…</think>` in the content; the visible text never holds it.
    """
    content = message.get("content")
    text = content if isinstance(content, str) else _block_text(content)
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    if not isinstance(reasoning, str):
        reasoning = canonical_json(reasoning)
    match = _THINK.match(text)
    if match:
        inline = match.group(1).strip()
        reasoning = f"{reasoning}\n{inline}".strip() if reasoning else inline
        text = text[match.end():]
    return reasoning, text


def _tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments (a JSON string on the wire) as a dict; {} if not an object."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def response_from_json(data: Mapping[str, Any], *, latency_s: float = 0.0) -> Response:
    """A Response from a chat completion as parsed JSON (both transports end here).

    Raises RetryableModelError(kind="malformed_response") when the JSON is not a completion.
    """
    try:
        choice = data["choices"][0]
        message = choice["message"]
        _, text = split_reasoning(message)
        calls = tuple(
            ToolCall(
                id=str(call.get("id") or f"call_{i}"),
                name=str(call["function"]["name"]),
                input=_tool_input(call["function"].get("arguments")),
            )
            for i, call in enumerate(message.get("tool_calls") or ())
        )
        finish = choice.get("finish_reason")
        stop = "tool_use" if calls else STOP_REASONS.get(str(finish), finish)
        usage = data.get("usage") or {}
        return Response(
            text=text,
            tool_calls=calls,
            stop_reason=stop,
            usage=Usage(int(usage.get("prompt_tokens") or 0),
                        int(usage.get("completion_tokens") or 0)),
            latency_s=latency_s,
            model=str(data.get("model") or ""),
            raw=dict(data),
        )
    except Exception as exc:  # an unexpected shape is the server's fault, not ours
        raise RetryableModelError(
            f"unexpected response shape: {type(exc).__name__}: {exc}", kind="malformed_response"
        ) from exc


def reasoning_of(response: Response) -> str:
    """The reasoning a server returned with this response, apart from its text ("" if none)."""
    try:
        message = response.raw["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return ""
    return split_reasoning(message)[0]


# ----------------------------------------------------------------------------- transport


def _wire_status_error(status: int, payload: bytes, headers: Mapping[str, str]) -> ModelError:
    """`status_error` for the wire path: the server's message and code from the error body."""
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = None
    fallback = payload[:200].decode("utf-8", "replace") or f"HTTP {status}"
    message, code = _error_message(parsed, fallback)
    return status_error(status, message, headers, code)


def _wire(client: Any, timeout: float, limit: int) -> JsonWire:
    """The direct transport: POST {base_url}/chat/completions with the client's headers."""
    headers = {k: v for k, v in client.default_headers.items() if isinstance(v, str)}
    headers.update({k: v for k, v in client.auth_headers.items() if isinstance(v, str)})
    return JsonWire(
        str(client.base_url).rstrip("/") + "/chat/completions",
        headers=headers,
        query={k: str(v) for k, v in client.default_query.items()},
        timeout=timeout,
        limit=limit,
        status_error=_wire_status_error,
        transport_error=to_model_error,
        read=response_from_json,
    )


def _default_client(
    api_key: str | None, base_url: str | None, timeout: float, max_connections: int
) -> Any:
    """An SDK client on aiohttp (faster than httpx under concurrency), with no SDK retries."""
    sdk = _require_sdk()
    import httpx2

    limits = httpx2.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    timeouts = httpx2.Timeout(timeout, connect=min(timeout, 10.0))
    http_client = sdk.DefaultAioHttpClient(limits=limits, timeout=timeouts)
    return sdk.AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=timeouts,
        max_retries=0,
        http_client=http_client,
    )


# ----------------------------------------------------------------------------- the model


class OpenAIModel:
    """A subject on an OpenAI-compatible chat-completions server; `generate` raises only
    ModelError.

    The key comes from `api_key` (the registry passes the value of the subject's
    `api_key_env`) or `OPENAI_API_KEY`, the base URL from `base_url` or `OPENAI_BASE_URL`
    (vLLM's is `http://host:8000/v1`, Ollama's `http://host:11434/v1`). `max_tokens_field` is
    the body key the token limit goes in: `max_tokens`, which vLLM, Ollama and llama.cpp read,
    or `max_completion_tokens`, which OpenAI's reasoning models require. The key is held by the
    SDK client only, never in this object's repr. Use it on one event loop.
    """

    def __init__(
        self,
        model_id: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 120.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        client: Any = None,
        transport: str | None = None,
        max_tokens_field: str = "max_tokens",
    ) -> None:
        transport = transport or DEFAULT_TRANSPORT
        if transport not in ("sdk", "direct"):
            raise ValueError(f"transport must be 'sdk' or 'direct', not {transport!r}")
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise ValueError("max_tokens_field must be 'max_tokens' or 'max_completion_tokens'")
        if not model_id:
            raise ValueError("model_id must be a non-empty model name, e.g. Qwen/Qwen3-8B")
        self.model_id = model_id
        self.max_tokens_field = max_tokens_field
        self._wire: JsonWire | None = None
        if client is None:
            try:
                client = _default_client(api_key, base_url, timeout, max_connections)
            except ModelError:
                raise
            except Exception as exc:  # e.g. no key anywhere: the SDK refuses to build
                raise to_model_error(exc) from exc
            if transport == "direct" and isinstance(client.api_key, str):
                self._wire = _wire(client, timeout, max_connections)
        else:
            client = client.with_options(max_retries=0)
        self._client = client

    def __repr__(self) -> str:
        return f"OpenAIModel(spec={self.spec!r}, base_url={self.base_url!r})"

    @property
    def spec(self) -> str:
        """`openai:<model_id>`."""
        return f"openai:{self.model_id}"

    @property
    def simulated(self) -> bool:
        """Always False: this is a real model."""
        return False

    @property
    def base_url(self) -> str:
        """Where requests go (from `base_url`, `OPENAI_BASE_URL` or the SDK default)."""
        return str(self._client.base_url)

    @property
    def client(self) -> Any:
        """The underlying `openai.AsyncOpenAI` client (for advanced use; it holds the key)."""
        return self._client

    def body(self, request: Request) -> dict[str, Any]:
        """The chat-completions body this model sends for `request`."""
        return chat_body(self.model_id, request, max_tokens_field=self.max_tokens_field)

    async def generate(self, request: Request) -> Response:
        """One chat completion; every failure becomes a ModelError (see `to_model_error`)."""
        body = self.body(request)
        if self._wire is not None:
            return await self._wire.post(body)
        start = time.monotonic()
        try:
            completion = await self._client.chat.completions.create(**body)
            data = completion.model_dump(mode="json", exclude_unset=True, warnings=False)
        except Exception as exc:
            raise to_model_error(exc) from exc
        return response_from_json(data, latency_s=time.monotonic() - start)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._wire is not None:
            await self._wire.close()
        await self._client.close()

    async def __aenter__(self) -> OpenAIModel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
