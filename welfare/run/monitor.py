"""Monitoring outside assessments: `welfare code` codes a file of transcripts.

`code_jsonl(path, out_dir)` reads transcripts (`welfare.coders.monitor.read_any`), codes them
with the lexicon or the judge, appends their codes to a partial `codes.csv`, and keeps only
running counts and a bounded sample of examples, so a file of a million transcripts needs no
more memory than one of ten. At the end it writes `summary.json` (prevalence with Wilson
intervals, trajectory over turns, bad records, examples) and a self-contained `report.html`
(`welfare.report.monitor`).

Nothing is emptied before it is replaced: the input and the output folder are checked first;
codes go to `codes.csv.partial`, the summary and report to temporary files, and all three
replace the previous results only once complete. Every `CHECKPOINT_EVERY` transcripts (each
judge batch) the position and the counts are saved in `codes.progress.json`; a rerun on the
same input (same path, size and modification time) and coder resumes from there. The judge's
responses are cached in `out_dir/judge_cache.sqlite`, so a rerun pays nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from welfare.coders.codebook import Codebook, load_codebook
from welfare.coders.common import Code, assistant_turns
from welfare.coders.lexicon import LexiconCoder
from welfare.coders.monitor import CSV_COLUMNS, Tally, read_any
from welfare.coders.sources import check_format, end_tool_codes
from welfare.models.base import Message, Model
from welfare.outputs import atomic_write_text, check_input_file, check_output_dir, temp_path
from welfare.report.monitor import render_monitor_report
from welfare.run.coding import cached_model
from welfare.run.store import Store
from welfare.safecsv import safe_row

CHECKPOINT_EVERY = 1000
"""Transcripts between two saved resume points (lexicon coder; the judge saves every batch)."""
PARTIAL = "codes.csv.partial"
PROGRESS = "codes.progress.json"
OUTPUTS = ("codes.csv", "summary.json", "report.html", PARTIAL, PROGRESS)


@dataclass
class CodingRun:
    """What `run_coding` did: the report it wrote and the summary (`uncoded` > 0: failures)."""

    report: Path
    summary: dict[str, Any]

    @property
    def uncoded(self) -> int:
        return int(self.summary["uncoded"])


def check_coding(path: str | Path, out_dir: str | Path, coder: str,
                 judge_model: Model | str | None, format: str = "auto") -> None:
    """Every check `code_jsonl` makes before it touches anything (InputError / ValueError)."""
    if coder not in ("lexicon", "judge"):
        raise ValueError(f"coder must be 'lexicon' or 'judge', got {coder!r}")
    if coder == "judge" and judge_model is None:
        raise ValueError("coder='judge' needs judge_model (a Model or a spec string)")
    check_input_file(path)
    check_format(path, format)
    check_output_dir(out_dir, OUTPUTS)


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
    format: str = "auto",
) -> Path:
    """Code every transcript of a JSONL file; write codes.csv, summary.json, report.html.

    `coder` is "lexicon" (offline) or "judge" (an LLM judge: `judge_model` is a Model or a
    spec such as `anthropic:claude-sonnet-4-5`; responses are cached in
    `out_dir/judge_cache.sqlite`, so a rerun pays nothing twice). `format` is `auto`,
    `welfare`, `openai` or `inspect` (Inspect AI logs; see `welfare.coders.sources`); a model's
    end_conversation tool call is coded request_to_end. Returns the report's path;
    `run_coding` also returns the summary.
    """
    return run_coding(path, out_dir, coder, judge_model, codebook=codebook, lexicon=lexicon,
                      judge_batch=judge_batch, max_turn=max_turn, format=format).report


def run_coding(
    path: str | Path,
    out_dir: str | Path,
    coder: str = "lexicon",
    judge_model: Model | str | None = None,
    *,
    codebook: Codebook | None = None,
    lexicon: str | Path | None = None,
    judge_batch: int = 64,
    max_turn: int = 50,
    format: str = "auto",
) -> CodingRun:
    """`code_jsonl`, returning the report's path and the summary written beside it."""
    check_coding(path, out_dir, coder, judge_model, format)
    codebook = codebook or load_codebook()
    lex = (LexiconCoder(lexicon or "builtin:coders/lexicon.toml", codebook=codebook)
           if coder == "lexicon" else None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tally = Tally(labels=codebook.ids, max_turn=max_turn)
    identity = {**_identity(path, coder, judge_model, codebook, lexicon), "format": format}
    resumed = _resume_point(out, identity, tally)
    start = time.monotonic()
    partial = out / PARTIAL
    with partial.open("r+" if resumed else "w", encoding="utf-8", newline="") as fh:
        if resumed:
            fh.seek(resumed["csv_offset"])
            fh.truncate()
        writer = csv.writer(fh)
        if not resumed:
            writer.writerow(CSV_COLUMNS)
        skip = int(resumed["lines"]) if resumed else 0
        checkpoint = _Checkpoint(out, identity, tally, fh)
        if lex is not None:
            for tid, messages in read_any(path, tally, format, skip=skip):
                turns = assistant_turns(messages)
                codes = lex.code_turns(turns)
                codes += end_tool_codes(messages, codes)
                _write(writer, tid, codes)
                tally.add(len(turns), codes)
                tally.sample(tid, turns, codes, "lexicon")
                if tally.transcripts % CHECKPOINT_EVERY == 0:
                    checkpoint.save()
        else:
            assert judge_model is not None
            asyncio.run(_judge_stream(read_any(path, tally, format, skip=skip), out,
                                      judge_model, codebook, tally, writer, checkpoint,
                                      judge_batch))
        fh.flush()
        os.fsync(fh.fileno())
    summary = {"input": str(path), "coder": coder, "codebook": codebook.source,
               "seconds": round(time.monotonic() - start, 3),
               "resumed_from_line": skip if resumed else None, **tally.summary()}
    summary_tmp, report_tmp = temp_path(out / "summary.json"), temp_path(out / "report.html")
    try:
        summary_tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                               encoding="utf-8")
        report_tmp.write_text(render_monitor_report(summary, codebook), encoding="utf-8")
        os.replace(partial, out / "codes.csv")
        os.replace(summary_tmp, out / "summary.json")
        os.replace(report_tmp, out / "report.html")
    finally:
        for tmp in (summary_tmp, report_tmp):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    (out / PROGRESS).unlink(missing_ok=True)
    return CodingRun(out / "report.html", summary)


