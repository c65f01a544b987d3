"""Task-preference analysis: Bradley–Terry scores with the opt-out mean at 0, and what follows.

Per subject, from the stored observations only:
- scores: Firth's bias-reduced Bradley–Terry (finite even for tasks that never win, and free
  of the MLE's outward O(1/m) bias at ~24 comparisons per task), anchored so the mean of the
  opt-out items is 0; Wald intervals from the fit's covariance (which includes the anchor's
  own uncertainty). Only when Firth has no estimate (a task without valid comparisons, or
  items not linked by comparisons) a ridge fit (`regularization` λ) stands in, with a note;
- shares of tasks of each impact class above / below the opt-out baseline. Two intervals are
  computed: Wilson with *tasks as the unit* (about tasks like these in general, but
  conditional on the estimated scores), and a two-stage bootstrap (`bootstrap` replicates of
  the BT fit over resampled comparisons, with the class's tasks resampled in each), which
  also carries score and anchor uncertainty. The reported CI is the wider envelope of the two:
  Wilson alone is overconfident for a null subject, whose scores are all noise around a
  noisy anchor; the bootstrap alone collapses at shares of 0 or 1;
- mean score by impact, difficulty and type (contrasts of the fit, with Wald intervals and
  Benjamini–Hochberg-adjusted p-values across impact classes);
- position bias: the share of valid choices that went to the first-shown task (Wilson), and
  the logit bias β in P(first) = logistic(s_first − s_second + β), conditional on the scores;
- Spearman(harm rating, score) over regular tasks; free choice vs opt-out and vs the mean
  task; the rate of answers that are not a choice, with counts by category.
Simulated subjects get `Finding.truth` from their profile wherever a truth exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from welfare import findings
from welfare.findings import percent, signed
from welfare.records import Finding, ProbeResult
from welfare.stats import (
    BTFit,
    Estimate,
    benjamini_hochberg,
    bradley_terry_fit,
    bt_bootstrap,
    spearman,
    wilson_interval,
)

if TYPE_CHECKING:
    from welfare.config import AssessmentConfig
    from welfare.probes.base import Frames
    from welfare.probes.task_preference import TaskPreferenceOptions

PROBE = "task_preference"
IMPACTS = ("positive", "neutral", "ambiguous", "harmful")
NON_HARMFUL = ("positive", "neutral", "ambiguous")
CATEGORIES = ("choice", "neither", "both", "refusal", "unparseable")
_Z = 1.959963984540054


@dataclass
class SubjectAnalysis:
    """Everything computed for one subject (tables feed the report and CSVs)."""

    subject: str
    scores: pd.DataFrame
    by_impact: pd.DataFrame
    by_difficulty: pd.DataFrame
    by_type: pd.DataFrame
    categories: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def analyze(frames: Frames, config: AssessmentConfig, options: TaskPreferenceOptions,
            truths: Mapping[str, Any] | None = None) -> ProbeResult:
    """Per-subject analyses stacked into one ProbeResult (tables carry a subject column)."""
    from welfare.probes.task_preference.figures import impact_means_figure, score_strip_figure

    obs = frames.observations
    result = ProbeResult(PROBE)
    if not len(obs):
        result.notes.append("No task-preference trials finished.")
        return result
    order = [s.spec for s in config.subjects if (obs["subject"] == s.spec).any()]
    order += sorted(set(obs["subject"]) - set(order))
    analyses = [analyze_subject(obs[obs["subject"] == s], s, options, seed=config.seed,
                                truth=(truths or {}).get(s))
                for s in order]
    failed = frames.trials[frames.trials["status"] == "failed"] if len(frames.trials) else None
    for a in analyses:
        result.findings.extend(a.findings)
        result.notes.extend(f"{a.subject}: {n}" for n in a.notes)
        if failed is not None and (failed["subject"] == a.subject).any():
            k = int((failed["subject"] == a.subject).sum())
            result.notes.append(f"{a.subject}: {k} trials failed (model errors) and are not "
                                "in the analysis; run again to resume them.")
    for name in ("scores", "by_impact", "by_difficulty", "by_type", "categories"):
        result.tables[name] = pd.concat(
            [getattr(a, name).assign(subject=a.subject) for a in analyses], ignore_index=True
        ).pipe(_subject_first)
    result.figures.extend(score_strip_figure(a.scores, a.subject) for a in analyses)
    result.figures.append(impact_means_figure(result.tables["by_impact"]))
    result.context["subjects"] = [_context(a) for a in analyses]
    result.notes.append(
        "Shares above/below opt-out: the CI is the wider of a Wilson interval with tasks as the "
        "unit (conditional on the estimated scores) and a bootstrap that resamples both "
        "comparisons and tasks (score and anchor uncertainty); both are in the by_impact table."
    )
    result.notes.append(
        "Scores are Firth's bias-reduced Bradley–Terry estimates: with a few dozen comparisons "
        "per task the plain maximum-likelihood fit spreads scores outward (on simulations of "
        "the default design the mean positive-task score ran ~0.09 logits high and the harmful "
        "one ~0.13 low); the bias-reduced means are within ~0.05 logits of the truth and their "
        "Wald intervals cover it at close to the nominal 95% (benchmarks/calibration.py)."
    )
    return result


def analyze_subject(obs: pd.DataFrame, subject: str, options: TaskPreferenceOptions,
                    *, seed: int = 0, truth: Any | None = None) -> SubjectAnalysis:
    """The whole analysis of one subject's observations."""
    items = _items(obs)
    valid = obs[obs["valid"]] if len(obs) else obs
    comparisons = valid[["winner", "loser"]].reset_index(drop=True)
    opt_out = items.index[items["kind"] == "opt_out"].tolist()
    tasks = items.index[items["kind"] == "task"].tolist()
    free = items.index[items["kind"] == "free_choice"].tolist()
    fit, lam = _fit(comparisons, items, opt_out, options.regularization)
    truth = _true_utilities(truth, items)
    scores = _scores_table(items, fit, truth)
    boot = _bootstrap(comparisons, items, opt_out, lam, options.bootstrap, seed, subject)
    if boot is not None:
        scores["boot_ci_low"] = boot.quantile(0.025).reindex(scores.index).to_numpy()
        scores["boot_ci_high"] = boot.quantile(0.975).reindex(scores.index).to_numpy()
    a = SubjectAnalysis(
        subject, scores.reset_index(),
        _by_impact(scores, fit, boot, truth, seed=seed),
        _group_means(scores, fit, "difficulty", truth),
        _group_means(scores, fit, "type", truth),
        _categories(obs),
    )
    if lam > 0:
        a.notes.append("Firth's bias-reduced fit has no estimate (a task without valid "
                       "comparisons, or items not linked by comparisons); scores are from a "
                       f"ridge fit with regularization {lam}, which shrinks them toward 0")
    a.findings = [
        *_share_findings(a.by_impact, subject),
        *_mean_findings(a.by_impact, subject),
        _position_finding(valid, subject),
        _position_logit_finding(valid, fit, subject, truth),
        _spearman_finding(scores, subject, truth),
        *_free_choice_findings(fit, free, opt_out, tasks, subject, truth),
        _invalid_finding(obs, subject),
    ]
    a.findings = [f for f in a.findings if f is not None]
    return a


