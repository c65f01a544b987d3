"""What passes between a probe and a subject: Request, Response, ToolCall, Usage, and Model.

A Request is the Messages API shape (system, messages, tools, sampling) plus `metadata`, the
probe's context, which is never sent to an API: simulated subjects read it to know what they are
being asked, and it makes replicates of the same prompt distinct requests.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

Message = dict[str, Any]
"""One Messages API message: {"role": "user"|"assistant", "content": str | list[block]}."""


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the form every hash in the toolkit is taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(value: Any) -> str:
    """The SHA-256 of a value's canonical JSON (strings are hashed as JSON strings too)."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Request:
    """One model call. `metadata` is probe context for simulated subjects and hashing only."""

    messages: tuple[Message, ...]
    system: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: dict[str, Any] | None = None
    temperature: float | None = None
    max_tokens: int = 1024
    stop_sequences: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    effort: str | None = None
    """`output_config.effort` ("low" … "max") for models that take it; None: the model's."""
    thinking: dict[str, Any] | None = None
    """The `thinking` field, e.g. {"type": "adaptive"}; None: the model's default."""

    def api_params(self) -> dict[str, Any]:
        """The keyword arguments of `messages.create`, without the model id."""
        params: dict[str, Any] = {"messages": list(self.messages), "max_tokens": self.max_tokens}
        if self.system is not None:
            params["system"] = self.system
        if self.tools:
            params["tools"] = list(self.tools)
        if self.tool_choice is not None:
            params["tool_choice"] = self.tool_choice
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.stop_sequences:
            params["stop_sequences"] = list(self.stop_sequences)
        if self.effort is not None:
            params["output_config"] = {"effort": self.effort}
        if self.thinking is not None:
            params["thinking"] = dict(self.thinking)
        return params

    def to_dict(self) -> dict[str, Any]:
        return {**self.api_params(), "metadata": self.metadata}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Request:
        return cls(
            messages=tuple(data["messages"]),
            system=data.get("system"),
            tools=tuple(data.get("tools", ())),
            tool_choice=data.get("tool_choice"),
            temperature=data.get("temperature"),
            max_tokens=int(data.get("max_tokens", 1024)),
            stop_sequences=tuple(data.get("stop_sequences", ())),
            metadata=dict(data.get("metadata", {})),
            effort=(data.get("output_config") or {}).get("effort"),
            thinking=data.get("thinking"),
        )

    def hash(self, subject: str) -> str:
        """The request's identity for one subject: what the response cache is keyed on.

        Metadata is included on purpose: two replicates of one prompt are two paid calls.
        """
        return sha256_hex({"subject": subject, "request": self.to_dict()})


@dataclass(frozen=True)
class ToolCall:
    """A `tool_use` block the model emitted."""

    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """Token counts of one call, as the API reports them.

    `input_tokens` are the uncached input tokens only: tokens written to the prompt cache
    (`cache_write_tokens`, the API's `cache_creation_input_tokens`) and read from it
    (`cache_read_tokens`, `cache_read_input_tokens`) are billed at their own prices and
    counted apart. `batch` is True when the call went through Message Batches (billed at the
    batch discount); a sum is `batch` only when every part is.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    batch: bool = False

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.batch and other.batch,
        )

    @property
    def prompt_tokens(self) -> int:
        """Every input token of the call, cached or not."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    @classmethod
    def from_api(cls, usage: Any, *, batch: bool = False) -> Usage:
        """From a Messages API `usage` object or dict (missing cache fields count as 0).

        Raises TypeError when `usage` is neither (a malformed response)."""
        if not isinstance(usage, dict) and not hasattr(usage, "input_tokens"):
            raise TypeError(f"usage is a {type(usage).__name__}, not a usage object")

        def get(name: str) -> int:
            value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)
            return int(value or 0)

        tier = usage.get("service_tier") if isinstance(usage, dict) else getattr(
            usage, "service_tier", None)
        return cls(
            get("input_tokens"),
            get("output_tokens"),
            get("cache_creation_input_tokens"),
            get("cache_read_input_tokens"),
            batch or tier == "batch",
        )


