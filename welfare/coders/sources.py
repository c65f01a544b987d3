"""Transcripts from elsewhere, for `welfare code`: Inspect AI eval logs, OpenAI chat JSONL, and
the toolkit's own JSONL, each turned into `(id, messages)` in the Messages API shape.

Formats:

- `welfare`: one object a line, `{"id": ..., "messages": [...]}` with Messages API messages
  (content a string or blocks, `tool_use` / `tool_result` blocks). `.jsonl`, `.jsonl.gz`.
- `openai`: one object a line, `{"id": ..., "messages": [...]}` with chat-completions messages
  (`system` / `developer` / `user` / `assistant` / `tool` roles, `tool_calls` whose arguments
  are JSON strings), as OpenAI's fine-tuning files and most logging proxies write them; `id` is
  optional (`line-<n>` when absent); `tools` and other keys are ignored.
- `inspect`: an Inspect AI eval log (`.eval`, or Inspect's `.json`), read through
  `inspect_ai.log`'s own reader (the `inspect` extra), one transcript per sample and epoch,
  named `<sample id>` (epoch 1) or `<sample id>#<epoch>`.

`auto` (the default) goes by the file: `.eval` → inspect; `.json` → inspect; JSONL → each line
by its shape (chat-completions roles or `tool_calls` → openai, else welfare; where the two
overlap — user and assistant text only — they read alike). A record that cannot be read is
counted with its line (or sample) number and the reason, never a crash; a file that is none of
these stops with an error naming it.

System prompts are context the coders do not read, so they are dropped. Reasoning a model
returned apart from its answer (Inspect's `reasoning` content, `reasoning_content` in chat
JSONL) is not part of the visible turn and is not coded. Tool calls become `tool_use` blocks
and tool results `tool_result` blocks, so a model's `end_conversation` call is kept and coded
`request_to_end` (`end_tool_codes`).

Inspect log reading (read 2026-12-07): https://inspect.aisi.org.uk/eval-logs.html and
https://inspect.aisi.org.uk/reference/inspect_ai.log.html (`read_eval_log`,
`read_eval_log_samples`, which yields one sample at a time).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from welfare.coders.common import Code
from welfare.errors import InputError, WelfareError
from welfare.models.base import Message


class Tally(Protocol):
    """What a reader counts into (`welfare.coders.monitor.Tally`): records read, bad ones."""

    lines: int

    def bad(self, line: int, reason: str) -> None: ...

Format = Literal["auto", "welfare", "openai", "inspect"]
FORMATS: tuple[str, ...] = ("auto", "welfare", "openai", "inspect")
END_TOOL = "end_conversation"
"""The tool whose call is a model's ending of the conversation (coded `request_to_end`)."""

_OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool")


class SourceError(InputError):
    """A transcript file that cannot be read at all: `path: problem` (exit 2 on the CLI)."""


class RecordError(ValueError):
    """One record that cannot be turned into a transcript; the message is the reason."""


# ------------------------------------------------------------------------- detection


def _suffixes(path: Path) -> list[str]:
    suffixes = [s.lower() for s in path.suffixes]
    return suffixes[:-1] if suffixes and suffixes[-1] == ".gz" else suffixes


def detect_format(path: str | Path) -> str:
    """`inspect` for `.eval` / `.json` files, else `jsonl` (each line goes by its shape)."""
    file = Path(path)
    suffixes = _suffixes(file)
    last = suffixes[-1] if suffixes else ""
    if last in (".eval", ".json"):
        return "inspect"
    if last in (".jsonl", ".ndjson", ".txt", ""):
        return "jsonl"
    raise SourceError(
        file,
        f"cannot tell the transcript format from the extension {last!r}: expected .jsonl "
        "(the toolkit's or OpenAI chat JSONL, .gz accepted) or an Inspect log (.eval, .json); "
        "or pass --format welfare|openai|inspect",
    )


def looks_like_openai(obj: Mapping[str, Any]) -> bool:
    """True when a line's messages use chat-completions shapes (not the Messages API's)."""
    messages = obj.get("messages")
    if not isinstance(messages, list):
        return False
    for m in messages:
        if not isinstance(m, Mapping):
            continue
        if m.get("role") in ("system", "developer", "tool") or "tool_calls" in m:
            return True
        content = m.get("content")
        if isinstance(content, list) and any(
            isinstance(b, Mapping) and b.get("type") in ("image_url", "input_audio")
            for b in content
        ):
            return True
    return False


# ---------------------------------------------------------------- chat-completions lines


