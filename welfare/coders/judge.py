"""The LLM judge coder: a rubric built from the codebook, structured output through tool use.

One request per transcript: the system prompt is the codebook as a rubric
(`prompts/coders/judge_system.j2`), the user message shows the numbered turns
(`judge_transcript.j2`), and the `record_codes` tool is forced with `tool_choice`. Every code's
quote must occur in the turn it names (whitespace and quote marks aside): a quote that does not
is rejected and counted. Output that cannot be read at all, or a failed call, is a coding
failure for that transcript, counted and reported, never an exception. Given a store, calls go
through the runner's `CallingModel`, so responses are cached by request hash like every other
model call and retried by the one retry layer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from welfare.banks import render, template_hash
from welfare.coders.codebook import Codebook, load_codebook
from welfare.coders.common import Code, Turn, assistant_turns
from welfare.errors import ModelError
from welfare.models.base import Message, Model, Request, Response, message_text

if TYPE_CHECKING:
    from welfare.run.store import Store

TOOL_NAME = "record_codes"
SYSTEM_TEMPLATE = "coders/judge_system.j2"
TRANSCRIPT_TEMPLATE = "coders/judge_transcript.j2"


def record_codes_tool(codebook: Codebook) -> dict[str, Any]:
    """The `record_codes` tool: a list of {turn, label, quote} with labels from the codebook."""
    return {
        "name": TOOL_NAME,
        "description": "Record every codebook label found in the assistant turns, each with "
                       "the assistant turn number and an exact quote from that turn.",
        "input_schema": {
            "type": "object",
            "properties": {
                "codes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "turn": {"type": "integer", "minimum": 1,
                                     "description": "assistant turn number (1 = first)"},
                            "label": {"type": "string", "enum": list(codebook.ids)},
                            "quote": {"type": "string",
                                      "description": "exact text copied from that turn"},
                        },
                        "required": ["turn", "label", "quote"],
                    },
                }
            },
            "required": ["codes"],
        },
    }


@dataclass
class JudgeResult:
    """What the judge made of one transcript: accepted codes, rejected ones, or a failure."""

    transcript_id: str
    codes: list[Code] = field(default_factory=list)
    coded_turns: list[int] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.failure is None


class JudgeCoder:
    """Codes transcripts with an LLM judge through any Model (cached when given a store)."""

    name = "judge"

    def __init__(
        self,
        model: Model,
        codebook: Codebook | None = None,
        *,
        store: Store | None = None,
        max_tokens: int = 2048,
        temperature: float | None = None,
        concurrency: int = 8,
        max_chars: int = 100_000,
    ) -> None:
        self.codebook = codebook or load_codebook()
        if store is not None:
            from welfare.run.runner import CallingModel, Meter

            model = CallingModel(model, store, Meter())
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.concurrency = concurrency
        self.max_chars = max_chars
        self.system = render(SYSTEM_TEMPLATE, codebook=self.codebook)
        self.tool = record_codes_tool(self.codebook)
        self.template_hash = template_hash(SYSTEM_TEMPLATE, TRANSCRIPT_TEMPLATE)

    @property
    def spec(self) -> str:
        return self.model.spec

    def request(self, transcript_id: str, messages: Sequence[Message]) -> Request:
        """The judge request for one transcript (assistant turns numbered from 1)."""
        items: list[dict[str, Any]] = []
        turn = 0
        for message in messages:
            role = message.get("role")
            if role == "assistant":
                turn += 1
                items.append({"role": "assistant", "turn": turn, "text": message_text(message)})
            elif role == "user":
                text = message_text(message)
                if text:
                    items.append({"role": "user", "text": text})
        prompt = render(TRANSCRIPT_TEMPLATE, items=items, n_turns=turn,
                        transcript_id=transcript_id)
        return Request(
            messages=({"role": "user", "content": prompt[: self.max_chars]},),
            system=self.system,
            tools=(self.tool,),
            tool_choice={"type": "tool", "name": TOOL_NAME},
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            metadata={"probe": "coders", "coder": "judge", "transcript_id": transcript_id,
                      "template": self.template_hash},
        )

    def parse(self, transcript_id: str, turns: Sequence[Turn], response: Response
              ) -> JudgeResult:
        """Accepted and rejected codes from a response; never raises."""
        result = JudgeResult(transcript_id, cached=response.cached)
        call = next((c for c in response.tool_calls if c.name == TOOL_NAME), None)
        if call is None:
            result.failure = f"no {TOOL_NAME} call (stop_reason {response.stop_reason})"
            return result
        raw = call.input.get("codes") if isinstance(call.input, dict) else None
        if not isinstance(raw, list):
            result.failure = f"malformed {TOOL_NAME} input: 'codes' is not a list"
            return result
        by_number = {t.number: t for t in turns}
        seen: set[tuple[int, str]] = set()
        for item in raw:
            code, reason = self._check(item, by_number)
            if code is None:
                result.rejected.append({"item": item, "reason": reason})
            elif (code.turn, code.label) not in seen:
                seen.add((code.turn, code.label))
                result.codes.append(code)
        result.coded_turns = sorted(by_number)
        return result

    def _check(self, item: Any, turns: dict[int, Turn]) -> tuple[Code | None, str]:
        if not isinstance(item, dict):
            return None, "not an object"
        turn, label, quote = item.get("turn"), item.get("label"), item.get("quote")
        if isinstance(turn, str) and turn.strip().isdigit():
            turn = int(turn)
        if not isinstance(turn, int) or isinstance(turn, bool) or turn not in turns:
            return None, f"turn {turn!r} is not an assistant turn (1–{len(turns)})"
        if label not in self.codebook:
            return None, f"label {label!r} is not in the codebook"
        if not isinstance(quote, str) or not quote.strip():
            return None, "empty quote"
        span = find_quote(turns[turn].text, quote)
        if span is None:
            return None, f"quote not found in assistant turn {turn}"
        start, end = span
        return Code(label, turn, turns[turn].text[start:end], start, end), ""

    async def code_transcript(self, transcript_id: str, messages: Sequence[Message]
                              ) -> JudgeResult:
        """Code one transcript; a failed call or unreadable output is a counted failure."""
        turns = assistant_turns(messages)
        if not turns:
            return JudgeResult(transcript_id)
        try:
            response = await self.model.generate(self.request(transcript_id, messages))
        except ModelError as exc:
            return JudgeResult(transcript_id, failure=f"model error: {exc}"[:300])
        return self.parse(transcript_id, turns, response)

    async def code_many(self, items: Iterable[tuple[str, Sequence[Message]]]
                        ) -> list[JudgeResult]:
        """Code many transcripts with at most `concurrency` calls in flight, in input order."""
        limit = asyncio.Semaphore(self.concurrency)

        async def one(tid: str, messages: Sequence[Message]) -> JudgeResult:
            async with limit:
                return await self.code_transcript(tid, messages)

        return list(await asyncio.gather(*(one(t, m) for t, m in items)))

    def code_transcripts(self, items: Iterable[tuple[str, Sequence[Message]]]
                         ) -> list[JudgeResult]:
        """Synchronous `code_many` (for scripts and notebooks outside an event loop)."""
        return asyncio.run(self.code_many(list(items)))


_QUOTE_CHARS = {"“": '"', "”": '"', "‘": "'", "’": "'", "«": '"', "»": '"'}


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Where `quote` occurs in `text`: exactly, else up to whitespace and quote-mark style."""
    quote = quote.strip()
    if len(quote) > 1 and quote[0] in "\"“" and quote[-1] in "\"”":
        quote = quote[1:-1].strip()  # a judge that wrapped its quote in quotation marks
    if not quote:
        return None
    at = text.find(quote)
    if at >= 0:
        return at, at + len(quote)
    tokens = [_normalise_quotes(t) for t in quote.split()]
    pattern = r"\s+".join(
        "".join(_char_class(ch) for ch in token) for token in tokens
    )
    m = re.search(pattern, text)
    return (m.start(), m.end()) if m else None


def _normalise_quotes(text: str) -> str:
    return "".join(_QUOTE_CHARS.get(ch, ch) for ch in text)


def _char_class(ch: str) -> str:
    if ch == '"':
        return "[\"“”«»]"
    if ch == "'":
        return "['‘’]"
    return re.escape(ch)
