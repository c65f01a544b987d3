"""Render an assessment: report.html (Jinja2, autoescaped), summary.json and tables/*.csv.

The report is one self-contained file: CSS and JS inlined (the script allowed by its SHA-256
in a strict Content-Security-Policy), figures as inline SVG, no network. Model text is only
ever rendered through autoescaping; `|safe` is used on our own SVG and section HTML alone.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import inspect
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd

from welfare.findings import invalid_rate, percent
from welfare.findings import number as format_number
from welfare.probes import PROBES, answers
from welfare.probes.reading import parse_path_table
from welfare.records import Finding, ProbeResult
from welfare.report.crosssubject import cross_subject
from welfare.report.transcripts import TranscriptSample, sample_transcripts
from welfare.safecsv import safe_frame
from welfare.stats import wilson_interval
from welfare.version import __version__

if TYPE_CHECKING:
    from welfare.assess import Assessment

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

REPORT_SECTIONS = {
    "coders": ("Coder reliability",
               "How well the automated coders agree with each other and with human labels; the "
               "prevalence figures elsewhere are only as good as this agreement."),
    "cross_subject": ("Cross-subject comparison", ""),
}
"""Sections the report adds beside the probes' own (whose title and lede are probe attributes)."""


def section_title(name: str) -> str:
    """A section's title: the probe's `title`, a report section's, or the name made readable."""
    probe = PROBES.get(name)
    if probe is not None:
        return probe.title
    if name in REPORT_SECTIONS:
        return REPORT_SECTIONS[name][0]
    return name.replace("_", " ").capitalize()


def section_lede(name: str) -> str:
    probe = PROBES.get(name)
    if probe is not None:
        return probe.lede
    return REPORT_SECTIONS.get(name, ("", ""))[1]


def section_template(name: str) -> str | None:
    """The Jinja name of a probe's own section template (in its package), if it has one."""
    probe = PROBES.get(name)
    folder = Path(inspect.getfile(type(probe))).parent if probe is not None else None
    if folder is not None and (folder / "section.html.j2").exists():
        return f"{name}/section.html.j2"
    if (TEMPLATES / "sections" / f"{name}.html.j2").exists():
        return f"sections/{name}.html.j2"
    return None


TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?")
"""What varies between two renders of the same assessment (tests mask it)."""


@dataclass(frozen=True)
class ReportOptions:
    """Knobs of the report: flag threshold and the transcript sample's bounds."""

    invalid_rate_threshold: float = 0.10
    transcripts_per_group: int = 20
    transcript_budget_chars: int = 1_500_000
    message_chars: int = 4000
    key_importance: int = 1
    key_findings_max: int = 30
    strict: bool = False
    """Raise when a probe's own section template fails, instead of showing the generic view."""


# -- findings --------------------------------------------------------------------------------


def report_findings(assessment: Assessment, options: ReportOptions | None = None
                    ) -> list[Finding]:
    """Every finding as reported: invalid-rate findings completed and high ones flagged."""
    options = options or ReportOptions()
    return [f for r in report_results(assessment, options) for f in r.findings]


def report_results(assessment: Assessment, options: ReportOptions | None = None
                   ) -> list[ProbeResult]:
    """The probe results with render-time flags added and missing invalid rates filled in.

    A probe that reports no `<probe>.invalid_rate` for a subject gets one computed from its
    observations (Wilson interval), so unparseable answers are never silently dropped.
    """
    options = options or ReportOptions()
    counts = answer_counts(assessment)
    out = []
    for result in assessment.results:
        findings = [flag_invalid(f, options.invalid_rate_threshold) for f in result.findings]
        have = {f.subject for f in findings if f.id == f"{result.probe}.invalid_rate"}
        rows = counts[counts["probe"] == result.probe] if len(counts) else counts
        for row in rows.itertuples(index=False):
            if row.subject in have or row.observations == 0:
                continue
            findings.append(flag_invalid(_invalid_finding(result.probe, row),
                                         options.invalid_rate_threshold))
        out.append(dataclasses.replace(result, findings=findings))
    return out


def flag_invalid(f: Finding, threshold: float) -> Finding:
    """`<probe>.invalid_rate` above the threshold gets flag `high_invalid_rate`."""
    if (f.id.endswith(".invalid_rate") and not f.flag and math.isfinite(f.estimate)
            and f.estimate > threshold):
        return dataclasses.replace(f, flag="high_invalid_rate")
    return f


