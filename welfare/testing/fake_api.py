"""A loopback Anthropic Messages API: an aiohttp server on 127.0.0.1 for tests and benchmarks.

It speaks POST /v1/messages and the Message Batches endpoints with the real API's shapes (error
bodies, status codes, `request-id` headers, `msg_` ids, batch objects), answers through a
pluggable responder, injects faults (429/529/500/503, dropped connections, slow and malformed
answers, 400s) and counts every request by the SHA-256 of its canonical JSON body.

    with FakeAnthropicServer(lambda body: "A", fail_first={"429": 1}) as server:
        model = AnthropicModel("claude-test", api_key="test", base_url=server.base_url)
        ...
        assert max(server.counters().by_hash.values()) == 2

It runs in a background thread (default) or, with `process=True`, in a child process so that a
benchmark's client and server do not share one interpreter (the responder and predicates must
then be picklable: module-level functions or `functools.partial` of them).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import multiprocessing
import random
import re
import socket
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web

from welfare.models.base import canonical_json
from welfare.models.claude_models import ClaudeModel, lookup

log = logging.getLogger(__name__)

Body = dict[str, Any]
Responder = Callable[[Body], Any]
"""Maps a Messages request body to an answer: a str, a content block, blocks, or a message."""

Predicate = Callable[[Body], bool | str | None]
"""Says whether a request is invalid; a str return value becomes the 400's error message."""

API_VERSION = "2026-10-21"
"""The `anthropic-version` from which the API refuses temperature, top_p and top_k."""

SAMPLING_PARAMS = ("temperature", "top_p", "top_k")

MAX_BATCH_REQUESTS = 100_000
"""The API's limit on requests in one Message Batch."""

FAULT_KINDS = ("429", "529", "500", "503", "drop", "slow", "malformed")
"""Fault names accepted by `fail_first` and `fault_rates`."""

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
_ERROR_MESSAGES = {
    "429": "Number of request tokens has exceeded your per-minute rate limit (fake).",
    "529": "Overloaded",
    "500": "Internal server error",
    "503": "Service unavailable",
}
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_MALFORMED_BODY = b'{"id": "msg_truncated", "type": "message", "content": [{"type": "te'


# --------------------------------------------------------------------------- responders


def request_hash(body: Body) -> str:
    """SHA-256 of a request body's canonical JSON: the key of `Counters.by_hash`."""
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def text(answer: str, *, stop_reason: str = "end_turn") -> Body:
    """A responder answer: one text block."""
    return {"content": [{"type": "text", "text": answer}], "stop_reason": stop_reason}


def tool_use(name: str, input: Mapping[str, Any] | None = None, *, text: str = "") -> Body:
    """A responder answer: a call to tool `name` (optionally after some text)."""
    blocks: list[Body] = [{"type": "text", "text": text}] if text else []
    blocks.append({"type": "tool_use", "name": name, "input": dict(input or {})})
    return {"content": blocks, "stop_reason": "tool_use"}


def last_user_text(body: Body) -> str:
    """The text of the last user message of a request body (text blocks joined)."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content", "")
            if isinstance(content, str):
                return content
            return "".join(b.get("text", "") for b in content if b.get("type") == "text")
    return ""


def echo_responder(body: Body) -> Body:
    """The default responder: `echo: <last user text>`, deterministic."""
    return text(f"echo: {last_user_text(body)}")


# ------------------------------------------------------------------------------ config


@dataclass(frozen=True)
class FakeApiConfig:
    """Everything that decides the server's behaviour; picklable for `process=True`."""

    responder: Responder = echo_responder
    latency: float = 0.0
    fail_first: Mapping[str, int] = field(default_factory=dict)
    fault_rates: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    retry_after: float = 1.0
    retry_after_ms: bool = False
    slow_s: float = 30.0
    bad_request_if: Predicate | None = None
    batch_delay: float = 0.0
    batch_errored: float = 0.0
    batch_expired: float = 0.0
    batch_canceled: float = 0.0
    api_key: str | None = None
    strict: bool = False
    """Enforce the documented rules of the model each request names (see `_strict_problem`),
    return thinking blocks for thinking models and report prompt-cache tokens."""

    def __post_init__(self) -> None:
        unknown = (set(self.fail_first) | set(self.fault_rates)) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if sum(self.fault_rates.values()) > 1.0:
            raise ValueError("fault_rates sum to more than 1")
        if self.batch_errored + self.batch_expired + self.batch_canceled > 1.0:
            raise ValueError("batch_errored + batch_expired + batch_canceled exceed 1")


