"""AnthropicModel: a subject on the real Messages API, through `anthropic.AsyncAnthropic`.

The SDK's own retries are off (`max_retries=0`): the runner owns the one retry layer, so every
failure surfaces here at once as a `ModelError` whose `retryable`, `kind` and `retry_after` tell
the runner what to do. Large single-turn designs go through Message Batches (`submit_batch`,
`batch_status`, `batch_results`), joined back by `custom_id` only.

Two transports. `transport="sdk"` (the default) calls `client.messages.create`: the SDK builds,
sends and parses every request. `transport="direct"`, on a client this class built itself with a
static key or token, posts the same body with the client's own URL and headers over one aiohttp
session (`welfare.models.wire.JsonWire`) and reads the JSON as is: the same request on the wire
at a third of the SDK's per-request CPU (its request building, tracing and response models cost
~1 ms a call, which caps a 2-core machine well below what the API allows at high concurrency).
An injected client, or credentials the SDK resolves per request (profiles, token caches), always
go through `messages.create`.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import anthropic
import httpx2

from welfare.errors import ModelError, RetryableModelError
from welfare.models.base import Request, Response, ToolCall, Usage
from welfare.models.claude_models import EFFORTS, request_max_tokens
from welfare.models.wire import JsonWire

SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
"""Request fields `anthropic` 2.x no longer takes as keywords: its API version refuses them."""

DEFAULT_TRANSPORT = "sdk"
"""How requests are sent when the caller does not say: through `messages.create`."""

DEFAULT_MAX_CONNECTIONS = 1100
"""HTTP connections per client: above any concurrency the runner allows (1,024), so no request
waits for a connection."""

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
    500: "server_error",
    502: "server_error",
    503: "server_error",
    504: "server_error",
    529: "overloaded",
}
_RETRYABLE_STATUSES = frozenset({408, 409, 429})
"""Client-side statuses that may pass on a later attempt; every 5xx may too."""

_BATCH_ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_RETRYABLE_BATCH_ERRORS = frozenset(
    {"api_error", "overloaded_error", "rate_limit_error", "timeout_error"}
)


# ------------------------------------------------------------------------- error mapping


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms`, else `retry-after` (seconds or an HTTP date)."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            pass
    date = headers.get("retry-after")
    parsed = email.utils.parsedate_tz(date) if date else None
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def _status_error(exc: anthropic.APIStatusError) -> ModelError:
    """A ModelError for an HTTP error status, with the API's own message."""
    status = exc.status_code
    kind = _STATUS_KINDS.get(status, "server_error" if status >= 500 else "http_error")
    message = exc.api_message or exc.message
    if status >= 500 or status in _RETRYABLE_STATUSES:
        retry_after = parse_retry_after(exc.response.headers)
        return RetryableModelError(message, status=status, kind=kind, retry_after=retry_after)
    return ModelError(message, status=status, kind=kind)


def to_model_error(exc: BaseException) -> ModelError:
    """Translate any exception from a model call into the toolkit's ModelError taxonomy."""
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, anthropic.APITimeoutError):
        return RetryableModelError("the request timed out", kind="timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {type(cause).__name__}: {cause}" if cause else ""
        return RetryableModelError(f"connection failed{detail}", kind="connection")
    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc)
    if isinstance(exc, anthropic.APIResponseValidationError):
        return RetryableModelError(exc.message, status=exc.status_code, kind="malformed_response")
    if isinstance(exc, json.JSONDecodeError):
        return RetryableModelError(f"response is not JSON: {exc}", kind="malformed_response")
    if isinstance(exc, anthropic.CredentialsError) or "authentication method" in str(exc):
        return ModelError(
            f"no credentials: set ANTHROPIC_API_KEY or pass api_key ({exc})", kind="authentication"
        )
    if isinstance(exc, TimeoutError):
        return RetryableModelError("the request timed out", kind="timeout")
    if isinstance(exc, (OSError, httpx2.TransportError, aiohttp.ClientError)):
        return RetryableModelError(f"{type(exc).__name__}: {exc}", kind="connection")
    return ModelError(f"{type(exc).__name__}: {exc}", kind="client_error")


# ------------------------------------------------------------------------ response shapes


def _block_field(block: Any, name: str) -> Any:
    """A field of a content block, whether it is an SDK model or a plain dict."""
    return block.get(name) if isinstance(block, dict) else getattr(block, name, None)