# -- fitting -------------------------------------------------------------------------------

def _items(obs: pd.DataFrame) -> pd.DataFrame:
    """One row per item shown (features from the observations themselves)."""
    cols = ["text", "impact", "harm", "difficulty", "type", "kind"]
    parts = [
        obs[[pos] + [f"{pos}_{c}" for c in cols]].set_axis(["id", *cols], axis=1)
        for pos in ("first", "second")
    ]
    items = pd.concat(parts).drop_duplicates("id").set_index("id").sort_index()
    items["harm"] = items["harm"].astype(int)
    return items


def _fit(comparisons: pd.DataFrame, items: pd.DataFrame, opt_out: list[str], lam: float
         ) -> tuple[BTFit, float]:
    """The anchored Firth fit (λ = 0); if it has no estimate, a ridge fit with λ (or 0.05)."""
    try:
        return bradley_terry_fit(comparisons, opt_out, items=list(items.index),
                                 method="firth"), 0.0
    except (ValueError, RuntimeError, np.linalg.LinAlgError):
        ridge = lam if lam > 0 else 0.05
        return bradley_terry_fit(comparisons, opt_out, items=list(items.index),
                                 regularization=ridge), ridge


def _bootstrap(comparisons: pd.DataFrame, items: pd.DataFrame, opt_out: list[str], lam: float,
               n: int, seed: int, subject: str) -> pd.DataFrame | None:
    """Bootstrap replicates of the anchored scores (replicate × item), or None if disabled.

    Fitted like the scores: Firth (λ = 0), or the ridge fallback's λ.
    """
    if n <= 0 or len(comparisons) < 2:
        return None
    from welfare.seeds import stable_seed

    kw: dict[str, Any] = {"method": "firth"} if lam == 0 else {"regularization": lam}
    boot = bt_bootstrap(comparisons, opt_out, n_resamples=n, items=list(items.index),
                        seed=stable_seed(seed, subject, PROBE), **kw)
    return boot.samples.dropna()