@dataclass
class Counters:
    """What the server has seen. `by_hash` counts Messages calls (direct or batched) per body.

    `succeeded_by_hash` counts answers delivered (200s and succeeded batch items): a value
    above 1 means a request whose answer had already been delivered was paid for again.
    `max_in_flight` is the most POST /v1/messages handled at once (a client's real concurrency).
    """

    total: int = 0
    messages: int = 0
    by_hash: Counter[str] = field(default_factory=Counter)
    succeeded_by_hash: Counter[str] = field(default_factory=Counter)
    by_endpoint: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    batch_items: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    bad_requests: Counter[str] = field(default_factory=Counter)
    """400s (direct and batched) by their message's first 80 characters."""
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Counters:
        return cls(**{k: Counter(v) if isinstance(v, dict) else v for k, v in data.items()})


def _plain(value: Any) -> Any:
    """A counter as a plain dict (JSON-ready); other values unchanged."""
    return dict(value) if isinstance(value, Counter) else value


# ----------------------------------------------------------------------- message shapes


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from its parts: faults independent of arrival order."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def count_tokens(value: Any) -> int:
    """The fake's token count: a token per 4 characters (of canonical JSON unless a str), min 1.

    Input tokens count `{system, messages, tools}` of the body; output tokens the answer's text
    plus the canonical JSON of its tool inputs.
    """
    return max(1, math.ceil(len(value if isinstance(value, str) else canonical_json(value)) / 4))


def _blocks(answer: Any) -> tuple[list[Body], str | None, Body]:
    """Normalise a responder answer into (content blocks, stop_reason or None, extra fields)."""
    if isinstance(answer, str):
        return [{"type": "text", "text": answer}], None, {}
    if isinstance(answer, list):
        return list(answer), None, {}
    if not isinstance(answer, dict):
        raise TypeError(f"responder returned {type(answer).__name__}")
    if answer.get("type") in ("text", "tool_use"):
        return [answer], None, {}
    if "content" in answer:
        extra = {k: v for k, v in answer.items() if k not in ("content", "stop_reason")}
        content = answer["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        return list(blocks), answer.get("stop_reason"), extra
    if "text" in answer:
        return [{"type": "text", "text": answer["text"]}], answer.get("stop_reason"), {}
    raise TypeError(f"responder answer has no content: {sorted(answer)}")


def build_message(body: Body, answer: Any, message_id: str) -> Body:
    """A full Messages API `message` object answering `body` with the responder's `answer`."""
    blocks, stop_reason, extra = _blocks(answer)
    content = []
    for i, block in enumerate(blocks):
        if block.get("type") == "tool_use":
            block = {"id": f"toolu_{message_id[4:]}{i:02d}", "input": {}, **block}
        content.append(block)
    has_tool = any(b.get("type") == "tool_use" for b in content)
    output = "".join(
        b.get("text", "") if b.get("type") == "text" else canonical_json(b.get("input"))
        for b in content
    )
    prompt = {k: body[k] for k in ("system", "messages", "tools") if k in body}
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if has_tool else "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": count_tokens(prompt), "output_tokens": count_tokens(output)},
    }
    message.update(extra)
    return message


def error_body(status: int, message: str, request_id: str) -> Body:
    """The API's error shape: {"type": "error", "error": {"type": ..., "message": ...}}."""
    error_type = _ERROR_TYPES.get(status, "api_error")
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


def _validate_messages_body(body: Any, api_version: str = API_VERSION) -> str | None:
    """The few checks the real API makes that catch client bugs; returns the problem.

    Like the real API from version 2026-10-21 on, sampling parameters are refused outright.
    """
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if api_version >= API_VERSION:
        for name in SAMPLING_PARAMS:
            if name in body:
                return f"{name}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    return None


def _api_version(request: web.Request) -> str:
    """The request's `anthropic-version` (the newest when absent)."""
    return request.headers.get("anthropic-version", API_VERSION)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------- strict mode
#
# With `strict=True` the server enforces what the documentation (read 2026-12-07, see
# `welfare.models.claude_models`) says the API refuses, for the model the body names: a client
# that passes the strict server passes the rules the real API applies to that model.

_SIGNING_KEY = b"fake-anthropic-thinking-signature"
STRICT_THINKING_TOKENS = 24
"""Output tokens the strict server bills for each (omitted) thinking block it returns."""


def _content_blocks(content: Any) -> list[Body]:
    """A message's content as blocks (a string is one text block), as the API renders it."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _uncached(value: Any) -> Any:
    """`value` without `cache_control` markers and with string contents as text blocks:
    the form prefixes are compared and signed in (markers move from request to request)."""
    if isinstance(value, dict):
        out = {k: _uncached(v) for k, v in value.items() if k != "cache_control"}
        if "role" in out and "content" in value:
            out["content"] = [_uncached(b) for b in _content_blocks(value["content"])]
        return out
    if isinstance(value, list):
        return [_uncached(v) for v in value]
    return value


def thinking_signature(model: str, prefix: list[Any], block: Body) -> str:
    """The signature the strict server gives a thinking block: bound to the model, the
    conversation before the turn, and the block's own content (so any change breaks it)."""
    payload = {"model": model, "prefix": _uncached(prefix),
               "block": {k: v for k, v in block.items() if k not in ("signature", "data")}}
    digest = hmac.new(_SIGNING_KEY, canonical_json(payload).encode(), hashlib.sha256)
    return digest.hexdigest()


