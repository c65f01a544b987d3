"""`welfare compare DIR_A DIR_B …`: one report comparing separate assessments.

Each folder is re-read from its store (`welfare.assess.load_assessment`). A unit is an
assessment's subject, named `<folder> · <subject spec>`. Every later assessment is compared with
the first: subject by subject where they share subject specs (the same subject re-assessed, e.g.
after a config change), otherwise every subject of the first against every subject of the other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from welfare.outputs import atomic_write_text
from welfare.records import Finding
from welfare.report.crosssubject import compare_units, task_scores
from welfare.report.render import (
    STATIC,
    ReportOptions,
    _records,
    environment,
    report_results,
    script_hash,
    summary_json,
)
from welfare.version import __version__

if TYPE_CHECKING:
    from welfare.assess import Assessment


def write_comparison(assessments: Sequence[Assessment], labels: Sequence[str],
                     out_dir: str | Path, *, options: ReportOptions | None = None,
                     generated: str | None = None) -> Path:
    """Write `compare.html` and `summary.json` into `out_dir` (atomically); return the HTML."""
    html, summary = render_comparison(list(assessments), list(labels), options=options,
                                      generated=generated)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.json",
                      json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    path = out / "compare.html"
    atomic_write_text(path, html)
    return path


def unique_labels(dirs: Sequence[Path]) -> list[str]:
    """Folder names, disambiguated with their parents (then an index) when they repeat."""
    labels = [d.resolve().name or str(d) for d in dirs]
    if len(set(labels)) < len(labels):
        labels = [f"{d.resolve().parent.name}/{d.resolve().name}" for d in dirs]
    if len(set(labels)) < len(labels):
        labels = [f"{label} #{i + 1}" for i, label in enumerate(labels)]
    return labels


def comparison_pairs(subjects: Sequence[Sequence[str]], labels: Sequence[str]
                     ) -> list[tuple[str, str]]:
    """Units compared: each later assessment against the first (see module docstring)."""
    pairs = []
    first = subjects[0]
    for k in range(1, len(subjects)):
        shared = [s for s in subjects[k] if s in first]
        if shared:
            pairs.extend((unit(labels[0], s), unit(labels[k], s)) for s in shared)
        else:
            pairs.extend((unit(labels[0], a), unit(labels[k], b))
                         for a in first for b in subjects[k])
    return pairs


def unit(label: str, subject: str) -> str:
    return f"{label} · {subject}"


def render_comparison(
    assessments: Sequence[Assessment],
    labels: Sequence[str],
    *,
    options: ReportOptions | None = None,
    generated: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The comparison as (HTML, summary dict), from assessments already loaded."""
    options = options or ReportOptions()
    units: dict[str, list[Finding]] = {}
    scores = {}
    subjects = []
    infos = []
    for label, a in zip(labels, assessments, strict=True):
        results = report_results(a, options)
        specs = [s.spec for s in a.config.subjects]
        subjects.append(specs)
        for spec in specs:
            units[unit(label, spec)] = [f for r in results for f in r.findings
                                        if f.subject == spec]
        tp = next((r for r in results if r.probe == "task_preference"), None)
        for spec, series in task_scores(tp).items():
            scores[unit(label, spec)] = series
        trials = a.frames.trials
        infos.append({
            "label": label, "name": a.config.name, "dir": str(a.out_dir),
            "seed": a.config.seed, "subjects": specs,
            "simulated": [s for s in specs if a.subjects.get(s, {}).get(
                "simulated", s.startswith("simulated:"))],
            "trials": len(trials),
            "probes": [r.probe for r in a.results],
            "toolkit_version": a.manifest.get("toolkit_version"),
            "started": a.manifest.get("started"), "finished": a.manifest.get("finished"),
            "flagged": [f for r in results for f in r.findings if f.flag],
            "manifest": a.manifest,
        })
    pairs = comparison_pairs(subjects, labels)
    result = compare_units(units, scores, pairs, probe="compare")
    js = (STATIC / "report.js").read_text(encoding="utf-8")
    env = environment()
    html = env.get_template("compare.html.j2").render(
        infos=infos, result=result, pairs=pairs, version=__version__,
        generated=generated or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        css=(STATIC / "report.css").read_text(encoding="utf-8"), js=js,
        script_hash=script_hash(js), options=options,
    )
    summary = {
        "comparison": labels and list(labels),
        "toolkit_version": __version__,
        "pairs": [list(p) for p in pairs],
        "differences": _records(result.tables["differences"]),
        "task_score_spearman": _records(result.tables["score_correlations"]),
        "assessments": {label: summary_json(a, options)
                        for label, a in zip(labels, assessments, strict=True)},
    }
    return html, summary


__all__ = ["comparison_pairs", "render_comparison", "unique_labels", "write_comparison"]