def _invalid_finding(probe: str, row: Any) -> Finding:
    return invalid_rate(
        probe, row.subject, int(row.invalid), int(row.observations), unit="share of trials",
        importance=3, digits=1,
        sentence=("{k} of {n} answers could not be parsed ({pct}, {ci}); they are kept in the "
                  "store with their raw text and reason."))


def rank_findings(findings: list[Finding]) -> list[Finding]:
    """Most important first (Finding.importance), flagged before unflagged at equal importance;
    then the same finding for each subject side by side, in the order the probes reported."""
    first: dict[str, int] = {}
    for i, f in enumerate(findings):
        first.setdefault(f.id, i)
    indexed = sorted(enumerate(findings), key=lambda p: (
        p[1].importance, p[1].flag is None, first[p[1].id], p[0]))
    return [f for _, f in indexed]


# -- counts ----------------------------------------------------------------------------------


def _family(finding_id: str) -> str:
    """A finding's family: probe and kind, without the class or category it is about."""
    return ".".join(finding_id.split(".")[:2])


def _deterministic(f: Finding) -> bool:
    """A truth an interval cannot miss: a rate of exactly 0 or 1 that the data reproduce."""
    return f.truth in (0.0, 1.0) and f.estimate == f.truth


def truth_coverage(findings: list[Finding]) -> dict[str, Any] | None:
    """Per finding family, how many findings with a known simulated truth have it inside.

    Not a calibration check: findings of one run share data (their misses are correlated),
    so the figure from one seed says little; coverage across many seeds is measured by
    ``benchmarks/calibration.py``. Deterministic truths (a rate of 0 or 1 that the data
    reproduce exactly) are left out, since no interval can miss them. Returns the families
    (family, checked, inside), the totals, the left-out count and the misses.
    """
    known = [f for f in findings if f.truth is not None and all(map(math.isfinite, f.ci))
             and math.isfinite(f.truth)]
    checked = [f for f in known if not _deterministic(f)]
    if not checked:
        return None
    misses = [f for f in checked if not f.ci[0] - 1e-9 <= f.truth <= f.ci[1] + 1e-9]
    missed = {id(f) for f in misses}
    families: dict[str, dict[str, Any]] = {}
    for f in checked:
        row = families.setdefault(_family(f.id), {"family": _family(f.id), "checked": 0,
                                                   "inside": 0})
        row["checked"] += 1
        row["inside"] += id(f) not in missed
    inside = len(checked) - len(misses)
    return {"n": len(checked), "inside": inside, "share": inside / len(checked),
            "families": sorted(families.values(), key=lambda r: r["family"]),
            "deterministic": len(known) - len(checked), "misses": misses}


def answer_counts(assessment: Assessment) -> pd.DataFrame:
    """Per probe × subject: trials stored, done, failed, answers, invalid answers and share."""
    frames = assessment.frames
    trials, obs, ex = frames.trials, frames.observations, frames.exchanges
    columns = ["probe", "subject", "trials", "done", "failed", "observations", "invalid",
               "invalid_share", "invalid_ci_low", "invalid_ci_high", "model_calls",
               "input_tokens", "output_tokens"]
    if not len(trials):
        return pd.DataFrame(columns=columns)
    rows = []
    for (probe, subject), group in trials.groupby(["probe", "subject"], sort=False):
        o = obs[(obs["probe"] == probe) & (obs["subject"] == subject)] if len(obs) else obs
        e = ex[(ex["probe"] == probe) & (ex["subject"] == subject)] if len(ex) else ex
        n_obs = len(o)
        invalid = int((~o["valid"].astype(bool)).sum()) if n_obs else 0
        low, high = wilson_interval(invalid, n_obs) if n_obs else (math.nan, math.nan)
        rows.append({
            "probe": probe, "subject": subject, "trials": len(group),
            "done": int((group["status"] == "done").sum()),
            "failed": int((group["status"] == "failed").sum()),
            "observations": n_obs, "invalid": invalid,
            "invalid_share": invalid / n_obs if n_obs else math.nan,
            "invalid_ci_low": float(low), "invalid_ci_high": float(high),
            "model_calls": len(e),
            "input_tokens": int(e["input_tokens"].sum()) if len(e) else 0,
            "output_tokens": int(e["output_tokens"].sum()) if len(e) else 0,
        })
    table = pd.DataFrame(rows, columns=columns)
    probe_order = {p: i for i, p in enumerate(_probe_order(assessment))}
    subject_order = {s.spec: i for i, s in enumerate(assessment.config.subjects)}
    key = table["probe"].map(lambda p: probe_order.get(p, 99)) * 1000 + table["subject"].map(
        lambda s: subject_order.get(s, 999))
    return table.assign(_k=key).sort_values(["_k", "subject"]).drop(columns="_k").reset_index(
        drop=True)