def to_response(message: Any, *, latency_s: float = 0.0) -> Response:
    """A Response from an SDK `Message`; raises if the message is not one."""
    text_parts: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        kind = _block_field(block, "type")
        if kind == "text":
            text_parts.append(_block_field(block, "text") or "")
        elif kind == "tool_use":
            raw_input = _block_field(block, "input")
            calls.append(
                ToolCall(
                    id=str(_block_field(block, "id")),
                    name=str(_block_field(block, "name")),
                    input=dict(raw_input) if isinstance(raw_input, Mapping) else {},
                )
            )
    usage = message.usage
    raw = message.model_dump(mode="json", exclude_unset=True, warnings=False)
    return Response(
        text="".join(text_parts),
        tool_calls=tuple(calls),
        stop_reason=message.stop_reason,
        usage=Usage.from_api(usage),
        latency_s=latency_s,
        model=str(message.model or ""),
        raw=raw,
        content=tuple(_exact_blocks(raw.get("content", []))),
    )


def _exact_blocks(content: Any) -> list[dict[str, Any]]:
    """The content blocks as plain dicts, unchanged (to be sent back exactly as received)."""
    if not isinstance(content, list):
        raise TypeError("content is not a list of blocks")
    return [dict(block) for block in content]


def response_from_json(data: Mapping[str, Any], *, latency_s: float = 0.0) -> Response:
    """A Response from a Messages API `message` as parsed JSON (the wire path; no SDK models).

    Raises RetryableModelError(kind="malformed_response") when the JSON is not a message.
    """
    try:
        text_parts: list[str] = []
        calls: list[ToolCall] = []
        for block in data["content"]:
            kind = block["type"]
            if kind == "text":
                text_parts.append(str(block["text"]))
            elif kind == "tool_use":
                raw_input = block.get("input")
                calls.append(
                    ToolCall(
                        id=str(block["id"]),
                        name=str(block["name"]),
                        input=dict(raw_input) if isinstance(raw_input, Mapping) else {},
                    )
                )
        usage = data["usage"]
        return Response(
            text="".join(text_parts),
            tool_calls=tuple(calls),
            stop_reason=data.get("stop_reason"),
            usage=Usage.from_api(usage),
            latency_s=latency_s,
            model=str(data.get("model") or ""),
            raw=dict(data),
            content=tuple(_exact_blocks(data["content"])),
        )
    except Exception as exc:  # an unexpected shape is the server's fault, not ours
        raise RetryableModelError(
            f"unexpected response shape: {type(exc).__name__}: {exc}", kind="malformed_response"
        ) from exc


def _wire_status_error(status: int, body: bytes, headers: Mapping[str, str]) -> ModelError:
    """`_status_error` for the wire path: the API's message from the error body."""
    kind = _STATUS_KINDS.get(status, "server_error" if status >= 500 else "http_error")
    try:
        message = str(json.loads(body)["error"]["message"])
    except Exception:
        message = body[:200].decode("utf-8", "replace") or f"HTTP {status}"
    if status >= 500 or status in _RETRYABLE_STATUSES:
        retry_after = parse_retry_after(headers)
        return RetryableModelError(message, status=status, kind=kind, retry_after=retry_after)
    return ModelError(message, status=status, kind=kind)


def _wire(client: anthropic.AsyncAnthropic, timeout: float, limit: int) -> JsonWire:
    """The direct transport: POST /v1/messages with the SDK client's URL, headers and query."""
    return JsonWire(
        str(client.base_url).rstrip("/") + "/v1/messages",
        headers={k: v for k, v in client.default_headers.items() if isinstance(v, str)},
        query={k: str(v) for k, v in client.default_query.items()},
        timeout=timeout,
        limit=limit,
        status_error=_wire_status_error,
        transport_error=to_model_error,
        read=response_from_json,
    )


def _parsed(message: Any, latency_s: float) -> Response:
    """`to_response`, with a message the SDK could not make sense of as a retryable error."""
    try:
        return to_response(message, latency_s=latency_s)
    except Exception as exc:  # an unexpected shape is the server's fault, not ours
        raise RetryableModelError(
            f"unexpected response shape: {type(exc).__name__}: {exc}", kind="malformed_response"
        ) from exc


def _batch_item_error(result: Any) -> ModelError:
    """A ModelError for an errored, expired or canceled batch item."""
    kind = result.type
    if kind == "expired":
        return RetryableModelError(
            "the batch expired before this request ran", kind="batch_expired"
        )
    if kind == "canceled":
        return ModelError("the batch was canceled before this request ran", kind="batch_canceled")
    error = getattr(getattr(result, "error", None), "error", None)
    error_type = str(getattr(error, "type", None) or "api_error")
    message = f"{error_type}: {getattr(error, 'message', None) or 'batch request errored'}"
    status = _BATCH_ERROR_STATUS.get(error_type)
    cls = RetryableModelError if error_type in _RETRYABLE_BATCH_ERRORS else ModelError
    return cls(message, status=status, kind="batch_errored")