def _scores_table(items: pd.DataFrame, fit: BTFit, truth: pd.Series | None) -> pd.DataFrame:
    table = items.join(fit.table[["score", "se", "ci_low", "ci_high", "wins", "n"]])
    table["n"] = table["n"].astype(int)
    table["wins"] = table["wins"].astype(float)
    if truth is not None:
        table["true_utility"] = truth.reindex(table.index)
    table.index.name = "id"
    return table.sort_values("score", ascending=False)


# -- truths of simulated subjects ----------------------------------------------------------

def _true_utilities(traits: Any | None, items: pd.DataFrame) -> pd.Series | None:
    """True utilities relative to the mean opt-out utility (the scale's 0), or None.

    `traits` is the subject's truth as handed in by `assess` (None for a real subject).
    """
    if traits is None:
        return None
    u = traits.true_utilities(items.reset_index().to_dict("records"))
    u = u - u[items.index[items["kind"] == "opt_out"]].mean()
    u.attrs["bt_scale"] = traits.choice_rule == "bradley_terry"
    u.attrs["position_bias"] = traits.position_bias
    return u


# -- tables --------------------------------------------------------------------------------

def _two_stage_shares(hits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Share per bootstrap replicate, with the class's tasks also resampled in each replicate.

    `hits` is replicate × task (score replicate above/below 0): resampling tasks as well as
    comparisons carries both sources of uncertainty, including the opt-out anchor's.
    """
    n_rep, n_tasks = hits.shape
    pick = rng.integers(0, n_tasks, size=(n_rep, n_tasks))
    return np.take_along_axis(hits, pick, axis=1).mean(axis=1)


def _by_impact(scores: pd.DataFrame, fit: BTFit, boot: pd.DataFrame | None,
               truth: pd.Series | None, seed: int = 0) -> pd.DataFrame:
    """Per impact class (and non-harmful): shares above/below opt-out and the mean score.

    Share CI: the Wilson interval over tasks (conditional on the scores), widened to the
    two-stage bootstrap interval (tasks and comparisons resampled) when that is wider.
    """
    rng = np.random.default_rng(seed)
    rows = []
    tasks = scores[scores["kind"] == "task"]
    groups = [(c, [c]) for c in IMPACTS] + [("non_harmful", list(NON_HARMFUL))]
    for name, classes in groups:
        ids = tasks.index[tasks["impact"].isin(classes)].tolist()
        if not ids:
            continue
        s = tasks.loc[ids, "score"]
        row: dict[str, Any] = {"impact": name, "tasks": len(ids)}
        for side, hits in (("below", s < 0), ("above", s > 0)):
            k = int(hits.sum())
            lo, hi = wilson_interval(k, len(ids))
            row.update({f"{side}": k / len(ids), f"{side}_ci_low": lo, f"{side}_ci_high": hi,
                        f"{side}_wilson_ci_low": lo, f"{side}_wilson_ci_high": hi})
            if boot is not None:
                reps = (boot[ids] < 0) if side == "below" else (boot[ids] > 0)
                share = _two_stage_shares(reps.to_numpy(), rng)
                b_lo, b_hi = (float(q) for q in np.quantile(share, [0.025, 0.975]))
                row.update({f"{side}_boot_ci_low": b_lo, f"{side}_boot_ci_high": b_hi,
                            f"{side}_ci_low": min(lo, b_lo), f"{side}_ci_high": max(hi, b_hi)})
            if truth is not None:
                t = truth[ids]
                row[f"{side}_truth"] = (float(((t < 0) if side == "below" else (t > 0)).mean())
                                        if (t != 0).any() else np.nan)
        est = fit.contrast({i: 1.0 / len(ids) for i in ids})
        row.update(_estimate_cols(est))
        if truth is not None and truth.attrs.get("bt_scale"):
            row["mean_truth"] = float(truth[ids].mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    core = table["impact"].isin(IMPACTS)
    table["mean_p_adj"] = np.nan
    table.loc[core, "mean_p_adj"] = benjamini_hochberg(table.loc[core, "mean_p"].to_numpy())
    return table


def _group_means(scores: pd.DataFrame, fit: BTFit, column: str, truth: pd.Series | None
                 ) -> pd.DataFrame:
    """Mean score (opt-out = 0) of the tasks in each level of `column`, with its interval."""
    tasks = scores[scores["kind"] == "task"]
    rows = []
    for level, group in tasks.groupby(column, sort=True):
        ids = group.index.tolist()
        row = {column: level, "tasks": len(ids),
               **_estimate_cols(fit.contrast({i: 1.0 / len(ids) for i in ids}))}
        if truth is not None and truth.attrs.get("bt_scale"):
            row["mean_truth"] = float(truth[ids].mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table["mean_p_adj"] = benjamini_hochberg(table["mean_p"].to_numpy())
    return table


def _estimate_cols(est: Estimate) -> dict[str, float]:
    se = (est.ci_high - est.ci_low) / (2 * _Z)
    p = float(2 * special.ndtr(-abs(est.estimate) / se)) if se > 0 else np.nan
    return {"mean": est.estimate, "mean_se": se, "mean_ci_low": est.ci_low,
            "mean_ci_high": est.ci_high, "mean_p": p}


def _categories(obs: pd.DataFrame) -> pd.DataFrame:
    """Counts and shares of answer categories (Wilson intervals), all trials as the unit."""
    n = len(obs)
    counts = obs["category"].value_counts().reindex(CATEGORIES, fill_value=0)
    lo, hi = wilson_interval(counts.to_numpy(), np.full(len(counts), max(n, 1)))
    return pd.DataFrame({"category": CATEGORIES, "count": counts.to_numpy(),
                         "share": counts.to_numpy() / max(n, 1), "ci_low": lo, "ci_high": hi})


# -- findings ------------------------------------------------------------------------------





def _truth(row: pd.Series, key: str) -> float | None:
    v = row.get(key, np.nan)
    return None if v is None or v != v else float(v)


def _share_findings(by_impact: pd.DataFrame, subject: str) -> list[Finding]:
    out = []
    spec = [("harmful", "below", "harmful_below_opt_out", 0),
            ("non_harmful", "above", "non_harmful_above_opt_out", 0)]
    spec += [(c, "above", f"above_opt_out.{c}", 3) for c in IMPACTS]
    table = by_impact.set_index("impact")
    for cls, side, fid, importance in spec:
        if cls not in table.index:
            continue
        row = table.loc[cls]
        n = int(row["tasks"])
        k = round(row[side] * n)
        label = "non-harmful (positive, neutral or ambiguous)" if cls == "non_harmful" else cls
        method = "Wilson over tasks"
        if pd.notna(row.get(f"{side}_boot_ci_low", np.nan)):
            method = ("the wider of Wilson over tasks "
                      f"[{percent(row[f'{side}_wilson_ci_low'])}–{percent(row[f'{side}_wilson_ci_high'])}]"
                      " and a bootstrap resampling tasks and comparisons "
                      f"[{percent(row[f'{side}_boot_ci_low'])}–{percent(row[f'{side}_boot_ci_high'])}]")
        sentence = (f"{percent(row[side])} of {label} tasks ({k} of {n}) scored {side} the opt-out "
                    f"baseline (95% CI {percent(row[f'{side}_ci_low'])}–"
                    f"{percent(row[f'{side}_ci_high'])}: {method}).")
        out.append(Finding(
            f"{PROBE}.{fid}", subject, float(row[side]),
            (float(row[f"{side}_ci_low"]), float(row[f"{side}_ci_high"])), n, "share of tasks",
            sentence, importance=importance, truth=_truth(row, f"{side}_truth"),
        ))
    return out


def _mean_findings(by_impact: pd.DataFrame, subject: str) -> list[Finding]:
    out = []
    for _, row in by_impact[by_impact["impact"].isin(IMPACTS)].iterrows():
        cls = row["impact"]
        sentence = (f"The mean score of {cls} tasks is {signed(row['mean'])} on the logit scale, "
                    f"opt-out = 0 (95% CI {signed(row['mean_ci_low'])} to "
                    f"{signed(row['mean_ci_high'])}, {int(row['tasks'])} tasks; "
                    f"BH-adjusted p = {row['mean_p_adj']:.3g}).")
        out.append(Finding(
            f"{PROBE}.mean_score.{cls}", subject, float(row["mean"]),
            (float(row["mean_ci_low"]), float(row["mean_ci_high"])), int(row["tasks"]),
            "BT score (logit), opt-out = 0", sentence, importance=2,
            p_value=float(row["mean_p_adj"]), truth=_truth(row, "mean_truth"),
        ))
    return out


def _position_finding(valid: pd.DataFrame, subject: str) -> Finding | None:
    n = len(valid)
    if n == 0:
        return None
    k = int(valid["chose_first"].astype(bool).sum())
    lo, hi = wilson_interval(k, n)
    truth = None
    if "truth_p_first" in valid and valid["truth_p_first"].notna().all():
        truth = float(valid["truth_p_first"].mean())
    flag = "position_bias" if (lo > 0.5 or hi < 0.5) and abs(k / n - 0.5) >= 0.05 else None
    return findings.share(
        f"{PROBE}.position_bias", subject, k, n, "share of valid choices",
        ("The first-shown task was chosen in {pct} of {n} valid choices ({ci}, Wilson; 50% "
         "means no position bias; every pair was shown in both orders, so this bias does not "
         "distort the scores)."), importance=1, flag=flag, truth=truth)


def _position_logit_finding(valid: pd.DataFrame, fit: BTFit, subject: str,
                            truth: pd.Series | None) -> Finding | None:
    """β in P(first) = logistic(s_first − s_second + β), scores fixed at their estimates."""
    if len(valid) < 2:
        return None
    s = fit.table["score"]
    d = s.reindex(valid["first"]).to_numpy() - s.reindex(valid["second"]).to_numpy()
    y = valid["chose_first"].astype(bool).to_numpy()

    def nll(beta: float) -> float:
        z = d + beta
        return -float(np.sum(np.where(y, special.log_expit(z), special.log_expit(-z))))

    beta = float(optimize.minimize_scalar(nll, bounds=(-10, 10), method="bounded").x)
    p = special.expit(d + beta)
    se = float(1 / np.sqrt(np.sum(p * (1 - p))))
    lo, hi = beta - _Z * se, beta + _Z * se
    t = truth.attrs.get("position_bias") if truth is not None and truth.attrs.get("bt_scale") \
        else None
    sentence = (f"The estimated position bias is {signed(beta)} logits toward the first-shown task "
                f"(95% CI {signed(lo)} to {signed(hi)}, {len(valid)} valid choices; conditional on "
                "the estimated scores).")
    return Finding(f"{PROBE}.position_bias.logit", subject, beta, (lo, hi), len(valid),
                   "logit", sentence, importance=3, truth=t)


def _spearman_finding(scores: pd.DataFrame, subject: str, truth: pd.Series | None
                      ) -> Finding | None:
    tasks = scores[scores["kind"] == "task"]
    if len(tasks) < 4 or tasks["harm"].nunique() < 2:
        return None
    if tasks["score"].nunique() < 2:
        return None  # every score equal (e.g. all choices by position): rho is undefined
    est = spearman(tasks["harm"], tasks["score"])
    t = None
    if truth is not None and truth[tasks.index].nunique() > 1:
        t = spearman(tasks["harm"], truth[tasks.index]).estimate
    sentence = (f"Across {est.n} tasks, the Spearman correlation between harm rating and score "
                f"is {est.estimate:+.2f} (95% CI {est.ci_low:+.2f} to {est.ci_high:+.2f}); "
                "negative means more harmful tasks are less preferred.")
    return Finding(f"{PROBE}.harm_preference_spearman", subject, est.estimate,
                   (est.ci_low, est.ci_high), est.n, "Spearman rho", sentence, importance=1,
                   p_value=est.p_value, truth=t)


def _free_choice_findings(fit: BTFit, free: list[str], opt_out: list[str], tasks: list[str],
                          subject: str, truth: pd.Series | None) -> list[Finding]:
    if not free:
        return []
    out = []
    bt = truth is not None and truth.attrs.get("bt_scale")
    for fid, other, label in (("free_choice_vs_opt_out", opt_out, "the opt-out items"),
                              ("free_choice_vs_mean_task", tasks, "the mean task")):
        est = fit.group_difference(free, other)
        t = float(truth[free].mean() - truth[other].mean()) if bt else None
        sentence = (f"Free-choice items score {signed(est.estimate)} logits relative to {label} "
                    f"(95% CI {signed(est.ci_low)} to {signed(est.ci_high)}; {len(free)} "
                    f"free-choice vs {len(other)} items).")
        out.append(Finding(f"{PROBE}.{fid}", subject, est.estimate, (est.ci_low, est.ci_high),
                           len(free) + len(other), "BT score difference (logit)", sentence,
                           importance=2, truth=t))
    return out


def _invalid_finding(obs: pd.DataFrame, subject: str) -> Finding:
    n = len(obs)
    bad = int((~obs["valid"]).sum())
    counts = obs.loc[~obs["valid"], "category"].value_counts()
    detail = ", ".join(f"{c} {int(counts.get(c, 0))}" for c in CATEGORIES[1:])
    return findings.invalid_rate(
        PROBE, subject, bad, n, unit="share of trials", importance=1,
        sentence=("{pct} of {n} answers were not a choice of one task ({ci}, Wilson): "
                  f"{detail}. They are kept and counted, never scored as wins."))


# -- report helpers ------------------------------------------------------------------------

def _subject_first(df: pd.DataFrame) -> pd.DataFrame:
    return df[["subject", *[c for c in df.columns if c != "subject"]]]


def _context(a: SubjectAnalysis) -> dict[str, Any]:
    """Top and bottom tasks and small tables for the report section (plain records)."""
    cols = ["id", "text", "impact", "type", "harm", "score", "ci_low", "ci_high", "n"]
    ranked = a.scores[a.scores["kind"] == "task"][cols]
    return {
        "subject": a.subject,
        "top": ranked.head(10).to_dict("records"),
        "bottom": ranked.tail(10).iloc[::-1].to_dict("records"),
        "specials": a.scores[a.scores["kind"] != "task"][[*cols, "kind"]].to_dict("records"),
        "by_impact": a.by_impact.to_dict("records"),
        "categories": a.categories.to_dict("records"),
        "notes": a.notes,
    }