def failures(assessment: Assessment) -> pd.DataFrame:
    """Failed trials by probe, subject and cause (the runner's last error)."""
    trials = assessment.frames.trials
    if not len(trials) or "status" not in trials.columns:
        return pd.DataFrame(columns=["probe", "subject", "cause", "trials"])
    failed = trials[trials["status"] == "failed"]
    if not len(failed):
        return pd.DataFrame(columns=["probe", "subject", "cause", "trials"])
    cause = failed["error"].fillna("unknown").astype(str).str.slice(0, 160)
    table = failed.assign(cause=cause).groupby(["probe", "subject", "cause"]).size()
    return table.rename("trials").reset_index()


def _probe_order(assessment: Assessment) -> list[str]:
    try:
        from welfare.probes import PROBES

        names = list(PROBES)
    except ImportError:  # a probe module being edited must not stop a re-render
        names = []
    return names + [r.probe for r in assessment.results if r.probe not in names]


# -- outputs ---------------------------------------------------------------------------------


def summary_json(assessment: Assessment, options: ReportOptions | None = None
                 ) -> dict[str, Any]:
    """summary.json (DESIGN.md): every finding as estimate, CI, n, unit, per subject.

    Cross-subject differences and task-score correlations, when there are several subjects,
    sit under `cross_subject` (outside `subjects`, whose keys are subject specs).
    """
    options = options or ReportOptions()
    results = report_results(assessment, options)
    subjects: dict[str, Any] = {}
    for spec in [s.spec for s in assessment.config.subjects]:
        subjects[spec] = {
            "simulated": bool(assessment.subjects.get(spec, {}).get("simulated", False)),
            "findings": {},
        }
    for f in (f for r in results for f in r.findings):
        entry = subjects.setdefault(f.subject, {"simulated": False, "findings": {}})
        entry["findings"][f.id] = f.to_json()
    out: dict[str, Any] = {
        "assessment": assessment.config.name,
        "toolkit_version": __version__,
        "subjects": subjects,
    }
    cross = cross_subject(results, [s.spec for s in assessment.config.subjects], figures=False)
    if cross is not None:
        out["cross_subject"] = {
            "differences": _records(cross.tables["differences"]),
            "task_score_spearman": _records(cross.tables["score_correlations"]),
        }
    return out


def write_tables(assessment: Assessment, folder: Path,
                 options: ReportOptions | None = None) -> list[Path]:
    """Every probe table as `<probe>.<table>.csv`, plus findings, counts, trials, observations,
    codes and every transcript (one row per message), which the report only samples."""
    options = options or ReportOptions()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    results = report_results(assessment, options)
    written = []

    def put(name: str, table: pd.DataFrame, index: bool = False) -> None:
        path = folder / name
        safe_frame(table).to_csv(path, index=index)
        written.append(path)

    put("findings.csv", _findings_frame([f for r in results for f in r.findings]))
    put("report.answer_counts.csv", answer_counts(assessment))
    cross = cross_subject(results, [s.spec for s in assessment.config.subjects], figures=False)
    for result in [*results, *([cross] if cross else [])]:
        for name, table in result.tables.items():
            put(f"{result.probe}.{_slug(name)}.csv", table, index=bool(table.index.name))
    frames = assessment.frames
    put("trials.csv", frames.trials)
    put("observations.csv", frames.observations)
    put("codes.csv", frames.codes)
    put("transcripts.csv", _transcript_rows(frames.transcripts))
    return written


