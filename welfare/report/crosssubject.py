"""Cross-subject analysis: differences of matching findings, rank agreement of task scores.

Used in one assessment (units are subjects) and across assessments by `welfare compare` (units
are assessment · subject). Intervals for a difference of two findings, first that applies:

- paired by unit: both findings carry `unit_values` (the estimate is a mean over sampled units
  — items, scenarios — and both subjects saw the same ones), so the difference is the mean of
  the per-unit differences over the shared units, with a t interval over those differences
  (bounded, Korn–Graubard, when both sides live on 0–1); when each unit is one 0/1 outcome (a
  scenario run once) the units are matched pairs: Newcombe's paired interval, exact McNemar p.
  Subjects answering the same items share the items' draw from the population of items: an
  interval from two independent intervals counts that variation twice when subjects agree on
  which items are hard, and misses it when they disagree;
- from draws: both carry `draws` of a model-based estimate (a share of tasks below the
  opt-out): the estimand is about these tasks, each subject's draws come from its own data,
  so the difference's draws are the differences of independent draws, and the interval their
  equal-tailed quantiles — exact under the model, where MOVER mistakes a two-humped posterior
  (a share that is either about 0% or about 100%) for a wide symmetric one;
- shares (a unit naming a share, proportion or rate; estimate × n a whole number): Newcombe's
  hybrid score interval for independent proportions (`welfare.stats.newcombe_difference`);
- anything else: MOVER (Zou & Donner 2008), which recovers each estimate's variance from its
  own 95% interval, so asymmetric intervals (correlations, bounded scores) stay asymmetric:
  L = d − √((a − a_lo)² + (b_hi − b)²), U = d + √((a_hi − a)² + (b − b_lo)²). It assumes the
  two estimates are independent, which holds for quantities of the units actually used (the
  mean score of these tasks) estimated from different subjects' answers.

An approximate two-sided p-value from the interval's half-width (normal theory) feeds a
Benjamini–Hochberg adjustment over the whole table, since it holds many comparisons.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from welfare.records import Figure, Finding, ProbeResult
from welfare.stats import (
    benjamini_hochberg,
    has_spread,
    mean_ci,
    newcombe_difference,
    paired_outcomes_difference,
    spearman,
)

Z95 = float(sps.norm.ppf(0.975))
SHARE_WORDS = ("share", "proportion", "rate", "fraction")
ITEM_COLUMNS = ("task", "task_id", "item", "item_id", "id")
SCORE_COLUMNS = ("score", "utility", "strength")


@dataclass(frozen=True)
class Difference:
    """a − b for one finding id between two units, with its interval and how it was made."""

    estimate: float
    ci_low: float
    ci_high: float
    method: str
    p_value: float


def is_share(f: Finding) -> bool:
    """A finding whose estimate is successes / n (so a score interval for counts applies)."""
    if not any(w in f.unit.lower() for w in SHARE_WORDS) or f.n <= 0:
        return False
    if not 0.0 <= f.estimate <= 1.0:
        return False
    k = f.estimate * f.n
    return abs(k - round(k)) < 1e-6 * max(f.n, 1)


MIN_PAIRED_UNITS = 3
"""Fewest shared units for a paired interval (a t interval on 1 df is not worth printing)."""


def paired_difference(a: Finding, b: Finding) -> Difference | None:
    """a − b paired by the units both findings were measured on; None without enough of them.

    The mean over shared units of a's value minus b's, with a t interval over those
    differences (bounded when every value of both lies in 0–1, so a difference of rates stays
    within ±1). None when fewer than `MIN_PAIRED_UNITS` units are shared, the units are of
    different kinds, or the differences have no spread (every unit moved alike: the data say
    nothing about how the difference varies over units, and a t interval would have zero
    width); the caller then falls back to an unpaired interval.
    """
    if not (a.unit_values and b.unit_values) or a.n_unit != b.n_unit:
        return None
    va, vb = dict(a.unit_values), dict(b.unit_values)
    shared = [u for u in va if u in vb and math.isfinite(va[u]) and math.isfinite(vb[u])]
    if len(shared) < MIN_PAIRED_UNITS:
        return None
    xa = np.array([va[u] for u in shared], dtype=float)
    xb = np.array([vb[u] for u in shared], dtype=float)
    what = a.n_unit or "units"
    if np.all(np.isin(xa, (0.0, 1.0))) and np.all(np.isin(xb, (0.0, 1.0))):
        # one 0/1 outcome per unit (a scenario run once): matched pairs, Newcombe's paired
        # interval, which holds even when every unit moved alike (no spread for a t interval)
        e = paired_outcomes_difference(xa, xb)
        return Difference(float(e.estimate), float(e.ci_low), float(e.ci_high),
                          f"paired by {what} ({len(shared)} shared {what}, Newcombe paired)",
                          e.p_value)
    diff = xa - xb
    if not has_spread(diff):
        return None
    unit_scale = bool(np.all((xa >= 0) & (xa <= 1) & (xb >= 0) & (xb <= 1)))
    est = mean_ci(diff, bounds=(-1.0, 1.0) if unit_scale else None)
    t = float(diff.mean() / (diff.std(ddof=1) / math.sqrt(len(diff))))
    p = float(2 * sps.t.sf(abs(t), len(diff) - 1))
    return Difference(float(est.estimate), float(est.ci_low), float(est.ci_high),
                      f"paired by {what} ({len(shared)} shared {what}, t over the differences)",
                      p)


def draws_difference(a: Finding, b: Finding) -> Difference | None:
    """a − b from the two findings' draws (independent: different subjects' data); None unless
    both carry at least 1,000 draws. The two-sided p is twice the smaller tail share beyond 0."""
    if len(a.draws) < 1000 or len(b.draws) < 1000:
        return None
    k = min(len(a.draws), len(b.draws))
    d = np.asarray(a.draws[:k], dtype=float) - np.asarray(b.draws[:k], dtype=float)
    lo, hi = np.quantile(d, [0.025, 0.975])
    est = a.estimate - b.estimate
    # the estimate (a difference of posterior means) is inside its own interval
    lo, hi = min(float(lo), est), max(float(hi), est)
    p = float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))))
    return Difference(float(est), lo, hi, f"from {k} independent posterior draws of each", p)


def finding_difference(a: Finding, b: Finding) -> Difference | None:
    """The difference a − b of two findings with the same id; None when either lacks an interval.

    Paired by unit where both carry per-unit values, from draws where both carry draws,
    otherwise Newcombe (counted shares) or MOVER (module docstring)."""
    values = (a.estimate, b.estimate, *a.ci, *b.ci)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        return None
    for method in (paired_difference, draws_difference):
        found = method(a, b)
        if found is not None:
            return found
    if is_share(a) and is_share(b):
        est = newcombe_difference(round(a.estimate * a.n), a.n, round(b.estimate * b.n), b.n)
        d, lo, hi, method = est.estimate, est.ci_low, est.ci_high, "Newcombe hybrid score"
    else:
        d = a.estimate - b.estimate
        lo = d - math.sqrt((a.estimate - a.ci[0]) ** 2 + (b.ci[1] - b.estimate) ** 2)
        hi = d + math.sqrt((a.ci[1] - a.estimate) ** 2 + (b.estimate - b.ci[0]) ** 2)
        method = "MOVER from the two 95% intervals"
    se = (hi - lo) / (2 * Z95)
    p = float(2 * sps.norm.sf(abs(d) / se)) if se > 0 else float(d == 0)
    return Difference(float(d), float(lo), float(hi), method, p)


def difference_table(
    units: Mapping[str, Sequence[Finding]], pairs: Sequence[tuple[str, str]]
) -> pd.DataFrame:
    """One row per (finding id, pair of units) where both units report it with an interval."""
    rows = []
    for ua, ub in pairs:
        fa = {f.id: f for f in units.get(ua, [])}
        fb = {f.id: f for f in units.get(ub, [])}
        for fid in [i for i in fa if i in fb]:
            a, b = fa[fid], fb[fid]
            diff = finding_difference(a, b)
            if diff is None:
                continue
            rows.append({
                "finding": fid, "unit": a.unit, "a": ua, "b": ub,
                "estimate_a": a.estimate, "n_a": a.n, "estimate_b": b.estimate, "n_b": b.n,
                "difference": diff.estimate, "ci_low": diff.ci_low, "ci_high": diff.ci_high,
                "p_approx": diff.p_value, "importance": min(a.importance, b.importance),
                "method": diff.method,
            })
    columns = ["finding", "unit", "a", "b", "estimate_a", "n_a", "estimate_b", "n_b",
               "difference", "ci_low", "ci_high", "p_approx", "q_bh", "excludes_zero",
               "importance", "method"]
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(rows)
    table["q_bh"] = benjamini_hochberg(table["p_approx"].to_numpy())
    table["excludes_zero"] = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    table = table.sort_values(["importance", "finding", "a", "b"], kind="mergesort")
    return table[columns].reset_index(drop=True)


def task_scores(result: ProbeResult | None) -> dict[str, pd.Series]:
    """Task score per subject from the task_preference result's scores table (subject → Series).

    Looks for a table named `scores` (else the first whose name contains "score") with a
    `subject` column, an item column (task, task_id, item, item_id, id or the index) and a
    score. With a `kind` column only rows of kind `task` count: opt-out and free-choice anchors
    would add ties, not information about how tasks are ranked.
    """
    if result is None:
        return {}
    names = [n for n in result.tables if n == "scores"] or [
        n for n in result.tables if "score" in n.lower()
    ]
    for name in names:
        table = result.tables[name]
        if "subject" not in table.columns:
            continue
        frame = table.reset_index() if table.index.name in ITEM_COLUMNS else table
        if "kind" in frame.columns and (frame["kind"] == "task").any():
            frame = frame[frame["kind"] == "task"]
        item = next((c for c in ITEM_COLUMNS if c in frame.columns), None)
        score = next((c for c in SCORE_COLUMNS if c in frame.columns), None)
        if item is None or score is None:
            continue
        out = {}
        for subject, group in frame.groupby("subject", sort=False):
            series = pd.to_numeric(group.set_index(item)[score], errors="coerce").dropna()
            out[str(subject)] = series[~series.index.duplicated()]
        return out
    return {}


def score_correlations(
    scores: Mapping[str, pd.Series], pairs: Sequence[tuple[str, str]]
) -> pd.DataFrame:
    """Spearman's rho of task scores for each pair of units, over the tasks both scored."""
    rows = []
    for ua, ub in pairs:
        if ua not in scores or ub not in scores:
            continue
        joined = pd.concat([scores[ua], scores[ub]], axis=1, join="inner").dropna()
        try:
            est = spearman(joined.iloc[:, 0], joined.iloc[:, 1])
        except ValueError:
            continue
        rows.append({"a": ua, "b": ub, "rho": est.estimate, "ci_low": est.ci_low,
                     "ci_high": est.ci_high, "n_tasks": est.n, "p_value": est.p_value})
    return pd.DataFrame(rows, columns=["a", "b", "rho", "ci_low", "ci_high", "n_tasks",
                                       "p_value"])


