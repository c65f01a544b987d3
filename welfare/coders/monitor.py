"""Reading monitoring input: transcripts from a file, and the running counts kept.

`read_any(path, tally, format)` yields `(id, messages)` per good record of a JSONL file of
transcripts (`{"id": ..., "messages": [...]}` in the Messages API shape, OpenAI chat JSONL, or
an Inspect AI eval log; `.gz` files too; see `welfare.coders.sources`) and counts every record
that is not one with its number and reason: a line that is not valid UTF-8 or JSON, nested too
deeply, too long, or not shaped like a transcript; a truncated or corrupt `.gz` ends the
reading with a counted reason. `Tally` holds the running counts (and a bounded sample of coded
turns per label), so a file of a million transcripts needs no more memory than one of ten.

The run itself (coding, checkpoints and resume, atomic outputs, the judge's response cache,
the report) is the run layer's: `welfare.run.monitor.code_jsonl` / `run_coding`.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from welfare.coders.common import Code, Turn
from welfare.coders.examples import ExampleSampler
from welfare.coders.sources import (
    auto_parser,
    check_format,
    parse_openai_text,
    read_inspect,
)
from welfare.models.base import Message
from welfare.stats import wilson_interval

CSV_COLUMNS = ["transcript_id", "turn", "label", "evidence", "start", "end"]
MAX_BAD_EXAMPLES = 50
EXAMPLES_PER_LABEL = 5
"""Coded turns kept per label, with their full text, for the report's examples."""
MAX_LINE_BYTES = 32 * 1024 * 1024
"""A longer line is counted as bad without being held in memory whole."""
LineParser = Callable[[str, int], "tuple[str, list[Message]] | str"]
"""Reads one JSONL line (and its number): a transcript, or the reason it is not one."""