def render_report(
    assessment: Assessment,
    *,
    options: ReportOptions | None = None,
    generated: str | None = None,
) -> str:
    """The report as one HTML string (inline CSS, JS and SVG; no network)."""
    options = options or ReportOptions()
    env = environment()
    results = report_results(assessment, options)
    specs = [s.spec for s in assessment.config.subjects]
    findings = [f for r in results for f in r.findings]
    ranked = rank_findings(findings)
    key = [f for f in ranked if f.importance <= options.key_importance or f.flag] or ranked
    more_key = max(len(key) - options.key_findings_max, 0)
    key = key[: options.key_findings_max]
    sections = []
    coders = None
    for result in results:
        if result.probe == "coders":
            coders = _section(env, result, assessment, options.strict)
            continue
        sections.append(_section(env, result, assessment, options.strict))
    cross = cross_subject(results, specs)
    sample = sample_transcripts(
        assessment.frames, per_group=options.transcripts_per_group,
        budget_chars=options.transcript_budget_chars, message_chars=options.message_chars,
    )
    order = {p: i for i, p in enumerate(_probe_order(assessment))}
    sample.views.sort(key=lambda v: (order.get(v.probe, 99), specs.index(v.subject)
                                     if v.subject in specs else 99, v.category, v.trial_id))
    sample.probes.sort(key=lambda p: order.get(p, 99))
    js = (STATIC / "report.js").read_text(encoding="utf-8")
    context = {
        "assessment": assessment,
        "version": __version__,
        "generated": generated or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "subjects": subject_rows(assessment),
        "findings": ranked,
        "key_findings": key,
        "glance": glance_rows(ranked, specs),
        "more_key": more_key,
        "flagged": [f for f in ranked if f.flag],
        "coverage": truth_coverage(findings),
        "failures": failures(assessment),
        "counts": answer_counts(assessment),
        "parse_paths": parse_path_table(assessment.frames.observations,
                                        seed=assessment.config.seed),
        "sections": sections,
        "coders": coders,
        "cross": cross,
        "sample": sample,
        "methods": methods_context(assessment),
        "options": options,
        "css": (STATIC / "report.css").read_text(encoding="utf-8"),
        "js": js,
        "script_hash": script_hash(js),
        "titles": {name: section_title(name) for name in [*PROBES, *REPORT_SECTIONS]},
    }
    return env.get_template("report.html.j2").render(**context)


def _section(env: jinja2.Environment, result: ProbeResult, assessment: Assessment,
             strict: bool = False) -> dict[str, Any]:
    """One probe's section: its own template, else the generic one.

    A section template that fails (e.g. a result missing context it expects) must not take the
    whole report down: the generic view is shown with a visible notice, unless `strict`.
    """
    name = section_template(result.probe)
    own = name is not None
    error = None
    try:
        html = env.get_template(name or "sections/generic.html.j2").render(
            result=result, assessment=assessment)
    except Exception as exc:  # any template failure is reported in the page
        if strict or not own:
            raise
        error = f"{type(exc).__name__}: {exc}"
        html = env.get_template("sections/generic.html.j2").render(
            result=result, assessment=assessment)
    return {
        "probe": result.probe,
        "title": section_title(result.probe),
        "lede": section_lede(result.probe),
        "html": html,
        "error": error,
        "n_findings": len(result.findings),
        "n_flagged": sum(1 for f in result.findings if f.flag),
    }


def glance_rows(ranked: list[Finding], specs: list[str], limit: int = 16
                ) -> list[dict[str, Any]]:
    """The most important findings as rows with one cell per subject (several subjects only).

    Findings of importance 0 and 1 and any flagged finding, most important first.
    """
    if len(specs) < 2:
        return []
    chosen = [f for f in ranked if f.importance <= 1 or f.flag]
    rows: dict[str, dict[str, Any]] = {}
    for f in chosen:
        if f.subject not in specs:
            continue
        row = rows.setdefault(f.id, {"id": f.id, "unit": f.unit, "cells": {}})
        row["cells"][f.subject] = f
    for f in ranked:  # fill the other subjects' cells of the chosen findings
        if f.id in rows and f.subject in specs:
            rows[f.id]["cells"].setdefault(f.subject, f)
    return list(rows.values())[:limit]


def subject_rows(assessment: Assessment) -> list[dict[str, Any]]:
    """Subjects in config order with label, simulated flag and trial count."""
    trials = assessment.frames.trials
    rows = []
    for s in assessment.config.subjects:
        n = int((trials["subject"] == s.spec).sum()) if len(trials) else 0
        simulated = bool(assessment.subjects.get(s.spec, {}).get(
            "simulated", s.spec.startswith("simulated:")))
        rows.append({"spec": s.spec, "label": s.label or s.spec, "simulated": simulated,
                     "trials": n})
    return rows


