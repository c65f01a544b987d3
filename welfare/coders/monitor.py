"""Monitoring outside assessments: code a JSONL file of transcripts in bounded memory.

`code_jsonl(path, out_dir)` reads one transcript per line (`{"id": ..., "messages": [...]}` in
the Messages API shape; `.gz` files too), codes it, appends its codes to `codes.csv`, and keeps
only running counts, so a file of a million transcripts needs no more memory than one of ten.
A line that cannot be read is counted and reported with its line number, never a crash. At the
end it writes `summary.json` (prevalence with Wilson intervals, trajectory over turns, bad
lines) and a small self-contained `report.html`.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import jinja2

from welfare.coders.codebook import Codebook, load_codebook
from welfare.coders.common import Code, assistant_turns
from welfare.coders.lexicon import LexiconCoder
from welfare.models.base import Message, Model
from welfare.stats import wilson_interval

CSV_COLUMNS = ["transcript_id", "turn", "label", "evidence", "start", "end"]
MAX_BAD_EXAMPLES = 50
TEMPLATES = Path(__file__).resolve().parent.parent / "report" / "templates"


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
    transcripts_with: Counter[str] = field(default_factory=Counter)
    turns_with: Counter[str] = field(default_factory=Counter)
    turns_at: Counter[int] = field(default_factory=Counter)
    label_at: Counter[tuple[str, int]] = field(default_factory=Counter)
    judge_failed: int = 0
    judge_rejected: int = 0
    judge_failure_reasons: Counter[str] = field(default_factory=Counter)

    def bad(self, line: int, reason: str) -> None:
        self.bad_lines += 1
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
            "bad_line_examples": self.bad_examples, "labels": labels,
            "trajectory": trajectory,
            "judge": {"failed_transcripts": self.judge_failed,
                      "rejected_codes": self.judge_rejected,
                      "failure_reasons": dict(self.judge_failure_reasons.most_common(10))},
        }


def read_transcripts(path: str | Path, tally: Tally) -> Iterator[tuple[str, list[Message]]]:
    """(id, messages) per good line; bad lines are counted in `tally` with their number."""
    file = Path(path)
    opener: Any = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rt", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            tally.lines += 1
            if not line.strip():
                tally.blank_lines += 1
                continue
            parsed = _parse_line(line)
            if isinstance(parsed, str):
                tally.bad(number, parsed)
                continue
            yield parsed


def _parse_line(line: str) -> tuple[str, list[Message]] | str:
    """A transcript, or the reason the line is not one."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
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
        if not isinstance(content, str) and not (
            isinstance(content, list) and all(isinstance(b, dict) for b in content)
        ):
            return f"message {i}: 'content' must be a string or a list of blocks"
    return str(tid), messages


def code_jsonl(
    path: str | Path,
    out_dir: str | Path,
    coder: str = "lexicon",
    judge_model: Model | str | None = None,
    *,
    codebook: Codebook | None = None,
    lexicon: str | Path | None = None,
    judge_batch: int = 64,
    max_turn: int = 50,
) -> Path:
    """Code every transcript of a JSONL file; write codes.csv, summary.json, report.html.

    `coder` is "lexicon" (offline) or "judge" (an LLM judge: `judge_model` is a Model or a
    spec such as `anthropic:claude-sonnet-4-5`; responses are cached in
    `out_dir/judge_cache.sqlite`, so a rerun pays nothing twice). Returns the report's path.
    """
    if coder not in ("lexicon", "judge"):
        raise ValueError(f"coder must be 'lexicon' or 'judge', got {coder!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    codebook = codebook or load_codebook()
    tally = Tally(labels=codebook.ids, max_turn=max_turn)
    start = time.monotonic()
    with (out / "codes.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        if coder == "lexicon":
            lex = LexiconCoder(lexicon or "builtin:coders/lexicon.toml", codebook=codebook)
            for tid, messages in read_transcripts(path, tally):
                turns = assistant_turns(messages)
                codes = lex.code_turns(turns)
                _write(writer, tid, codes)
                tally.add(len(turns), codes)
        else:
            if judge_model is None:
                raise ValueError("coder='judge' needs judge_model (a Model or a spec string)")
            asyncio.run(_judge_stream(path, out, judge_model, codebook, tally, writer, fh,
                                      judge_batch))
    summary = {"input": str(path), "coder": coder, "codebook": codebook.source,
               "seconds": round(time.monotonic() - start, 3), **tally.summary()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    report = out / "report.html"
    report.write_text(render_monitor_report(summary, codebook), encoding="utf-8")
    return report


def _write(writer: Any, tid: str, codes: list[Code]) -> None:
    for c in codes:
        writer.writerow([tid, c.turn, c.label, c.evidence, c.start, c.end])


async def _judge_stream(path: str | Path, out: Path, judge_model: Model | str,
                        codebook: Codebook, tally: Tally, writer: Any, fh: IO[str],
                        batch: int) -> None:
    """Judge the file in batches (bounded memory), caching responses in the output folder."""
    from welfare.coders.judge import JudgeCoder
    from welfare.models import load_model
    from welfare.run.store import Store

    model = load_model(judge_model) if isinstance(judge_model, str) else judge_model
    store = Store(out / "judge_cache.sqlite")
    try:
        judge = JudgeCoder(model, codebook, store=store)
        pending: list[tuple[str, list[Message]]] = []

        async def flush() -> None:
            results = await judge.code_many(pending)
            for (tid, messages), result in zip(pending, results, strict=True):
                turns = assistant_turns(messages)
                if result.failure is not None:
                    tally.judge_failed += 1
                    tally.judge_failure_reasons[result.failure.split(":")[0]] += 1
                    continue
                tally.judge_rejected += len(result.rejected)
                _write(writer, tid, result.codes)
                tally.add(len(turns), result.codes)
            fh.flush()
            pending.clear()

        for item in read_transcripts(path, tally):
            pending.append(item)
            if len(pending) >= batch:
                await flush()
        if pending:
            await flush()
    finally:
        store.close()
        close = getattr(model, "aclose", None)
        if close is not None:
            await close()


def render_monitor_report(summary: dict[str, Any], codebook: Codebook) -> str:
    """The monitoring report as one self-contained, autoescaped HTML page."""
    from welfare.report.plots.coders import monitor_figure
    from welfare.report.render import format_number

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    names = {label.id: label.name for label in codebook.labels}
    figure = monitor_figure(summary, names)
    return env.get_template("coders_monitor.html.j2").render(
        summary=summary, names=names, figure=figure,
        labels=[{"id": lab.id, "name": lab.name, "definition": lab.definition}
                for lab in codebook.labels],
    )