def _identity(path: str | Path, coder: str, judge_model: Model | str | None,
              codebook: Codebook, lexicon: str | Path | None) -> dict[str, Any]:
    """What a resume point must match: the same input file (path, size, mtime) and coder."""
    st = Path(path).stat()
    judge = judge_model if isinstance(judge_model, str | None) else \
        getattr(judge_model, "spec", type(judge_model).__name__)
    return {"input": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "coder": coder, "judge_model": judge, "codebook": codebook.source,
            "lexicon": str(lexicon) if lexicon else None}


def _resume_point(out: Path, identity: dict[str, Any], tally: Tally) -> dict[str, Any] | None:
    """The saved progress of an interrupted run on the same input, restored into `tally`."""
    progress, partial = out / PROGRESS, out / PARTIAL
    if not progress.is_file() or not partial.is_file():
        return None
    try:
        saved = json.loads(progress.read_text(encoding="utf-8"))
        if saved.get("identity") != identity or partial.stat().st_size < saved["csv_offset"]:
            return None
        tally.restore(saved["tally"])
    except (ValueError, KeyError, TypeError):
        tally.restore(Tally(labels=tally.labels, max_turn=tally.max_turn).state())
        return None
    return dict(saved)


@dataclass
class _Checkpoint:
    """Saves how far the run got: CSV bytes written, input lines read, counts so far."""

    out: Path
    identity: dict[str, Any]
    tally: Tally
    fh: IO[str]

    def save(self) -> None:
        """Flush the codes, then record the position (`tally.lines` = input lines read)."""
        self.fh.flush()
        os.fsync(self.fh.fileno())
        state = {"identity": self.identity, "csv_offset": self.fh.tell(),
                 "lines": self.tally.lines, "tally": self.tally.state()}
        atomic_write_text(self.out / PROGRESS, json.dumps(state))


def _write(writer: Any, tid: str, codes: list[Code]) -> None:
    for c in codes:
        writer.writerow(safe_row([tid, c.turn, c.label, c.evidence, c.start, c.end]))


async def _judge_stream(transcripts: Iterable[tuple[str, list[Message]]], out: Path,
                        judge_model: Model | str, codebook: Codebook, tally: Tally,
                        writer: Any, checkpoint: _Checkpoint, batch: int) -> None:
    """Judge the file in batches (bounded memory), caching responses in the output folder."""
    from welfare.coders.judge import JudgeCoder
    from welfare.models import load_model

    model = load_model(judge_model) if isinstance(judge_model, str) else judge_model
    store = Store(out / "judge_cache.sqlite")
    try:
        judge = JudgeCoder(cached_model(model, store), codebook)
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
                codes = [*result.codes, *end_tool_codes(messages, result.codes)]
                _write(writer, tid, codes)
                tally.add(len(turns), codes)
                tally.sample(tid, turns, codes, "judge")
            pending.clear()
            checkpoint.save()

        for item in transcripts:
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