def methods_context(assessment: Assessment) -> dict[str, Any]:
    """What the methods section states, drawn from the config, the frames and the manifest."""
    config = assessment.config
    trials = assessment.frames.trials
    designs = []
    for result in assessment.results:
        probe = result.probe
        options = config.probes.get(probe)
        mine = trials[trials["probe"] == probe] if len(trials) else trials
        conditions: dict[str, list[str]] = {}
        for column in [c for c in mine.columns if c.startswith("condition.")]:
            values = mine[column].dropna()
            values = values[values.map(lambda v: not isinstance(v, dict | list))]
            distinct = sorted({str(v) for v in values})
            if distinct:
                shown = distinct[:12] + ([f"… {len(distinct) - 12} more"]
                                         if len(distinct) > 12 else [])
                conditions[column.removeprefix("condition.")] = shown
        items = {i for t in mine["items"] for i in t} if len(mine) and "items" in mine else set()
        replicates = int(mine["replicate"].max()) + 1 if len(mine) and "replicate" in mine else 0
        designs.append({
            "probe": probe,
            "title": section_title(probe),
            "options": options.model_dump(mode="json") if options is not None else {},
            "trials": len(mine),
            "n_items": len(items),
            "replicates": replicates,
            "conditions": conditions,
        })
    return {
        "designs": designs,
        "sampling": config.sampling.model_dump(mode="json"),
        "runner": config.runner.model_dump(mode="json"),
        "coders": config.coders.model_dump(mode="json"),
        "template_hashes": assessment.manifest.get("template_hashes", []),
        "seed": config.seed,
        "config_file": assessment.manifest.get("config_file"),
        "prompt_version": answers.PROMPT_VERSION,
        "low_confidence": answers.LOW_CONFIDENCE,
        "reader": config.parsing.reader,
        "reader_sample": config.parsing.agreement_sample,
    }


def environment() -> jinja2.Environment:
    """The report's Jinja2 environment: autoescaped, strict, with the number filters."""
    # Report templates first; then each probe's package folder under the probe's name, so
    # "end_conversation/section.html.j2" is the file beside that probe's code.
    probe_dirs = {name: jinja2.FileSystemLoader(str(Path(inspect.getfile(type(p))).parent))
                  for name, p in PROBES.items()}
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(TEMPLATES)),
                                    jinja2.PrefixLoader(probe_dirs)]),
        autoescape=True,  # transcripts hold arbitrary text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["pct"] = format_percent
    env.filters["sortkey"] = sort_key
    env.filters["anchor"] = _slug
    env.globals["title_of"] = section_title
    return env


def script_hash(js: str) -> str:
    """The CSP source expression allowing exactly this inline script."""
    digest = hashlib.sha256(js.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def format_percent(value: Any, digits: int = 1) -> str:
    """A share as a percentage (0.1234 → 12.3%) for templates; text passes through."""
    try:
        float(value)
    except (TypeError, ValueError):
        return str(value)
    return percent(value, digits)


def sort_key(value: Any) -> str:
    """Full-precision value for a table cell's data-sort attribute."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "" if x != x else repr(x)


def mask_timestamps(html: str) -> str:
    """The report with its timestamps replaced, for determinism checks."""
    return TIMESTAMP.sub("<timestamp>", html)


def _findings_frame(findings: list[Finding]) -> pd.DataFrame:
    return pd.DataFrame([
        {"id": f.id, "subject": f.subject, "estimate": f.estimate, "ci_low": f.ci[0],
         "ci_high": f.ci[1], "n": f.n, "n_unit": f.n_unit, "unit": f.unit,
         "importance": f.importance, "flag": f.flag, "p_value": f.p_value, "truth": f.truth,
         "sentence": f.sentence}
        for f in findings
    ], columns=["id", "subject", "estimate", "ci_low", "ci_high", "n", "n_unit", "unit",
                "importance", "flag", "p_value", "truth", "sentence"])


def _transcript_rows(transcripts: pd.DataFrame) -> pd.DataFrame:
    from welfare.report.transcripts import _display_text

    rows = []
    for record in transcripts.to_dict("records"):
        messages = record["messages"]
        if isinstance(messages, str):
            messages = json.loads(messages)
        for turn, message in enumerate(messages):
            rows.append({"trial_id": record["trial_id"], "probe": record["probe"],
                         "subject": record["subject"], "turn": turn,
                         "role": message.get("role"), "text": _display_text(message)})
    return pd.DataFrame(rows, columns=["trial_id", "probe", "subject", "turn", "role", "text"])


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in table.to_dict("records"):
        clean = {}
        for k, v in record.items():
            if hasattr(v, "item"):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            clean[k] = v
        out.append(clean)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")


__all__ = [
    "TIMESTAMP",
    "ReportOptions",
    "TranscriptSample",
    "answer_counts",
    "flag_invalid",
    "mask_timestamps",
    "rank_findings",
    "render_report",
    "report_findings",
    "report_results",
    "summary_json",
    "write_tables",
]