def _redacted_data(model: str, prefix: list[Any]) -> str:
    return "redacted:" + thinking_signature(model, prefix, {"type": "redacted_thinking"})


def _strict_problem(body: Body, row: ClaudeModel) -> str | None:
    """The first documented rule `body` breaks for the model of `row`, as the API words it."""
    model = str(body["model"])
    if row.max_output_tokens is not None and body["max_tokens"] > row.max_output_tokens:
        return (f"max_tokens: {body['max_tokens']} > {row.max_output_tokens}, which is the "
                f"maximum allowed number of output tokens for {model}")
    for name in SAMPLING_PARAMS:
        if name in body and not row.sampling_params:
            return f"`{name}` is deprecated for this model."
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and row.thinking == "always" \
            and thinking.get("type") in ("disabled", "enabled"):
        return (f'"thinking.type.{thinking["type"]}" is not supported for this model. Use '
                '"thinking.type.adaptive" and "output_config.effort" to control thinking '
                'behavior.')
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and effort not in row.efforts:
        return f"output_config.effort: {effort!r} is not supported for this model"
    choice = body.get("tool_choice") or {}
    if choice.get("type") in ("any", "tool") and not row.forced_tool_choice:
        return ("tool_choice: forced tool use is not supported for this model; use "
                "tool_choice {\"type\": \"auto\"} and say in the prompt which tool to call")
    if choice.get("type") == "tool" and choice.get("name") not in {
            t.get("name") for t in body.get("tools") or []}:
        return f"tool_choice.name: no tool named {choice.get('name')!r}"
    return _cache_control_problem(body) or _messages_problem(body, row)


def _breakpoints(body: Body) -> list[tuple[int, Any]]:
    """(index in the flattened prompt, block) of every block that carries cache_control."""
    return [(i, b) for i, b in enumerate(_flat_prompt(body))
            if isinstance(b, dict) and "cache_control" in b]


def _flat_prompt(body: Body) -> list[Any]:
    """The prompt in the order it is cached: tools, then system blocks, then each message's
    blocks (tagged with their role), cache_control markers kept."""
    flat: list[Any] = list(body.get("tools") or [])
    system = body.get("system")
    if isinstance(system, str):
        flat.append({"type": "text", "text": system})
    elif isinstance(system, list):
        flat.extend(system)
    for message in body.get("messages") or []:
        for block in _content_blocks(message.get("content")):
            flat.append({**block, "_role": message.get("role")})
    return flat


def _cache_control_problem(body: Body) -> str | None:
    marks = _breakpoints(body)
    if len(marks) > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {len(marks)}."
    for _, block in marks:
        if (block.get("cache_control") or {}).get("type") != "ephemeral":
            return "cache_control.type: Input should be 'ephemeral'"
    return None


def _messages_problem(body: Body, row: ClaudeModel) -> str | None:
    """Empty content, tool_use without its tool_result, altered or foreign thinking blocks."""
    model = str(body["model"])
    messages = body["messages"]
    for i, message in enumerate(messages):
        content = message.get("content")
        if content == "" or content == [] or content is None:
            return (f"messages.{i}: all messages must have non-empty content except for the "
                    "optional final assistant message")
        blocks = _content_blocks(content)
        for j, block in enumerate(blocks):
            if block.get("type") == "text" and not str(block.get("text", "")).strip():
                return f"messages.{i}.content.{j}: text content blocks must be non-empty"
        if message.get("role") != "assistant":
            continue
        for j, block in enumerate(blocks):
            kind = block.get("type")
            if kind == "thinking":
                expected = thinking_signature(model, messages[:i], block)
                if block.get("signature") != expected:
                    return (f"messages.{i}.content.{j}: Invalid `signature` in `thinking` "
                            "block (altered, or from another model or conversation)")
            elif kind == "redacted_thinking" and \
                    block.get("data") != _redacted_data(model, messages[:i]):
                return f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
        uses = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
        if uses and row.thinks_by_default and blocks[0].get("type") not in (
                "thinking", "redacted_thinking"):
            return (f"messages.{i}.content.0: Expected `thinking` or `redacted_thinking`, but "
                    "found `" + str(blocks[0].get("type")) + "`. When thinking is enabled, an "
                    "assistant message with tool use must start with its thinking blocks, "
                    "passed back unchanged")
        if uses and i + 1 < len(messages):
            following = messages[i + 1]
            results = {b.get("tool_use_id") for b in _content_blocks(following.get("content"))
                       if b.get("type") == "tool_result"}
            missing = [u for u in uses if u not in results]
            if following.get("role") != "user" or missing:
                return (f"messages.{i + 1}: `tool_use` ids were found without `tool_result` "
                        f"blocks immediately after: {', '.join(map(str, missing or uses))}. "
                        "Each `tool_use` block must have a corresponding `tool_result` block "
                        "in the next message.")
    return None


