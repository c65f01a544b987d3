"""Report size and render time for a 10,000-trial simulated assessment.

    python benchmarks/bench_report.py [--out DIR] [--trials 10000]

Runs (or resumes, from DIR) the built-in default assessment scaled up — mostly task-preference
trials, plus self-reports, ending conversations and self-interaction — on the three simulated
subjects, then times `render_report`, `summary_json` and `write_tables` and prints a table.
The report samples transcripts, so its size should stay well under 5 MB.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from welfare.assess import load_assessment, run_assessment
from welfare.config import load_config, parse_config
from welfare.report import render_report, summary_json, write_tables
from welfare.report.transcripts import sample_transcripts


def scaled_config(trials: int):
    """The default assessment with task-preference comparisons scaled to reach `trials`."""
    base = load_config()
    raw = json.loads(base.model_dump_json(exclude={"probes", "source"}))
    probes = {k: v.model_dump(mode="json", exclude_defaults=True) for k, v in base.probes.items()}
    # ~163 items per subject; each comparison per task adds ~163/2 × 2 orders trials a subject
    per_task = max(4, round((trials - 1500) / (3 * 163)))
    probes["task_preference"] = {**probes.get("task_preference", {}),
                                 "comparisons_per_task": per_task, "bootstrap": 50}
    raw["name"] = "bench-report"
    raw["probes"] = probes
    return parse_config(raw, source=base.source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--trials", type=int, default=10_000)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-report-"))
    start = time.perf_counter()
    if (out / "assessment.sqlite").exists():
        assessment = load_assessment(out)
    else:
        assessment = run_assessment(scaled_config(args.trials), out, progress=True, write=False)
    prepared = time.perf_counter() - start
    rows = []

    def timed(name, fn):
        t = time.perf_counter()
        value = fn()
        rows.append((name, time.perf_counter() - t))
        return value

    html = timed("render_report", lambda: render_report(assessment))
    timed("summary_json", lambda: summary_json(assessment))
    timed("write_tables", lambda: write_tables(assessment, out / "tables"))
    sample = sample_transcripts(assessment.frames)
    (out / "report.html").write_text(html, encoding="utf-8")
    trials = assessment.frames.trials
    print(f"assessment folder: {out}")
    print(f"run + analyze: {prepared:.1f} s")
    print(f"{'trials':<28}{len(trials):>12,}")
    for probe, n in trials.groupby("probe").size().items():
        print(f"{'  ' + probe:<28}{n:>12,}")
    print(f"{'stored transcripts':<28}{sample.total:>12,}")
    print(f"{'transcripts in report':<28}{len(sample.views):>12,}")
    print(f"{'report size (MB)':<28}{len(html.encode()) / 1e6:>12.2f}")
    for name, seconds in rows:
        print(f"{name + ' (s)':<28}{seconds:>12.2f}")


if __name__ == "__main__":
    main()