def _parts_text(content: Any, where: str) -> str:
    """The text of chat-completions content: a string, or its text parts joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, Mapping):
                raise RecordError(f"{where}: content parts must be objects")
            if part.get("type") == "text":
                texts.append(str(part.get("text", "")))
        return "\n".join(texts)
    raise RecordError(f"{where}: 'content' must be a string, a list of parts or null")


def _arguments(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw in (None, ""):
        return {}
    if not isinstance(raw, str):
        raise RecordError(f"{where}: 'arguments' must be a JSON string")
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return {"_unparsed_arguments": raw}
    return parsed if isinstance(parsed, dict) else {"_arguments": parsed}


def openai_messages(messages: Any) -> list[Message]:
    """Chat-completions messages → Messages API messages (see the module docstring)."""
    if not isinstance(messages, list):
        raise RecordError("'messages' is missing or not a list")
    out: list[Message] = []
    for i, m in enumerate(messages):
        where = f"message {i}"
        if not isinstance(m, Mapping) or m.get("role") not in _OPENAI_ROLES:
            raise RecordError(f"{where}: expected an object with role one of "
                              f"{', '.join(_OPENAI_ROLES)}")
        role = m["role"]
        if role in ("system", "developer"):
            continue
        if role == "user":
            out.append({"role": "user", "content": _parts_text(m.get("content"), where)})
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            text = _parts_text(m.get("content"), where)
            if text:
                blocks.append({"type": "text", "text": text})
            calls = m.get("tool_calls") or []
            if not isinstance(calls, list):
                raise RecordError(f"{where}: 'tool_calls' must be a list")
            for j, call in enumerate(calls):
                fn = call.get("function") if isinstance(call, Mapping) else None
                if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
                    raise RecordError(f"{where}: tool_calls[{j}] needs function.name")
                blocks.append({
                    "type": "tool_use", "id": str(call.get("id") or f"call_{i}_{j}"),
                    "name": fn["name"],
                    "input": _arguments(fn.get("arguments"), f"{where}: tool_calls[{j}]"),
                })
            out.append({"role": "assistant", "content": blocks})
        else:
            result = {"type": "tool_result", "tool_use_id": str(m.get("tool_call_id") or ""),
                      "content": _parts_text(m.get("content"), where)}
            _append_tool_result(out, result)
    return out


def _append_tool_result(out: list[Message], block: dict[str, Any]) -> None:
    """Tool results after one assistant turn share one user message, as the Messages API has."""
    last = out[-1] if out else None
    if last is not None and last["role"] == "user" and isinstance(last["content"], list) and \
            all(b.get("type") == "tool_result" for b in last["content"]):
        last["content"].append(block)
    else:
        out.append({"role": "user", "content": [block]})


def parse_openai_line(obj: Any, number: int) -> tuple[str, list[Message]]:
    """One chat JSONL record → (id, messages); raises RecordError with the reason."""
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
    tid = obj.get("id", f"line-{number}")
    if not isinstance(tid, str | int) or isinstance(tid, bool) or str(tid) == "":
        raise RecordError("'id' must be a non-empty string or number when present")
    return str(tid), openai_messages(obj.get("messages"))


def _load(line: str) -> Any:
    """The JSON of a line, or the reason it is not JSON (as the toolkit's reader words it)."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        return RecordError(f"not valid JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        return RecordError("nested too deeply (JSON deeper than Python's recursion limit)")


def parse_openai_text(line: str, number: int) -> tuple[str, list[Message]] | str:
    """A line of OpenAI chat JSONL: the transcript, or the reason it is not one."""
    obj = _load(line)
    if isinstance(obj, RecordError):
        return str(obj)
    try:
        return parse_openai_line(obj, number)
    except RecordError as exc:
        return f"{exc} (read as OpenAI chat JSONL)"


def auto_parser(own: Callable[[str], tuple[str, list[Message]] | str]) -> Callable[
        [str, int], tuple[str, list[Message]] | str]:
    """A JSONL line parser that goes by each line's shape: chat-completions messages are read
    as OpenAI chat JSONL, anything else by `own` (the toolkit's line parser)."""

    def parse(line: str, number: int) -> tuple[str, list[Message]] | str:
        obj = _load(line)
        if isinstance(obj, RecordError):
            return str(obj)
        if isinstance(obj, dict) and looks_like_openai(obj):
            return parse_openai_text(line, number)
        return own(line)

    return parse


# ---------------------------------------------------------------------- Inspect logs


def _inspect_reader() -> Any:
    try:
        import inspect_ai.log as inspect_log
    except ImportError as exc:
        raise WelfareError(
            "reading Inspect AI logs needs the `inspect_ai` package: "
            "pip install 'welfare[inspect]'"
        ) from exc
    return inspect_log