# ------------------------------------------------------------------------ prompt caching

CACHE_CONTROL = {"type": "ephemeral"}
"""A 5-minute cache breakpoint (the default lifetime, written at 1.25× the input price)."""


def cache_marks(params: dict[str, Any]) -> dict[str, Any]:
    """Put prompt-cache breakpoints on a request body, in place (and return it).

    The cache holds prefixes in the order tools → system → messages
    (https://platform.claude.com/docs/en/build-with-claude/prompt-caching, read 2026-12-07):

    - the system prompt (a text block with `cache_control`) caches tools and system: the
      judge's rubric and tool schema, a probe's shared system prompt; without a system
      prompt, the last tool carries the mark;
    - in a dialogue (three messages or more), the last block of the last message caches the
      whole conversation so far, which the next turn reads back at the cache-read price.

    A single-turn request marks nothing in its messages (nothing would read it again), and a
    prefix shorter than the model's minimum is simply not cached (the API does not fail).
    Thinking blocks never carry a mark. Two breakpoints at most (the API allows four).
    """
    system = params.get("system")
    if isinstance(system, str) and system:
        params["system"] = [{"type": "text", "text": system, "cache_control": CACHE_CONTROL}]
    elif params.get("tools"):
        tools = [dict(t) for t in params["tools"]]
        tools[-1]["cache_control"] = CACHE_CONTROL
        params["tools"] = tools
    messages = params.get("messages") or []
    if len(messages) >= 3:
        last = dict(messages[-1])
        content = last.get("content")
        blocks = ([{"type": "text", "text": content}] if isinstance(content, str)
                  else [dict(b) for b in content or []])
        if blocks and blocks[-1].get("type") not in ("thinking", "redacted_thinking") \
                and (blocks[-1].get("type") != "text" or blocks[-1].get("text")):
            blocks[-1]["cache_control"] = CACHE_CONTROL
            last["content"] = blocks
            params["messages"] = [*messages[:-1], last]
    return params


# ----------------------------------------------------------------------------- the model


def _default_client(
    api_key: str | None, base_url: str | None, timeout: float, max_connections: int
) -> anthropic.AsyncAnthropic:
    """An SDK client on aiohttp (faster than httpx2 under concurrency), with no SDK retries."""
    limits = httpx2.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    timeouts = httpx2.Timeout(timeout, connect=min(timeout, 10.0))
    http_client = anthropic.DefaultAioHttpClient(limits=limits, timeout=timeouts)
    return anthropic.AsyncAnthropic(
        api_key=api_key,
        base_url=base_url,
        timeout=timeouts,
        max_retries=0,
        http_client=http_client,
    )