LOOKBACK_BLOCKS = 20
"""How far before a breakpoint the API looks for a cached prefix (block boundaries)."""


@dataclass
class PromptCache:
    """The strict server's prompt cache: prefixes (per model) written by earlier requests."""

    entries: set[str] = field(default_factory=set)

    def usage(self, body: Body, row: ClaudeModel) -> tuple[int, int, int]:
        """(uncached input, cache write, cache read) tokens of `body`, updating the cache.

        The prompt is read up to each breakpoint; the longest prefix already cached is read,
        the rest up to the last breakpoint is written (if at least the model's minimum)."""
        flat = [_uncached(b) for b in _flat_prompt(body)]
        total = count_tokens(flat)
        marks = [i for i, _ in _breakpoints(body)]
        if not marks:
            return total, 0, 0
        model = str(body["model"])
        minimum = row.min_cache_tokens or 1024

        def key(end: int) -> str:
            return request_hash({"model": model, "prefix": flat[: end + 1]})

        read = 0  # the longest cached prefix ending at a breakpoint or up to 20 blocks before
        for end in sorted({e for m in marks for e in range(max(0, m - LOOKBACK_BLOCKS), m + 1)},
                          reverse=True):
            if key(end) in self.entries:
                read = count_tokens(flat[: end + 1])
                break
        last = count_tokens(flat[: marks[-1] + 1])
        write = 0
        if last >= minimum and key(marks[-1]) not in self.entries:
            write = max(0, last - read)
            for end in marks:
                if count_tokens(flat[: end + 1]) >= minimum:
                    self.entries.add(key(end))
        return total - read - write, write, read


# ---------------------------------------------------------------------------- batches


@dataclass
class _Batch:
    """One Message Batch: its outcomes are decided on creation, revealed after the delay."""

    id: str
    created: float
    created_wall: float
    ready_at: float
    lines: list[tuple[str, str, Body]]
    """(custom_id, request hash, result line) per item, in submission order."""
    canceled_at: float | None = None

    def ended(self, now: float) -> bool:
        return self.canceled_at is not None or now >= self.ready_at

    def counts(self, now: float) -> dict[str, int]:
        keys = ("processing", "succeeded", "errored", "canceled", "expired")
        counts = dict.fromkeys(keys, 0)
        if not self.ended(now):
            counts["processing"] = len(self.lines)
            return counts
        for _, _, line in self.lines:
            counts[line["result"]["type"]] += 1
        return counts


# ------------------------------------------------------------------------------ the app


class LoopbackApi:
    """What every loopback provider application shares: its state, ids in the API's style,
    the fault schedule, scripted 400s and the control endpoints (`/_fake/counters`,
    `/_fake/reset`). Subclasses add the provider's routes in `routes(app)`."""

    def __init__(self, config: FakeApiConfig, base_url: str) -> None:
        self.config = config
        self.base_url = base_url
        self.counters = Counters()
        self._seq = 0

    def app(self) -> web.Application:
        """The aiohttp application: the provider's routes and the control endpoints."""
        app = web.Application(client_max_size=256 * 1024**2)
        self.routes(app)
        app.router.add_get("/_fake/counters", self.get_counters)
        app.router.add_post("/_fake/reset", self.post_reset)
        return app

    def routes(self, app: web.Application) -> None:
        """Add the provider's own routes to `app`."""
        raise NotImplementedError

    def _next_id(self, prefix: str) -> str:
        """A fresh id in the API's style, e.g. `msg_3f9c...` (24 hex characters after `prefix`)."""
        self._seq += 1
        tag = hashlib.blake2b(f"{self.config.seed}:{self._seq}".encode(), digest_size=12)
        return f"{prefix}{tag.hexdigest()}"

    def _scripted_bad_request(self, body: Body) -> str | None:
        """The message of a 400 the test scripted for this body (`bad_request_if`), or None."""
        if self.config.bad_request_if is None:
            return None
        verdict = self.config.bad_request_if(body)
        if not verdict:
            return None
        return verdict if isinstance(verdict, str) else "Invalid request (scripted by the fake)."

    def _fault(self, digest: str, attempt: int) -> str | None:
        """The fault for this attempt at this request: scheduled first, then random."""
        schedule = [kind for kind, n in self.config.fail_first.items() for _ in range(n)]
        if attempt < len(schedule):
            return schedule[attempt]
        if not self.config.fault_rates:
            return None
        u = _unit(self.config.seed, digest, attempt)
        for kind, rate in self.config.fault_rates.items():
            if u < rate:
                return kind
            u -= rate
        return None

    async def get_counters(self, request: web.Request) -> web.Response:
        return web.json_response(self.counters.to_dict())

    async def post_reset(self, request: web.Request) -> web.Response:
        self.counters = Counters()
        return web.json_response({})