def inspect_messages(messages: Any) -> list[Message]:
    """Inspect `ChatMessage`s → Messages API messages (reasoning and system prompts dropped)."""
    out: list[Message] = []
    for message in messages:
        role = message.role
        if role == "system":
            continue
        if role == "user":
            out.append({"role": "user", "content": message.text})
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            if message.text:
                blocks.append({"type": "text", "text": message.text})
            for call in message.tool_calls or ():
                blocks.append({"type": "tool_use", "id": str(call.id), "name": call.function,
                               "input": dict(call.arguments or {})})
            out.append({"role": "assistant", "content": blocks})
        elif role == "tool":
            block: dict[str, Any] = {"type": "tool_result",
                                     "tool_use_id": str(message.tool_call_id or ""),
                                     "content": message.text}
            if message.error is not None:
                block["is_error"] = True
                block["content"] = message.error.message or message.text
            _append_tool_result(out, block)
        else:
            raise RecordError(f"message role {role!r} is not one Inspect writes")
    return out


def read_inspect(path: str | Path, tally: Tally, skip: int = 0) -> Iterator[
        tuple[str, list[Message]]]:
    """(id, messages) per sample and epoch of an Inspect log, one sample in memory at a time
    for `.eval` logs (Inspect's `.json` logs are one document and are read whole).

    The header is read at once, so a file that is not an Inspect log raises SourceError here;
    a sample that cannot be converted is counted as bad with its ordinal number and id. The
    first `skip` samples (coded by an interrupted run) are passed over uncounted.
    """
    inspect_log = _inspect_reader()
    file = Path(path)
    header = inspect_header(file)
    if _suffixes(file)[-1:] == [".json"] or header.eval.dataset.sample_ids is None:
        samples: Any = iter(
            inspect_log.read_eval_log(str(file), resolve_attachments=True).samples or ())
    else:
        samples = inspect_log.read_eval_log_samples(
            str(file), all_samples_required=False, resolve_attachments=True,
            exclude_fields={"events", "store"},
        )
    return _inspect_transcripts(samples, tally, skip)


def inspect_header(path: Path) -> Any:
    """The header of an Inspect log; SourceError naming the file if it is not one."""
    inspect_log = _inspect_reader()
    try:
        return inspect_log.read_eval_log(str(path), header_only=True)
    except Exception as exc:  # not an Inspect log, or one it cannot read: stop, naming it
        raise SourceError(path, f"not a readable Inspect AI eval log ({type(exc).__name__}: "
                                f"{exc})") from exc


def _inspect_transcripts(samples: Iterator[Any], tally: Tally, skip: int) -> Iterator[
        tuple[str, list[Message]]]:
    for number, sample in enumerate(samples, start=1):
        if number <= skip:
            continue
        tally.lines += 1
        tid = str(sample.id) if sample.epoch == 1 else f"{sample.id}#{sample.epoch}"
        try:
            messages = inspect_messages(sample.messages)
        except (RecordError, AttributeError, TypeError) as exc:
            tally.bad(number, f"sample {tid}: {exc}")
            continue
        yield tid, messages


# ----------------------------------------------------------------------------- dispatch


def check_format(path: str | Path, fmt: str = "auto") -> str:
    """The format `path` will be read in (`welfare`, `openai`, `jsonl`: each line by its
    shape, or `inspect`); SourceError naming the file when it is none of them."""
    file = Path(path)
    if fmt not in FORMATS:
        raise SourceError(file, f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    kind = detect_format(file) if fmt == "auto" else fmt
    if kind == "inspect":
        inspect_header(file)
    return kind


# ------------------------------------------------------------------------ tool codes


def end_tool_codes(messages: list[Message], codes: list[Code]) -> list[Code]:
    """`request_to_end` for each assistant turn that calls the end tool and has no such code.

    The evidence is the call as text, e.g. `end_conversation({"reason": "abuse"})`; it has no
    character span, since it is not in the turn's text.
    """
    coded = {c.turn for c in codes if c.label == "request_to_end"}
    extra: list[Code] = []
    turn = 0
    for message in messages:
        if message.get("role") != "assistant":
            continue
        turn += 1
        content = message.get("content")
        if not isinstance(content, list) or turn in coded:
            continue
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "tool_use" and \
                    block.get("name") == END_TOOL:
                arguments = json.dumps(block.get("input") or {}, ensure_ascii=False,
                                       sort_keys=True)
                extra.append(Code("request_to_end", turn, f"{END_TOOL}({arguments})"))
                break
    return extra