class AnthropicModel:
    """A subject on the Anthropic Messages API; `generate` raises only ModelError.

    Use it on one event loop (its aiohttp connection pool belongs to the loop that first
    used it). Credentials the SDK cannot resolve raise ModelError(kind="authentication").

    The key comes from `api_key` or `ANTHROPIC_API_KEY`, the base URL from `base_url` or
    `ANTHROPIC_BASE_URL`. The key is held by the SDK client only, never in this object's repr.
    """

    def __init__(
        self,
        model_id: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 120.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        client: anthropic.AsyncAnthropic | None = None,
        transport: str | None = None,
        effort: str | None = None,
        thinking: str | None = None,
        prompt_cache: bool = True,
    ) -> None:
        transport = transport or DEFAULT_TRANSPORT
        if effort is not None and effort not in EFFORTS:
            raise ValueError(f"effort must be one of {', '.join(EFFORTS)}, not {effort!r}")
        if thinking not in (None, "adaptive", "disabled"):
            raise ValueError(f"thinking must be 'adaptive' or 'disabled', not {thinking!r}")
        self.effort = effort
        self.thinking = thinking
        self.prompt_cache = prompt_cache
        if transport not in ("sdk", "direct"):
            raise ValueError(f"transport must be 'sdk' or 'direct', not {transport!r}")
        if not model_id:
            raise ValueError("model_id must be a non-empty model name, e.g. claude-opus-5-5")
        self.model_id = model_id
        self._wire: JsonWire | None = None
        if client is None:
            try:
                client = _default_client(api_key, base_url, timeout, max_connections)
            except anthropic.AnthropicError as exc:  # e.g. a broken credentials profile
                raise to_model_error(exc) from exc
            if transport == "direct" and (client.api_key or client.auth_token) \
                    and client.custom_auth is None:
                self._wire = _wire(client, timeout, max_connections)
        else:
            client = client.with_options(max_retries=0)
        self._client = client

    def __repr__(self) -> str:
        return f"AnthropicModel(spec={self.spec!r}, base_url={self.base_url!r})"

    @property
    def spec(self) -> str:
        """`anthropic:<model_id>`."""
        return f"anthropic:{self.model_id}"

    @property
    def simulated(self) -> bool:
        """Always False: this is a real model."""
        return False

    @property
    def base_url(self) -> str:
        """Where requests go (from `base_url`, `ANTHROPIC_BASE_URL` or the SDK default)."""
        return str(self._client.base_url)

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        """The underlying SDK client (for advanced use; it holds the key)."""
        return self._client

    def prepare(self, request: Request) -> Request:
        """`request` with this subject's `effort` and `thinking` options filled in where the
        request leaves them unset; the runner hashes the prepared request, so answers given
        at one effort are never reused for another."""
        changes: dict[str, Any] = {}
        if request.effort is None and self.effort is not None:
            changes["effort"] = self.effort
        if request.thinking is None and self.thinking is not None:
            changes["thinking"] = {"type": self.thinking}
        return dataclasses.replace(request, **changes) if changes else request

    def _params(self, request: Request) -> dict[str, Any]:
        """The request body: `{"model": ..., **request.api_params()}` with

        - `max_tokens` raised to the floor of a model that thinks by default
          (`request_max_tokens`: thinking counts toward it, and a probe's short budget would
          leave no room for the answer);
        - prompt-cache breakpoints (`cache_marks`) unless `prompt_cache=False`.
        """
        request = self.prepare(request)
        params = {"model": self.model_id, **request.api_params()}
        params["max_tokens"] = request_max_tokens(self.model_id, request.max_tokens)
        if self.prompt_cache:
            cache_marks(params)
        return params

    def _create_kwargs(self, request: Request) -> dict[str, Any]:
        """`messages.create` keywords; sampling parameters the SDK no longer names go verbatim
        in `extra_body` (API version 2026-10-21 refuses them; older versions and some gateways
        accept them), so the request on the wire is exactly `_params(request)`."""
        params = self._params(request)
        extra = {name: params.pop(name) for name in SAMPLING_PARAMS if name in params}
        if extra:
            params["extra_body"] = extra
        return params

    async def generate(self, request: Request) -> Response:
        """One Messages API call; every failure becomes a ModelError (see `to_model_error`)."""
        if self._wire is not None:
            return await self._wire.post(self._params(request))
        start = time.monotonic()
        try:
            message = await self._client.messages.create(**self._create_kwargs(request))
        except Exception as exc:
            raise to_model_error(exc) from exc
        return _parsed(message, time.monotonic() - start)

    # -- Message Batches

    async def submit_batch(self, items: Sequence[tuple[str, Request]]) -> str:
        """Submit `(custom_id, request)` pairs as one Message Batch; returns the batch id."""
        requests = [{"custom_id": cid, "params": self._params(req)} for cid, req in items]
        try:
            batch = await self._client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        except Exception as exc:
            raise to_model_error(exc) from exc
        return batch.id

    async def batch_status(self, batch_id: str) -> dict[str, Any]:
        """The batch object as a dict: `processing_status`, `request_counts`, `results_url`, …"""
        try:
            batch = await self._client.messages.batches.retrieve(batch_id)
        except Exception as exc:
            raise to_model_error(exc) from exc
        return batch.model_dump(mode="json")

    async def batch_results(
        self, batch_id: str
    ) -> AsyncIterator[tuple[str, Response | ModelError]]:
        """Each item of an ended batch as `(custom_id, Response or ModelError)`, in any order.

        Failing to fetch or read the results file raises ModelError; a failed item is yielded.
        """
        try:
            decoder = await self._client.messages.batches.results(batch_id)
        except Exception as exc:
            raise to_model_error(exc) from exc
        try:
            async for item in decoder:
                yield item.custom_id, self._batch_item(item.result)
        except Exception as exc:
            raise to_model_error(exc) from exc
        finally:
            await decoder.close()

    @staticmethod
    def _batch_item(result: Any) -> Response | ModelError:
        if result.type != "succeeded":
            return _batch_item_error(result)
        try:
            response = _parsed(result.message, 0.0)
        except ModelError as exc:
            return exc
        # billed at the batch discount whether or not the message says `service_tier: batch`
        return dataclasses.replace(response, usage=dataclasses.replace(response.usage, batch=True))

    # -- lifecycle

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._wire is not None:
            await self._wire.close()
        await self._client.close()

    async def __aenter__(self) -> AnthropicModel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