@dataclass
class Tally:
    """Running counts: all the memory a monitoring run keeps, whatever the file's size."""

    labels: tuple[str, ...]
    max_turn: int = 50
    lines: int = 0
    blank_lines: int = 0
    transcripts: int = 0
    without_turns: int = 0
    turns: int = 0
    bad_lines: int = 0
    bad_examples: list[dict[str, Any]] = field(default_factory=list)
    bad_reasons: Counter[str] = field(default_factory=Counter)
    unreadable: str | None = None
    transcripts_with: Counter[str] = field(default_factory=Counter)
    turns_with: Counter[str] = field(default_factory=Counter)
    turns_at: Counter[int] = field(default_factory=Counter)
    label_at: Counter[tuple[str, int]] = field(default_factory=Counter)
    judge_failed: int = 0
    judge_rejected: int = 0
    judge_failure_reasons: Counter[str] = field(default_factory=Counter)
    examples_per_label: int = EXAMPLES_PER_LABEL
    examples: ExampleSampler | None = None

    def sample(self, transcript_id: str, turns: list[Turn], codes: list[Code],
               coder: str) -> None:
        """Keep the first coded turns of each label, with their text, for the report."""
        if self.examples is None:
            self.examples = ExampleSampler(self.labels, self.examples_per_label)
        if codes and not self.examples.full():
            self.examples.add(transcript_id, turns, codes, coder)

    def bad(self, line: int, reason: str) -> None:
        """Count line `line` as unreadable for `reason` (kind = the reason up to its '(')."""
        self.bad_lines += 1
        self.bad_reasons[_kind(reason)] += 1
        if len(self.bad_examples) < MAX_BAD_EXAMPLES:
            self.bad_examples.append({"line": line, "reason": reason})

    def add(self, n_turns: int, codes: list[Code]) -> None:
        self.transcripts += 1
        self.turns += n_turns
        if n_turns == 0:
            self.without_turns += 1
        for t in range(1, min(n_turns, self.max_turn) + 1):
            self.turns_at[t] += 1
        seen: set[str] = set()
        for code in codes:
            self.turns_with[code.label] += 1
            if code.turn <= self.max_turn:
                self.label_at[(code.label, code.turn)] += 1
            seen.add(code.label)
        for label in seen:
            self.transcripts_with[label] += 1

    @property
    def uncoded(self) -> int:
        """Records that were not coded: bad lines, judge failures, an unreadable remainder."""
        return self.bad_lines + self.judge_failed

    def state(self) -> dict[str, Any]:
        """Everything needed to resume counting (JSON-ready)."""
        return {
            "lines": self.lines, "blank_lines": self.blank_lines,
            "transcripts": self.transcripts, "without_turns": self.without_turns,
            "turns": self.turns, "bad_lines": self.bad_lines,
            "bad_examples": self.bad_examples, "bad_reasons": dict(self.bad_reasons),
            "transcripts_with": dict(self.transcripts_with),
            "turns_with": dict(self.turns_with),
            "turns_at": [[t, n] for t, n in self.turns_at.items()],
            "label_at": [[lab, t, n] for (lab, t), n in self.label_at.items()],
            "judge_failed": self.judge_failed, "judge_rejected": self.judge_rejected,
            "judge_failure_reasons": dict(self.judge_failure_reasons),
            "examples": self.examples.state() if self.examples else {},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Counts saved by `state` (a resumed run continues them)."""
        for key in ("lines", "blank_lines", "transcripts", "without_turns", "turns",
                    "bad_lines", "judge_failed", "judge_rejected"):
            setattr(self, key, int(state[key]))
        self.bad_examples = list(state["bad_examples"])
        self.bad_reasons = Counter(state["bad_reasons"])
        self.transcripts_with = Counter(state["transcripts_with"])
        self.turns_with = Counter(state["turns_with"])
        self.turns_at = Counter({int(t): int(n) for t, n in state["turns_at"]})
        self.label_at = Counter({(str(lab), int(t)): int(n) for lab, t, n in state["label_at"]})
        self.judge_failure_reasons = Counter(state["judge_failure_reasons"])
        self.examples = ExampleSampler(self.labels, self.examples_per_label)
        self.examples.restore(state.get("examples") or {})

    def summary(self) -> dict[str, Any]:
        labels: dict[str, Any] = {}
        for label in self.labels:
            kt, kn = self.transcripts_with[label], self.turns_with[label]
            t_lo, t_hi = wilson_interval(kt, self.transcripts) if self.transcripts else (0, 1)
            u_lo, u_hi = wilson_interval(kn, self.turns) if self.turns else (0, 1)
            labels[label] = {
                "transcripts_with": kt,
                "share_transcripts": kt / self.transcripts if self.transcripts else None,
                "transcripts_ci": [float(t_lo), float(t_hi)],
                "turns_with": kn,
                "share_turns": kn / self.turns if self.turns else None,
                "turns_ci": [float(u_lo), float(u_hi)],
            }
        trajectory: dict[str, list[dict[str, Any]]] = {}
        for label in self.labels:
            points = []
            for t in sorted(self.turns_at):
                n, k = self.turns_at[t], self.label_at[(label, t)]
                lo, hi = wilson_interval(k, n)
                points.append({"turn": t, "turns": n, "with": k, "share": k / n,
                               "ci": [float(lo), float(hi)]})
            trajectory[label] = points
        return {
            "lines": self.lines, "blank_lines": self.blank_lines,
            "transcripts": self.transcripts, "transcripts_without_assistant_turns":
            self.without_turns, "turns": self.turns, "bad_lines": self.bad_lines,
            "bad_line_reasons": dict(self.bad_reasons.most_common()),
            "bad_line_examples": self.bad_examples, "unreadable": self.unreadable,
            "uncoded": self.uncoded, "labels": labels,
            "trajectory": trajectory,
            "examples": self.examples.examples() if self.examples else [],
            "examples_per_label": self.examples_per_label,
            "judge": {"failed_transcripts": self.judge_failed,
                      "rejected_codes": self.judge_rejected,
                      "failure_reasons": dict(self.judge_failure_reasons.most_common(10))},
        }


_KINDS = (("not valid UTF-8", "encoding"), ("not valid JSON", "json"),
          ("nested too deeply", "depth"), ("line too long", "length"),
          ("truncated compressed", "compression"), ("not a gzip", "compression"),
          ("corrupt compressed", "compression"))


def _kind(reason: str) -> str:
    """The countable kind of a bad line's reason: encoding, json, depth, ... or shape."""
    return next((kind for prefix, kind in _KINDS if reason.startswith(prefix)), "shape")


_COMPRESSION_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def read_transcripts(path: str | Path, tally: Tally, *, skip_lines: int = 0,
                     parse: LineParser | None = None) -> Iterator[tuple[str, list[Message]]]:
    """(id, messages) per good line; bad lines are counted in `tally` with their number.

    `parse(line, number)` reads one line of another JSONL format (`welfare.coders.sources`);
    by default lines are the toolkit's own.

    The first `skip_lines` lines (already coded by an interrupted run) are read past without
    being counted again. A truncated or corrupt `.gz` stops the reading: it is counted as one
    bad line with its reason, and `tally.unreadable` says from which line on.
    """
    file = Path(path)
    opener: Any = gzip.open if file.suffix == ".gz" else open
    number = 0
    with opener(file, "rb") as fh:
        while True:
            try:
                raw = fh.readline(MAX_LINE_BYTES + 1)
                too_long = len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n")
                while too_long and raw and not raw.endswith(b"\n"):
                    raw = fh.readline(MAX_LINE_BYTES + 1)
            except _COMPRESSION_ERRORS as exc:
                reason = _compression_reason(exc)
                tally.unreadable = f"from line {number + 1}: {reason}"
                tally.bad(number + 1, reason)
                return
            if not raw:
                return
            number += 1
            if number <= skip_lines:
                continue
            tally.lines += 1
            if too_long:
                tally.bad(number, f"line too long (over {MAX_LINE_BYTES} bytes)")
                continue
            parsed = _parse_bytes(raw, parse, number)
            if parsed is None:
                tally.blank_lines += 1
            elif isinstance(parsed, str):
                tally.bad(number, parsed)
            else:
                yield parsed


def read_any(path: str | Path, tally: Tally, format: str = "auto", *, skip: int = 0
             ) -> Iterator[tuple[str, list[Message]]]:
    """(id, messages) for every transcript of `path` in `format` (`auto`, `welfare`, `openai`,
    `inspect`; see `welfare.coders.sources`). Bad records are counted in `tally` with their
    line (sample) number and reason; the first `skip` lines (samples), coded by an interrupted
    run, are passed over."""
    kind = check_format(path, format)
    if kind == "inspect":
        return read_inspect(path, tally, skip)
    parse = {"welfare": None, "openai": parse_openai_text, "jsonl": auto_parser(_parse_line)}
    return read_transcripts(path, tally, skip_lines=skip, parse=parse[kind])


def _compression_reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated compressed file (ends before its end-of-stream marker)"
    if isinstance(exc, gzip.BadGzipFile):
        return f"not a gzip file ({exc})"
    return f"corrupt compressed data ({exc})"


def _parse_bytes(raw: bytes, parse: LineParser | None = None, number: int = 0
                 ) -> tuple[str, list[Message]] | str | None:
    """A transcript, the reason the line is not one, or None for a blank line."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start + 1}: {exc.reason})"
    if not line.strip():
        return None
    return parse(line, number) if parse is not None else _parse_line(line)


def _parse_line(line: str) -> tuple[str, list[Message]] | str:
    """A transcript, or the reason the line is not one."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return "nested too deeply (JSON deeper than Python's recursion limit)"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    tid = obj.get("id")
    if not isinstance(tid, str | int) or isinstance(tid, bool) or str(tid) == "":
        return "missing or empty 'id'"
    messages = obj.get("messages")
    if not isinstance(messages, list):
        return "'messages' is missing or not a list"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            return f"message {i}: expected an object with role 'user' or 'assistant'"
        content = m.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            return f"message {i}: 'content' must be a string or a list of blocks"
        for j, block in enumerate(content):
            if not isinstance(block, dict):
                return f"message {i}, block {j}: expected an object"
            if block.get("type") == "text" and not isinstance(block.get("text"), str):
                return (f"message {i}, block {j}: a text block's 'text' must be a string "
                        f"(got {type(block.get('text')).__name__})")
    return str(tid), messages
