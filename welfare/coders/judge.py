"""The LLM judge coder: a rubric built from the codebook, structured output through tool use.

The system prompt is the codebook as a rubric (`prompts/coders/judge_system.j2`), the user
message shows the numbered turns (`judge_transcript.j2`), and the judge answers by calling the
`record_codes` tool. Whether that call is forced depends on the judge's model (the model table,
`welfare.models.claude_models`): current thinking models (Opus 5.5, Fable 5.x, Sonnet 5.5)
answer a forced `tool_choice` with a 400, so there the tool is offered with `auto` and the
prompt says to call it; a model that takes forced tools gets `{"type": "tool"}`; an unknown
Claude model gets `auto` (accepted by every Claude model); other providers a named tool.

The call's input is validated against the tool's JSON schema; an answer without the call, or
with input that breaks the schema, gets one repair turn (the judge's own turn passed back as
the API requires, then a `tool_result` with the error, or a reminder), then counts as a
failure. Every code's quote must occur in the turn it names (whitespace and quote marks
aside): a quote that does not is rejected and counted.

A transcript longer than `max_chars` is coded in windows of whole turns that overlap by
`overlap_turns` assistant turns; a turn too long to be shown whole in any window is never
marked coded (`JudgeResult.uncoded_turns`). The rubric and tool are marked for prompt caching
(by the model layer), so each window and transcript after the first reads them from the cache.

Output that cannot be read at all, or a failed call, is a coding failure for that transcript,
counted and reported, never an exception. The judge calls the model it is given and knows
nothing of the store: in an assessment the run layer (`welfare.run.coding.cached_model`) hands
it the model wrapped in the runner's `CallingModel`, so responses are cached by request hash
like every other model call and retried by the one retry layer. Coders read visible text only:
thinking blocks in a transcript are stored whole but never shown to the judge.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pandas as pd

from welfare.banks import render, template_hash
from welfare.coders.base import Transcript, code_rows, transcript_codes_frame
from welfare.coders.codebook import Codebook, load_codebook
from welfare.coders.common import CODED, FAILED, REJECTED, Code, Turn, assistant_turns
from welfare.errors import ModelError
from welfare.models.base import Message, Model, Request, Response, message_text
from welfare.models.claude_models import lookup

TOOL_NAME = "record_codes"
SYSTEM_TEMPLATE = "coders/judge_system.j2"
TRANSCRIPT_TEMPLATE = "coders/judge_transcript.j2"
REPAIR_NO_CALL = ("You did not call `record_codes`. Call it now, exactly once, with every "
                  "label you found (an empty list if none).")
"""The repair turn after an answer without the tool call."""


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


def forced_tools_allowed(spec: str) -> bool:
    """Whether the judge's model takes a forced `tool_choice`. Claude models: per the model
    table (an unknown Claude id: no, `auto` works on every Claude model). Other providers
    (chat-completions APIs, simulated judges) take a named tool, as before."""
    provider, _, model_id = spec.partition(":")
    if provider != "anthropic":
        return True
    row = lookup(model_id)
    return row is not None and row.forced_tool_choice


@dataclass
class JudgeResult:
    """What the judge made of one transcript: accepted codes, rejected ones, or a failure.

    `coded_turns` are the assistant turns the judge was shown whole in a window whose answer
    was read; `uncoded_turns` the others (too long for any window, or in a failed window).
    """

    transcript_id: str
    codes: list[Code] = field(default_factory=list)
    coded_turns: list[int] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None
    cached: bool = False
    windows: int = 1
    repairs: int = 0
    uncoded_turns: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class _Window:
    """Transcript items shown in one judge request, and the assistant turns among them."""

    items: tuple[dict[str, Any], ...]
    turns: tuple[int, ...]


class JudgeCoder:
    """Codes transcripts with an LLM judge through any Model.

    Writes a `_coded` marker for every assistant turn it was shown whole and could read, a
    `_failed` marker (turn 0, evidence = reason) for a transcript it could not code, and a
    `_rejected` marker for every code whose quote was not in its turn.
    """

    name = "judge"
    rank = 20

    def __init__(
        self,
        model: Model,
        codebook: Codebook | None = None,
        *,
        max_tokens: int = 2048,
        temperature: float | None = None,
        concurrency: int = 8,
        max_chars: int = 100_000,
        overlap_turns: int = 1,
        forced_tool: bool | None = None,
    ) -> None:
        self.codebook = codebook or load_codebook()
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.concurrency = concurrency
        self.max_chars = max_chars
        self.overlap_turns = overlap_turns
        self.forced_tool = forced_tools_allowed(model.spec) if forced_tool is None \
            else forced_tool
        self.system = render(SYSTEM_TEMPLATE, codebook=self.codebook)
        self.tool = record_codes_tool(self.codebook)
        self.validator = jsonschema.Draft202012Validator(self.tool["input_schema"])
        self.template_hash = template_hash(SYSTEM_TEMPLATE, TRANSCRIPT_TEMPLATE)

    @property
    def spec(self) -> str:
        return self.model.spec

    @property
    def tool_choice(self) -> dict[str, Any]:
        """Forced where the model takes it, else `auto` (the prompt asks for the call)."""
        if self.forced_tool:
            return {"type": "tool", "name": TOOL_NAME}
        return {"type": "auto"}

    # -- requests

    @staticmethod
    def _items(messages: Sequence[Message]) -> list[dict[str, Any]]:
        """The transcript as items: user text, and assistant visible text numbered from 1."""
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
        return items

    def _prompt(self, transcript_id: str, items: Sequence[dict[str, Any]], n_turns: int,
                window: dict[str, int] | None = None) -> str:
        return render(TRANSCRIPT_TEMPLATE, items=list(items), n_turns=n_turns,
                      transcript_id=transcript_id, window=window)

    def windows(self, transcript_id: str, messages: Sequence[Message]) -> list[_Window]:
        """The transcript cut into windows of whole turns that each render within
        `max_chars`, consecutive windows sharing `overlap_turns` assistant turns (with the user
        turns between them). An assistant turn too long for a window of its own is left out."""
        items = self._items(messages)
        n_turns = sum(i["role"] == "assistant" for i in items)
        if len(self._prompt(transcript_id, items, n_turns)) <= self.max_chars:
            return [_Window(tuple(items), tuple(i["turn"] for i in items
                                                if i["role"] == "assistant"))]
        header = {"first": n_turns, "last": n_turns, "part": 99, "parts": 99}

        def fits(chunk: list[dict[str, Any]]) -> bool:
            return len(self._prompt(transcript_id, chunk, n_turns, header)) <= self.max_chars

        # segments: each assistant turn with the user items just before it
        segments: list[list[dict[str, Any]]] = []
        pending: list[dict[str, Any]] = []
        for item in items:
            pending.append(item)
            if item["role"] == "assistant":
                segments.append(pending)
                pending = []
        out: list[_Window] = []
        current: list[list[dict[str, Any]]] = []
        for segment in segments:
            if not fits(segment[-1:]):  # this turn alone is too long: never shown, not coded
                continue
            if not fits([*(i for s in current for i in s), *segment]) and current:
                out.append(_window(current))
                keep = current[-self.overlap_turns:] if self.overlap_turns else []
                current = list(keep)
                while current and not fits([*(i for s in current for i in s), *segment]):
                    current.pop(0)
            if fits([*(i for s in current for i in s), *segment]):
                current.append(segment)
            else:  # shown without the (long) user text before it
                current = [segment[-1:]]
        if current:
            out.append(_window(current))
        # drop a window whose turns all appear in the one before (an overlap-only tail)
        return [w for k, w in enumerate(out)
                if k == 0 or not set(w.turns) <= set(out[k - 1].turns)]

    def request(self, transcript_id: str, messages: Sequence[Message]) -> Request:
        """The judge request for a transcript that fits in one window (the first window
        otherwise)."""
        return self._window_request(transcript_id, messages, self.windows(transcript_id,
                                                                          messages), 0)

    def _window_request(self, transcript_id: str, messages: Sequence[Message],
                        windows: Sequence[_Window], k: int) -> Request:
        n_turns = sum(m.get("role") == "assistant" for m in messages)
        window = windows[k] if windows else _Window((), ())
        header = None
        if len(windows) > 1:
            header = {"first": window.turns[0], "last": window.turns[-1], "part": k + 1,
                      "parts": len(windows)}
        prompt = self._prompt(transcript_id, window.items, n_turns, header)
        metadata = {"probe": "coders", "coder": "judge", "transcript_id": transcript_id,
                    "template": self.template_hash}
        if header is not None:
            metadata["window"] = k
        return Request(
            messages=({"role": "user", "content": prompt},),
            system=self.system,
            tools=(self.tool,),
            tool_choice=self.tool_choice,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            metadata=metadata,
        )

    # -- answers

    def _problem(self, response: Response) -> tuple[str | None, Any]:
        """Why a response cannot be read (None if it can), and the tool call if there is one."""
        call = next((c for c in response.tool_calls if c.name == TOOL_NAME), None)
        if call is None:
            return f"no {TOOL_NAME} call (stop_reason {response.stop_reason})", None
        # an error inside one code (a label outside the codebook, a missing quote) rejects
        # that code alone (`_check`, counted); an error in the shape of the whole input
        # ('codes' missing or not a list of objects) makes the answer unreadable
        errors = sorted((e for e in self.validator.iter_errors(call.input)
                         if len(e.path) < 3), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "input"
            return f"malformed {TOOL_NAME} input at {where}: {errors[0].message}"[:300], call
        return None, call

    def _repair_request(self, request: Request, response: Response, problem: str,
                        call: Any) -> Request:
        """The same request plus the judge's own turn (passed back exactly) and a repair
        message: the tool_result with the error for a malformed call, else a reminder."""
        if call is not None:
            results = [{"type": "tool_result", "tool_use_id": c.id, "is_error": c.id == call.id,
                        "content": (f"Invalid input: {problem}. Call {TOOL_NAME} again with "
                                    "input that follows its schema." if c.id == call.id
                                    else "ignored")}
                       for c in response.tool_calls]
            repair: Message = {"role": "user", "content": results}
        else:
            repair = {"role": "user", "content": REPAIR_NO_CALL}
        turn = response.assistant_message() if response.has_answer else None
        messages = (*request.messages, turn, repair) if turn else (
            *request.messages, {"role": "assistant", "content": "(no answer)"}, repair)
        return Request(messages=messages, system=request.system, tools=request.tools,
                       tool_choice=request.tool_choice, temperature=request.temperature,
                       max_tokens=request.max_tokens,
                       metadata={**request.metadata, "repair": 1})

    def parse(self, transcript_id: str, turns: Sequence[Turn], response: Response
              ) -> JudgeResult:
        """Accepted and rejected codes from a response; never raises."""
        result = JudgeResult(transcript_id, cached=response.cached)
        problem, call = self._problem(response)
        if problem is not None:
            result.failure = problem
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
            shown = f"{min(turns)}–{max(turns)}" if turns else "none"
            return None, f"turn {turn!r} is not an assistant turn shown ({shown})"
        if label not in self.codebook:
            return None, f"label {label!r} is not in the codebook"
        if not isinstance(quote, str) or not quote.strip():
            return None, "empty quote"
        span = find_quote(turns[turn].text, quote)
        if span is None:
            return None, f"quote not found in assistant turn {turn}"
        start, end = span
        return Code(label, turn, turns[turn].text[start:end], start, end), ""

    async def _ask(self, request: Request) -> tuple[Response, int]:
        """The judge's answer to a window, with at most one repair turn; (response, repairs).
        """
        response = await self.model.generate(request)
        problem, call = self._problem(response)
        if problem is None:
            return response, 0
        return await self.model.generate(self._repair_request(request, response, problem,
                                                              call)), 1

    async def code_transcript(self, transcript_id: str, messages: Sequence[Message]
                              ) -> JudgeResult:
        """Code one transcript, window by window; a failed call or output still unreadable
        after its repair turn is a counted failure, and its turns are not marked coded."""
        turns = assistant_turns(messages)
        if not turns:
            return JudgeResult(transcript_id)
        by_number = {t.number: t for t in turns}
        windows = self.windows(transcript_id, messages)
        total = JudgeResult(transcript_id, cached=True, windows=len(windows))
        coded: set[int] = set()
        seen: set[tuple[int, str]] = set()
        for k, window in enumerate(windows):
            request = self._window_request(transcript_id, messages, windows, k)
            try:
                response, repairs = await self._ask(request)
            except ModelError as exc:
                total.failure = total.failure or f"model error: {exc}"[:300]
                total.cached = False
                continue
            total.repairs += repairs
            shown = [by_number[n] for n in window.turns if n in by_number]
            part = self.parse(transcript_id, shown, response)
            total.cached = total.cached and part.cached
            if part.failure is not None:
                after = " after one repair turn" if repairs else ""
                total.failure = total.failure or f"{part.failure}{after}"[:300]
                continue
            coded.update(part.coded_turns)
            total.rejected.extend(part.rejected)
            for code in part.codes:
                if (code.turn, code.label) not in seen:
                    seen.add((code.turn, code.label))
                    total.codes.append(code)
        total.coded_turns = sorted(coded)
        total.uncoded_turns = sorted(set(by_number) - coded)
        total.codes.sort(key=lambda c: (c.turn, c.start))
        return total

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
        """Synchronous `code_many` (for scripts and notebooks outside an event loop).

        It runs its own event loop and closes the model's HTTP connections (`aclose`) before
        that loop ends, since they belong to it; call `code_many` from your own loop to keep
        the model open for more work.
        """
        items = list(items)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._code_and_close(items))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self._code_and_close(items)).result()

    async def _code_and_close(self, items: list[tuple[str, Sequence[Message]]]
                              ) -> list[JudgeResult]:
        try:
            return await self.code_many(items)
        finally:
            close = getattr(self.model, "aclose", None)
            if close is not None:
                await close()

    def code(self, transcripts: Iterable[Transcript]) -> pd.DataFrame:
        """The `Coder` protocol: codes plus `_coded` / `_failed` / `_rejected` markers."""
        return results_frame(self.code_transcripts(transcripts))


def results_frame(results: Iterable[JudgeResult]) -> pd.DataFrame:
    """Judge results as a transcript codes frame, markers included."""
    rows: list[dict[str, Any]] = []
    for result in results:
        tid = result.transcript_id
        if result.failure is not None:
            rows.append({"trial_id": tid, "turn": 0, "label": FAILED,
                         "evidence": result.failure, "start": None, "end": None})
            continue
        rows.extend({"trial_id": tid, "turn": turn, "label": CODED, "evidence": "",
                     "start": None, "end": None} for turn in result.coded_turns)
        rows.extend(code_rows(tid, result.codes))
        for rejected in result.rejected:
            item = rejected["item"] if isinstance(rejected["item"], dict) else {}
            turn = item.get("turn") if isinstance(item.get("turn"), int) else 0
            rows.append({"trial_id": tid, "turn": turn, "label": REJECTED,
                         "evidence": rejected["reason"], "start": None, "end": None})
    return transcript_codes_frame(rows)


def _window(segments: Sequence[Sequence[dict[str, Any]]]) -> _Window:
    items = tuple(i for s in segments for i in s)
    return _Window(items, tuple(i["turn"] for i in items if i["role"] == "assistant"))


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