class FakeApi(LoopbackApi):
    """The request handlers and state of one fake server; lives on the server's event loop."""

    def __init__(self, config: FakeApiConfig, base_url: str) -> None:
        super().__init__(config, base_url)
        self.batches: dict[str, _Batch] = {}
        self.cache = PromptCache()

    def routes(self, app: web.Application) -> None:
        """The Messages and Message Batches endpoints."""
        app.router.add_post("/v1/messages", self.create_message)
        app.router.add_post("/v1/messages/batches", self.create_batch)
        app.router.add_get("/v1/messages/batches/{batch_id}", self.get_batch)
        app.router.add_post("/v1/messages/batches/{batch_id}/cancel", self.cancel_batch)
        app.router.add_get("/v1/messages/batches/{batch_id}/results", self.batch_results)

    # -- helpers

    def _json(
        self, data: Body, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        hdrs = {"request-id": self._next_id("req_"), **(headers or {})}
        return web.Response(
            body=json.dumps(data).encode(),
            status=status,
            content_type="application/json",
            headers=hdrs,
        )

    def _error(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        request_id = self._next_id("req_")
        hdrs = {"request-id": request_id, **(headers or {})}
        body = json.dumps(error_body(status, message, request_id)).encode()
        return web.Response(body=body, status=status, content_type="application/json", headers=hdrs)

    def _count(self, endpoint: str) -> None:
        self.counters.total += 1
        self.counters.by_endpoint[endpoint] += 1

    def _auth_error(self, request: web.Request) -> web.Response | None:
        """401 when the server was given an api key and the request carries another one."""
        if self.config.api_key is None:
            return None
        sent = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if sent is None and auth.lower().startswith("bearer "):
            sent = auth[7:]
        if sent == self.config.api_key:
            return None
        return self._error(401, "invalid x-api-key")

    async def _read_json(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.read())
        except ValueError:
            return None

    def _bad_request(self, body: Body) -> str | None:
        """The message of a 400 for this body (strict rules, then scripted), or None."""
        if self.config.strict:
            row = lookup(str(body.get("model")))
            if row is None:
                return f"model: {body.get('model')!r} is not a model the strict server knows"
            if (problem := _strict_problem(body, row)) is not None:
                return problem
        return self._scripted_bad_request(body)

    def _answer(self, body: Body, *, batch: bool = False) -> Body | str:
        """The message the responder gives for `body`, or why the responder failed.

        A failing responder is a bug in the test, so it is logged with its traceback and
        answered as a 500 `api_error` whose message names the exception.
        """
        try:
            message = build_message(body, self.config.responder(body), self._next_id("msg_"))
            if self.config.strict:
                row = lookup(str(body["model"]))
                assert row is not None  # unknown models were refused
                message = self._strict_message(body, message, row, batch=batch)
            return message
        except Exception as exc:
            log.exception("fake Messages API: the responder failed")
            return f"fake responder raised {type(exc).__name__}: {exc}"

    def _strict_message(self, body: Body, message: Body, row: ClaudeModel, *, batch: bool
                        ) -> Body:
        """The answer as the model of `row` gives it: thinking blocks first (signed, text
        omitted as at the default `display`; one answer in eight also carries a
        redacted_thinking block), cut at `max_tokens` (thinking counts), cache tokens."""
        model = str(body["model"])
        prior = list(body["messages"])
        content = list(message["content"])
        thinking_tokens = 0
        asked = (body.get("thinking") or {}).get("type")
        if (row.thinks_by_default and asked != "disabled") or asked in ("adaptive", "enabled"):
            block: Body = {"type": "thinking", "thinking": ""}
            block["signature"] = thinking_signature(model, prior, block)
            extra: list[Body] = [block]
            if _unit(self.config.seed, "redacted", request_hash(body)) < 0.125:
                extra.append({"type": "redacted_thinking",
                              "data": _redacted_data(model, prior)})
            content = extra + content
            thinking_tokens = STRICT_THINKING_TOKENS
        output = message["usage"]["output_tokens"] + thinking_tokens
        if output > body["max_tokens"]:
            room = max(0, body["max_tokens"] - thinking_tokens) * 4
            kept = [b for b in content if b.get("type") in ("thinking", "redacted_thinking")]
            text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
            if text[:room]:
                kept.append({"type": "text", "text": text[:room]})
            content, output = kept, body["max_tokens"]
            message["stop_reason"] = "max_tokens"
        uncached, write, read = self.cache.usage(body, row)
        self.counters.cache_write_tokens += write
        self.counters.cache_read_tokens += read
        message["content"] = content
        message["usage"] = {
            "input_tokens": uncached, "output_tokens": output,
            "cache_creation_input_tokens": write, "cache_read_input_tokens": read,
            "service_tier": "batch" if batch else "standard",
        }
        return message

    # -- /v1/messages

    async def create_message(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/messages, counted while in flight (`Counters.max_in_flight`)."""
        counters = self.counters
        counters.in_flight += 1
        counters.max_in_flight = max(counters.max_in_flight, counters.in_flight)
        try:
            return await self._create_message(request)
        finally:
            counters.in_flight -= 1

    async def _create_message(self, request: web.Request) -> web.StreamResponse:
        """Validate, maybe inject a fault, else answer after the latency."""
        self._count("messages")
        self.counters.messages += 1
        if (denied := self._auth_error(request)) is not None:
            return denied
        body = await self._read_json(request)
        if not isinstance(body, dict):
            return self._error(400, "request body must be a JSON object")
        digest = request_hash(body)
        attempt = self.counters.by_hash[digest]
        self.counters.by_hash[digest] += 1
        if (problem := _validate_messages_body(body, _api_version(request))) is not None:
            self.counters.bad_requests[problem[:80]] += 1
            return self._error(400, problem)
        if (message := self._bad_request(body)) is not None:
            self.counters.bad_requests[message[:80]] += 1
            return self._error(400, message)
        fault = self._fault(digest, attempt)
        if fault is not None:
            self.counters.faults[fault] += 1
            if fault != "slow":
                return await self._inject(fault, request)
        delay = self.config.slow_s if fault == "slow" else self.config.latency
        if delay > 0:
            await asyncio.sleep(delay)
        answer = self._answer(body)
        if isinstance(answer, str):
            return self._error(500, answer)
        self.counters.succeeded_by_hash[digest] += 1
        return self._json(answer)

    async def _inject(self, fault: str, request: web.Request) -> web.StreamResponse:
        """The response (or absence of one) for a fault other than `slow`."""
        if fault == "drop":
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError
        if fault == "malformed":
            return web.Response(
                body=_MALFORMED_BODY,
                status=200,
                content_type="application/json",
                headers={"request-id": self._next_id("req_")},
            )
        status = int(fault)
        headers: dict[str, str] = {}
        if status == 429:
            headers["retry-after"] = f"{self.config.retry_after:g}"
            if self.config.retry_after_ms:
                headers["retry-after-ms"] = f"{self.config.retry_after * 1000:g}"
        return self._error(status, _ERROR_MESSAGES[fault], headers)

    # -- batches

    def _batch_object(self, batch: _Batch) -> Body:
        now = time.monotonic()
        ended = batch.ended(now)
        ended_wall = batch.created_wall + (min(now, batch.ready_at) - batch.created)
        if batch.canceled_at is not None:
            ended_wall = batch.created_wall + (batch.canceled_at - batch.created)
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": batch.counts(now),
            "created_at": _iso(batch.created_wall),
            "expires_at": _iso(batch.created_wall + timedelta(days=1).total_seconds()),
            "ended_at": _iso(ended_wall) if ended else None,
            "cancel_initiated_at": _iso(ended_wall) if batch.canceled_at is not None else None,
            "archived_at": None,
            "results_url": f"{self.base_url}/v1/messages/batches/{batch.id}/results"
            if ended
            else None,
        }

    def _batch_line(self, custom_id: str, params: Body, digest: str, api_version: str) -> Body:
        """The result line of one batch item; counts it as a call (and as paid if it succeeds)."""
        self.counters.by_hash[digest] += 1
        self.counters.batch_items += 1
        problem = _validate_messages_body(params, api_version) or self._bad_request(params)
        if problem is not None:
            self.counters.bad_requests[problem[:80]] += 1
            error = error_body(400, problem, self._next_id("req_"))
            return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}
        cfg = self.config
        u = _unit(cfg.seed, "batch", custom_id, digest, self.counters.by_hash[digest])
        if u < cfg.batch_errored:
            error = error_body(500, "Internal server error", self._next_id("req_"))
            return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}
        if u < cfg.batch_errored + cfg.batch_expired:
            return {"custom_id": custom_id, "result": {"type": "expired"}}
        if u < cfg.batch_errored + cfg.batch_expired + cfg.batch_canceled:
            return {"custom_id": custom_id, "result": {"type": "canceled"}}
        message = self._answer(params, batch=True)
        if isinstance(message, str):
            error = error_body(500, message, self._next_id("req_"))
            return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}
        self.counters.succeeded_by_hash[digest] += 1
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}

    @staticmethod
    def _batch_problem(body: Any) -> str | None:
        """Why a batch creation body is invalid, or None."""
        if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
            return "requests: Field required"
        if not body["requests"]:
            return "requests: List should have at least 1 item"
        if len(body["requests"]) > MAX_BATCH_REQUESTS:
            return f"requests: List should have at most {MAX_BATCH_REQUESTS} items"
        seen: set[str] = set()
        for i, item in enumerate(body["requests"]):
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
                return (
                    f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                )
            if custom_id in seen:
                return f"requests.{i}.custom_id: duplicate custom_id {custom_id!r}"
            if not isinstance(item.get("params"), dict):
                return f"requests.{i}.params: Field required"
            seen.add(custom_id)
        return None

    async def create_batch(self, request: web.Request) -> web.Response:
        """POST /v1/messages/batches: decide every outcome now, reveal them after `batch_delay`."""
        self._count("batches.create")
        if (denied := self._auth_error(request)) is not None:
            return denied
        body = await self._read_json(request)
        if (problem := self._batch_problem(body)) is not None:
            return self._error(400, problem)
        batch_id = self._next_id("msgbatch_")
        version = _api_version(request)
        lines = []
        for item in body["requests"]:
            digest = request_hash(item["params"])
            line = self._batch_line(item["custom_id"], item["params"], digest, version)
            lines.append((item["custom_id"], digest, line))
        now = time.monotonic()
        batch = _Batch(batch_id, now, time.time(), now + self.config.batch_delay, lines)
        self.batches[batch_id] = batch
        self.counters.batches += 1
        return self._json(self._batch_object(batch))

    def _find_batch(self, request: web.Request) -> _Batch | web.Response:
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return self._error(404, f"Message batch {request.match_info['batch_id']} not found")
        return batch

    async def get_batch(self, request: web.Request) -> web.Response:
        """GET /v1/messages/batches/{id}."""
        self._count("batches.retrieve")
        if (denied := self._auth_error(request)) is not None:
            return denied
        batch = self._find_batch(request)
        return batch if isinstance(batch, web.Response) else self._json(self._batch_object(batch))

    async def cancel_batch(self, request: web.Request) -> web.Response:
        """POST /v1/messages/batches/{id}/cancel: items not yet revealed become canceled."""
        self._count("batches.cancel")
        batch = self._find_batch(request)
        if isinstance(batch, web.Response):
            return batch
        now = time.monotonic()
        if not batch.ended(now):
            batch.canceled_at = now
            for i, (custom_id, digest, line) in enumerate(batch.lines):
                if line["result"]["type"] == "succeeded":
                    self.counters.succeeded_by_hash[digest] -= 1
                    canceled = {"custom_id": custom_id, "result": {"type": "canceled"}}
                    batch.lines[i] = (custom_id, digest, canceled)
            self.counters.succeeded_by_hash = +self.counters.succeeded_by_hash
        return self._json(self._batch_object(batch))

    async def batch_results(self, request: web.Request) -> web.Response:
        """GET .../results: JSONL, one line per item, deliberately out of submission order."""
        self._count("batches.results")
        if (denied := self._auth_error(request)) is not None:
            return denied
        batch = self._find_batch(request)
        if isinstance(batch, web.Response):
            return batch
        if not batch.ended(time.monotonic()):
            return self._error(400, f"Message batch {batch.id} is still in progress")
        lines = [line for _, _, line in batch.lines]
        order = list(range(len(lines)))
        random.Random(f"{self.config.seed}:{batch.id}").shuffle(order)
        if len(order) > 1 and order == sorted(order):
            order.reverse()
        payload = "".join(json.dumps(lines[i]) + "\n" for i in order).encode()
        return web.Response(
            body=payload,
            content_type="application/binary",
            headers={"request-id": self._next_id("req_")},
        )

    # -- control endpoints (not part of the real API)


# --------------------------------------------------------------------------- lifecycle


def _listen_socket(port: int = 0) -> socket.socket:
    """A loopback listening socket with a deep backlog (hundreds of clients connect at once)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def _start_site(api: FakeApi, sock: socket.socket) -> web.AppRunner:
    """Start serving `api` on `sock`; a client that hangs up cancels its handler."""
    runner = web.AppRunner(
        api.app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.2
    )
    await runner.setup()
    await web.SockSite(runner, sock, backlog=4096).start()
    return runner


def _serve_forever(api_class: type[Any], config: FakeApiConfig, path: str, conn: Any) -> None:
    """Child-process entry point: serve, report the port, stop when the parent says so."""

    async def main() -> None:
        sock = _listen_socket()
        port = sock.getsockname()[1]
        runner = await _start_site(api_class(config, f"http://127.0.0.1:{port}{path}"), sock)
        conn.send(port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await runner.cleanup()

    asyncio.run(main())


class FakeAnthropicServer:
    """A loopback Messages API server in a background thread (or a child process).

    Use as a context manager (sync or async) or call `start()`/`stop()`; point a client at
    `base_url`. `counters()` says what it has seen; `reset()` zeroes the counters. Another
    provider's loopback server subclasses it with its own `API` application and `PATH`.
    """

    API: ClassVar[type[Any]] = FakeApi  # the aiohttp application class: API(config, base_url)
    PATH: ClassVar[str] = ""  # what the SDK's base URL adds to the server's root
    NAME: ClassVar[str] = "fake-anthropic"

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
        batch_delay: float = 0.0,
        batch_errored: float = 0.0,
        batch_expired: float = 0.0,
        batch_canceled: float = 0.0,
        api_key: str | None = None,
        strict: bool = False,
        process: bool = False,
    ) -> None:
        self.config = FakeApiConfig(
            responder=responder or echo_responder,
            latency=latency,
            fail_first=dict(fail_first or {}),
            fault_rates=dict(fault_rates or {}),
            seed=seed,
            retry_after=retry_after,
            retry_after_ms=retry_after_ms,
            slow_s=slow_s,
            bad_request_if=bad_request_if,
            batch_delay=batch_delay,
            batch_errored=batch_errored,
            batch_expired=batch_expired,
            batch_canceled=batch_canceled,
            api_key=api_key,
            strict=strict,
        )
        self.process = process
        self.port: int | None = None
        self._api: FakeApi | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._child: Any = None
        self._conn: Any = None

    def __repr__(self) -> str:
        mode = "process" if self.process else "thread"
        url = self.base_url if self.port else None
        return f"{type(self).__name__}(base_url={url!r}, {mode})"

    @property
    def root_url(self) -> str:
        """`http://127.0.0.1:<port>`: where the control endpoints (`/_fake/...`) live."""
        if self.port is None:
            raise RuntimeError("the fake server is not running; call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The root plus `PATH`: pass it as the SDK's `base_url` (or `ANTHROPIC_BASE_URL`,
        `OPENAI_BASE_URL`)."""
        return self.root_url + self.PATH

    # -- lifecycle

    def start(self) -> FakeAnthropicServer:
        """Start serving; returns once the port accepts connections."""
        if self.port is not None:
            return self
        if self.process:
            self._start_process()
        else:
            self._start_thread()
        return self

    def _start_thread(self) -> None:
        sock = _listen_socket()
        self.port = sock.getsockname()[1]
        self._api = self.API(self.config, self.base_url)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=self.NAME, daemon=True)
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(_start_site(self._api, sock), self._loop)
        self._runner = started.result(timeout=30)

    def _start_process(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._child = ctx.Process(
            target=_serve_forever,
            args=(self.API, self.config, self.PATH, child_conn),
            name=self.NAME,
            daemon=True,
        )
        self._child.start()
        if not self._conn.poll(60):
            self._child.terminate()
            raise RuntimeError("the fake server process did not start within 60 s")
        self.port = self._conn.recv()

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self.port is None:
            return
        if self.process:
            self._conn.send("stop")
            self._child.join(10)
            if self._child.is_alive():
                self._child.terminate()
                self._child.join(5)
        else:
            assert self._loop is not None and self._runner is not None
            stopped = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            stopped.result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop.close()
        self.port = None

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeAnthropicServer:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # -- observation

    def counters(self) -> Counters:
        """A snapshot of what the server has seen so far."""
        if self.process:
            with urllib.request.urlopen(f"{self.root_url}/_fake/counters", timeout=30) as reply:
                return Counters.from_dict(json.loads(reply.read()))
        return self._on_loop(lambda api: Counters.from_dict(api.counters.to_dict()))

    def reset(self) -> None:
        """Zero the counters (which also restarts `fail_first` schedules)."""
        if self.process:
            req = urllib.request.Request(f"{self.root_url}/_fake/reset", method="POST")
            urllib.request.urlopen(req, timeout=30).close()
            return
        self._on_loop(lambda api: setattr(api, "counters", Counters()))

    def configure(self, **changes: Any) -> None:
        """Change behaviour while running (thread mode), e.g. `configure(latency=0.5)`."""
        if self.process:
            raise RuntimeError("configure() needs the thread mode; restart the process instead")
        config = replace(self.config, **changes)
        self.config = config
        self._on_loop(lambda api: setattr(api, "config", config))

    def _on_loop(self, fn: Callable[[FakeApi], Any]) -> Any:
        """Run `fn(api)` on the server's loop, so it never races a handler."""
        if self._loop is None or self._api is None or self.port is None:
            raise RuntimeError("the fake server is not running")
        api = self._api

        async def call() -> Any:
            return fn(api)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=30)