def findings_matrix(units: Mapping[str, Sequence[Finding]], max_importance: int = 1
                    ) -> pd.DataFrame:
    """Key findings (importance ≤ max_importance) as rows, units as columns: `est [lo, hi] n`."""
    order: list[str] = []
    cells: dict[str, dict[str, str]] = {}
    for unit, findings in units.items():
        for f in findings:
            if f.importance > max_importance:
                continue
            if f.id not in cells:
                order.append(f.id)
                cells[f.id] = {}
            cells[f.id][unit] = (f"{_fmt(f.estimate)} [{_fmt(f.ci[0])}, {_fmt(f.ci[1])}] "
                                  f"n={f.n_text}")
    frame = pd.DataFrame([{"finding": i, **cells[i]} for i in order],
                         columns=["finding", *units.keys()])
    return frame.fillna("—")


def compare_units(
    units: Mapping[str, Sequence[Finding]],
    scores: Mapping[str, pd.Series],
    pairs: Sequence[tuple[str, str]] | None = None,
    *,
    probe: str = "cross_subject",
    figures: bool = True,
) -> ProbeResult:
    """Differences, score correlations, key-finding matrix and (optionally) side-by-side
    figures; tables-only callers (summary.json, CSVs) skip the figures, the slow part."""
    from welfare.report.plots.report import forest_figures, score_scatter_figure

    if pairs is None:
        pairs = list(itertools.combinations(list(units), 2))
    diffs = difference_table(units, pairs)
    corr = score_correlations(scores, pairs)
    findings = [
        Finding(
            id=f"{probe}.task_score_spearman", subject=f"{r.a} vs {r.b}", estimate=r.rho,
            ci=(r.ci_low, r.ci_high), n=int(r.n_tasks), unit="Spearman's rho",
            sentence=(f"Task scores of {r.a} and {r.b} agree in rank with Spearman's rho "
                      f"{_fmt(r.rho)} (95% CI {_fmt(r.ci_low)} to {_fmt(r.ci_high)}, "
                      f"n = {int(r.n_tasks)} tasks)."),
            importance=2, p_value=r.p_value, n_unit="tasks",
        )
        for r in corr.itertuples(index=False)
    ]
    drawn: list[Figure] = forest_figures(units, probe=probe) if figures else []
    if figures and len(corr):
        drawn.append(score_scatter_figure(scores, pairs, corr, probe=probe))
    tables = {"differences": diffs, "score_correlations": corr,
              "key_findings": findings_matrix(units)}
    notes = [
        "Differences are a − b. Where both subjects were measured on the same sampled units "
        "(items, scenarios) the difference is paired by unit: the mean of the per-unit "
        "differences with a t interval over them. Model-based shares are differenced draw by "
        "draw. Otherwise counted shares use Newcombe's hybrid score interval and other "
        "estimates MOVER (Zou & Donner 2008) from each finding's own 95% interval, assuming "
        "independent estimates. The method column says which; p_approx is the paired t test's "
        "p, the draws' tail share, or a normal-theory p-value from the interval, and q_bh its "
        "Benjamini–Hochberg adjustment over the whole table.",
    ]
    return ProbeResult(probe=probe, findings=findings, tables=tables, figures=drawn,
                       notes=notes, context={"units": list(units), "pairs": list(pairs)})


def cross_subject(results: Sequence[ProbeResult], subjects: Sequence[str], *,
                  figures: bool = True) -> ProbeResult | None:
    """The cross-subject section of one assessment; None with fewer than two subjects."""
    if len(subjects) < 2:
        return None
    units: dict[str, list[Finding]] = {s: [] for s in subjects}
    for result in results:
        for f in result.findings:
            if f.subject in units:
                units[f.subject].append(f)
    by_probe = {r.probe: r for r in results}
    scores = task_scores(by_probe.get("task_preference"))
    return compare_units(units, scores, figures=figures)


def _fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.3g}" if abs(x) < 1e-3 and x != 0 else f"{x:.3f}".rstrip("0").rstrip(".")