@dataclass(frozen=True)
class Response:
    """What a model answered: text, tool calls, why it stopped, tokens, latency, raw payload."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    stop_reason: str | None = "end_turn"
    usage: Usage = Usage()
    latency_s: float = 0.0
    model: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    content: tuple[dict[str, Any], ...] = ()
    """The content blocks exactly as the API returned them (thinking, redacted_thinking,
    text, tool_use, in order); empty for backends that only give text and tool calls."""

    @property
    def has_answer(self) -> bool:
        """True when there is visible text or a tool call (thinking alone is no answer)."""
        return bool(self.text.strip()) or bool(self.tool_calls)

    @property
    def thinking_blocks(self) -> int:
        """How many thinking / redacted_thinking blocks the response holds (not coded)."""
        return sum(b.get("type") in ("thinking", "redacted_thinking") for b in self.content)

    def assistant_message(self) -> Message:
        """This response as the assistant turn to send back in a dialogue, as the API requires.

        The blocks go back exactly as they came (thinking and redacted_thinking blocks are
        tied to the model and the conversation and must not be altered or dropped; text
        between tool calls may sit in thinking blocks); only empty text blocks, which the
        API refuses, are left out. A response with no visible text and no tool call has
        nothing to send back: ModelError(kind="empty_answer"), never an empty message.
        """
        from welfare.errors import ModelError

        if not self.has_answer:
            raise ModelError("the model gave no visible answer to send back",
                             kind="empty_answer")
        blocks = [dict(b) for b in self.content] if self.content else self.content_blocks()
        blocks = [b for b in blocks if b.get("type") != "text" or str(b.get("text", "")).strip()]
        if all(b.get("type") == "text" for b in blocks) and len(blocks) == 1:
            return {"role": "assistant", "content": blocks[0]["text"]}
        return {"role": "assistant", "content": blocks}

    def content_blocks(self) -> list[dict[str, Any]]:
        """The visible answer as assistant content blocks (text, then tool calls)."""
        blocks: list[dict[str, Any]] = []
        if self.text:
            blocks.append({"type": "text", "text": self.text})
        for call in self.tool_calls:
            blocks.append(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}
            )
        return blocks

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("cached")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, cached: bool = False) -> Response:
        """From `to_dict` or the store's JSON. The store keeps the API message in `raw`; its
        `content` (thinking blocks included, to pass back exactly on resume) and `usage`
        (cache tokens) are read from there when the top level lacks them."""
        raw = dict(data.get("raw", {}))
        stored = dict(data.get("usage", {}))
        usage = Usage(**{k: v for k, v in stored.items() if k in Usage.__dataclass_fields__})
        api_usage = raw.get("usage")
        if "cache_write_tokens" not in stored and isinstance(api_usage, dict) \
                and "input_tokens" in api_usage:
            usage = Usage.from_api(api_usage, batch=usage.batch)
        content = data.get("content")
        if "content" not in data and isinstance(raw.get("content"), list):
            content = raw["content"]  # stored before `content` was kept at the top level
        return cls(
            text=data.get("text", ""),
            tool_calls=tuple(ToolCall(**c) for c in data.get("tool_calls", ())),
            stop_reason=data.get("stop_reason"),
            usage=usage,
            latency_s=float(data.get("latency_s", 0.0)),
            model=data.get("model", ""),
            raw=raw,
            cached=cached,
            content=tuple(content or ()),
        )


@runtime_checkable
class Model(Protocol):
    """A subject or helper model. `generate` raises `ModelError` on failure, nothing else."""

    @property
    def spec(self) -> str:
        """The spec string that names this model, e.g. `anthropic:claude-opus-5-5`."""
        ...

    @property
    def simulated(self) -> bool:
        """True for offline simulated subjects; reports say so plainly."""
        ...

    async def generate(self, request: Request) -> Response: ...


def message_text(message: Message) -> str:
    """The plain text of one message, joining its text blocks."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content if b.get("type") == "text")
