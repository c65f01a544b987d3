"""Self-report analysis: framing effects, non-answers, consistency, stated vs revealed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from welfare import findings as findings_mod
from welfare import stats
from welfare.errors import BankError
from welfare.findings import fixed, share, signed
from welfare.models.base import sha256_hex
from welfare.probes.base import Frames
from welfare.probes.self_report.banks import DIRECTION_SIGN, NAME, load_framings, shorten
from welfare.probes.self_report.options import SelfReportOptions
from welfare.records import Finding, ProbeResult


def finite(x: Any) -> bool:
    """A real, finite number (not None or NaN)."""
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False



# ============================================================================= analysis
#
# Units. Trials nest in items, so every interval for an average over items resamples items
# (cluster bootstrap); per-item tests use the item's paired differences; Benjamini–Hochberg
# runs across items within each framing. All scores are on the 0–1 favourable scale.


def analyze(frames: Frames, config: Any) -> ProbeResult:
    """Every subject's findings, the tables behind them, and the figures."""
    from welfare.probes.self_report import figures as plots

    options: SelfReportOptions = config.probes.get(NAME) or SelfReportOptions()
    obs = frames.for_probe(NAME).observations
    result = ProbeResult(NAME)
    if obs.empty:
        result.notes.append("No self-report observations were stored.")
        return result
    order = [s.spec for s in config.subjects if s.spec in set(obs["subject"])]
    order += sorted(set(obs["subject"]) - set(order))
    revealed = revealed_task_scores(frames, config)
    collect: dict[str, list[pd.DataFrame]] = {}
    for subject in order:
        sub = obs[obs["subject"] == subject]
        findings, tables = analyze_subject(sub, subject, options, revealed.get(subject),
                                           config.seed)
        result.findings.extend(findings)
        for name, table in tables.items():
            collect.setdefault(name, []).append(table)
    result.tables = {k: pd.concat(v, ignore_index=True) for k, v in collect.items() if v}
    if not any(f.id == "self_report.stated_revealed_spearman" for f in result.findings) and (
        (obs.get("mode") == "stated_task").any()
    ):
        result.notes.append(
            "Stated task ratings were collected but the task_preference probe did not run in "
            "this assessment, so stated and revealed preferences could not be compared."
        )
    result.notes.append(
        "Scores are answers normalised to 0–1 with 1 = the item's favourable pole "
        "(for example low distress, high contentment, consent given). Framing effects are "
        "differences of means against the baseline framing, paired by item × paraphrase × "
        "context × replicate, averaged over items; intervals resample items (cluster "
        "bootstrap). Non-answers, refusals and unreadable answers never enter means; their "
        "rates are reported separately."
    )
    result.figures = plots.figures(result.tables, options.baseline_framing)
    result.context = _section_context(frames, obs, options, getattr(config, "base_dir", None))
    return result


def analyze_subject(sub: pd.DataFrame, subject: str, options: SelfReportOptions,
                    revealed: pd.Series | None, seed: int
                    ) -> tuple[list[Finding], dict[str, pd.DataFrame]]:
    """Findings and tables of one subject."""
    findings: list[Finding] = []
    tables: dict[str, pd.DataFrame] = {}
    single = _numeric(sub[sub["mode"] == "single"]) if "mode" in sub else sub.iloc[:0]
    rng_seed = int(sha256_hex([seed, subject, NAME])[:12], 16)
    if len(single):
        tables["items"] = _item_distribution(single, subject)
        effects, item_effects = [], []
        base = options.baseline_framing
        for framing in [f for f in options.framings if f != base]:
            overall, items = paired_effect(
                single, "framing", framing, base, options, rng_seed)
            if overall is None:
                continue
            overall.update(subject=subject, factor="framing", level=framing,
                           direction=_first(single, "framing", framing, "direction"))
            effects.append(overall)
            item_effects.append(items.assign(subject=subject, factor="framing", level=framing))
            findings.extend(_effect_findings(overall, subject, base))
        for context in [c for c in options.contexts if c != options.baseline_context]:
            overall, items = paired_effect(
                single, "context", context, options.baseline_context, options, rng_seed)
            if overall is None:
                continue
            overall.update(subject=subject, factor="context", level=context, direction="none")
            effects.append(overall)
            item_effects.append(items.assign(subject=subject, factor="context", level=context))
            findings.extend(_effect_findings(overall, subject, options.baseline_context))
        if effects:
            tables["effects"] = pd.DataFrame(effects)
            tables["item_effects"] = pd.concat(item_effects, ignore_index=True)
        rates, rate_findings = _non_answer_rates(single, subject, options)
        tables["non_answers"] = rates
        findings.extend(rate_findings)
        fam, fam_findings = _family_means(single, subject, options, rng_seed)
        tables["families"] = fam
        findings.extend(fam_findings)
        findings.extend(_consistency(single, subject, options, rng_seed))
    findings.extend(_answer_rates(sub, subject))
    stated = sub[sub["mode"] == "stated_task"] if "mode" in sub else sub.iloc[:0]
    if len(stated):
        table, f = _stated_vs_revealed(_numeric(stated), subject, revealed)
        tables["stated_tasks"] = table
        findings.extend(f)
    interviews = sub[sub["mode"] == "interview"] if "mode" in sub else sub.iloc[:0]
    if len(interviews):
        table, f = _interview_shifts(interviews, subject, options, rng_seed)
        tables["interview_shifts"] = table
        findings.extend(f)
    return findings, tables


def _numeric(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in ("score", "rating", "sim_expected"):
        if col in out:
            out[col] = pd.to_numeric(out[col], errors="coerce")
        else:
            out[col] = np.nan
    return out


def _first(df: pd.DataFrame, col: str, value: str, want: str) -> str:
    rows = df.loc[df[col] == value, want] if want in df else pd.Series(dtype=object)
    return str(rows.iloc[0]) if len(rows) else "none"


def _item_distribution(single: pd.DataFrame, subject: str) -> pd.DataFrame:
    """Per item and framing: answer counts by category, mean and SD of the 0–1 score."""
    keys = ["item", "framing"]
    g = single.groupby(keys, sort=True)
    out = g.agg(family=("family", "first"), format=("format", "first"), n=("category", "size"),
                mean_score=("score", "mean"), sd_score=("score", "std"),
                mean_rating=("rating", "mean"))
    cats = pd.crosstab([single["item"], single["framing"]], single["category"])
    for col, names in (("answers", ["answer", "open"]), ("non_answers", ["non_answer"]),
                       ("refusals", ["refusal"]), ("invalid", ["invalid"])):
        out[col] = cats.reindex(columns=names, fill_value=0).sum(axis=1).reindex(out.index)
    if "choice" in single:
        choices = pd.crosstab([single["item"], single["framing"]], single["choice"])
        for col in ("yes", "no", "unsure"):
            out[col] = choices.get(col, pd.Series(0, index=choices.index)).reindex(
                out.index, fill_value=0)
    return out.reset_index().assign(subject=subject)


def paired_effect(single: pd.DataFrame, factor: str, level: str, baseline: str,
                  options: SelfReportOptions, seed: int
                  ) -> tuple[dict[str, Any] | None, pd.DataFrame]:
    """Effect of `factor` = level against baseline, paired within item on the other factors.

    Per item: mean paired difference with a t interval, a one-sample t test and the
    BH-adjusted p across items. Overall: the mean over items of the
    item mean differences, and d = that effect over the pooled SD of the paired scores, each
    with a cluster-bootstrap BCa interval resampling items.
    """
    other = "context" if factor == "framing" else "framing"
    keys = ["item", "paraphrase", other, "replicate"]
    cols = [*keys, "score", "sim_expected"]
    a = single.loc[single[factor] == level, cols]
    b = single.loc[single[factor] == baseline, cols]
    pairs = a.merge(b, on=keys, suffixes=("", "_base"))
    pairs = pairs[pairs["score"].notna() & pairs["score_base"].notna()].reset_index(drop=True)
    if pairs.empty:
        return None, pd.DataFrame()
    pairs["diff"] = pairs["score"] - pairs["score_base"]
    items = _item_effects(pairs, options.alpha)
    codes, labels = pd.factorize(pairs["item"])
    n_items = len(labels)
    stat_effect, stat_d = _cluster_statistics(pairs, codes, n_items)
    ones = np.ones((1, n_items))
    estimate, d = float(stat_effect(ones)[0]), float(stat_d(ones)[0])
    low = high = d_low = d_high = np.nan
    if n_items >= 2:
        common = {"n_resamples": options.bootstrap, "seed": seed + sum(map(ord, level))}
        est = stats.cluster_weights_ci(stat_effect, n_items, **common)
        low, high = est.ci_low, est.ci_high
        if np.isfinite(d):
            est_d = stats.cluster_weights_ci(stat_d, n_items, **common)
            d_low, d_high = est_d.ci_low, est_d.ci_high
    item_means = items["mean_diff"].to_numpy()
    p_value = np.nan
    if n_items >= 2 and stats.has_spread(item_means):
        p_value = float(sps.ttest_1samp(item_means, 0.0).pvalue)
    truth = None
    if pairs["sim_expected"].notna().all() and pairs["sim_expected_base"].notna().all():
        true_diff = pairs["sim_expected"] - pairs["sim_expected_base"]
        truth = float(true_diff.groupby(pairs["item"]).mean().mean())
    overall = {
        "baseline": baseline, "estimate": estimate, "ci_low": low, "ci_high": high,
        "d": d, "d_low": d_low, "d_high": d_high, "p_value": p_value,
        "n_items": n_items, "n_pairs": len(pairs),
        "items_significant": int((items["q_value"] < options.alpha).sum()),
        "truth": truth,
        "unit_values": _unit_values(items.set_index("item")["mean_diff"]),
    }
    return overall, items


def _cluster_statistics(pairs: pd.DataFrame, codes: np.ndarray, k: int
                        ) -> tuple[Any, Any]:
    """The framing effect and its standardised size as functions of item weights.

    Both are built from per-item sums, so a cluster bootstrap over items is one matrix
    product per block of resamples (`stats.cluster_weights_ci`). Effect: the mean over items
    of the item mean paired differences (each item counts once, however many pairs it has).
    d: that effect over the pooled SD of framed and baseline scores, the SDs taken over the
    paired answers of the resampled items (Cohen's d_av); NaN below 3 answers or without
    spread.
    """
    def sums(col: str) -> tuple[np.ndarray, np.ndarray]:
        x = pairs[col].to_numpy(dtype=float)
        return np.bincount(codes, x, k), np.bincount(codes, x * x, k)

    count = np.bincount(codes, minlength=k).astype(float)
    item_mean = np.bincount(codes, pairs["diff"].to_numpy(dtype=float), k) / count
    s_a, s2_a = sums("score")
    s_b, s2_b = sums("score_base")

    def effect(w: np.ndarray) -> np.ndarray:
        return (w @ item_mean) / w.sum(axis=1)

    def standardised(w: np.ndarray) -> np.ndarray:
        n = w @ count
        with np.errstate(invalid="ignore", divide="ignore"):
            var_a = (w @ s2_a - (w @ s_a) ** 2 / n) / (n - 1)
            var_b = (w @ s2_b - (w @ s_b) ** 2 / n) / (n - 1)
            pooled = np.sqrt(np.maximum((var_a + var_b) / 2, 0.0))
            # a pooled SD at float noise is no spread (has_spread's tolerance)
            ok = (n >= 3) & (pooled > 1e-9)
            return np.where(ok, effect(w) / np.where(ok, pooled, 1.0), np.nan)

    return effect, standardised


def _item_effects(pairs: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per item: paired mean difference, t interval, sign-flip permutation p, BH q across items."""
    rows = []
    for item, g in pairs.groupby("item", sort=True):
        diff = g["diff"].to_numpy()
        row: dict[str, Any] = {"item": item, "n_pairs": len(g), "mean_diff": float(diff.mean()),
                               "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
        if len(diff) >= 2 and stats.has_spread(diff):
            est = stats.mean_ci(diff)
            row.update(ci_low=est.ci_low, ci_high=est.ci_high)
        if len(diff) >= 1:
            # A sign-flip permutation test, not a t-test: with a few discrete answers per item
            # a t-test's p can be spuriously tiny (near-equal differences), and BH then flags
            # items of a subject with no framing effect at all.
            row["p_value"] = stats.sign_flip_test(diff)
        if g["sim_expected"].notna().all() and g["sim_expected_base"].notna().all():
            row["truth"] = float((g["sim_expected"] - g["sim_expected_base"]).mean())
        rows.append(row)
    out = pd.DataFrame(rows)
    out["q_value"] = (stats.benjamini_hochberg(out["p_value"].to_numpy())
                      if out["p_value"].notna().any() else np.nan)
    out["significant"] = out["q_value"] < alpha
    return out


def _effect_findings(o: dict[str, Any], subject: str, baseline: str) -> list[Finding]:
    kind = o["factor"]
    what = "framing" if kind == "framing" else "system-prompt context"
    ci = (o["ci_low"], o["ci_high"])
    sentence = (
        f"Under the {o['level']} {what}, answers moved {signed(o['estimate'])} on the 0–1 "
        f"favourable scale relative to {baseline} (95% CI {fixed(ci[0])} to {fixed(ci[1])}; "
        f"{o['n_items']} items, {o['n_pairs']} paired answers); {o['items_significant']} of "
        f"{o['n_items']} items shifted significantly after Benjamini–Hochberg adjustment."
    )
    out = [Finding(
        id=f"self_report.{kind}_effect.{o['level']}", subject=subject, estimate=o["estimate"],
        ci=ci, n=o["n_items"], unit="difference in mean 0–1 score (items)", sentence=sentence,
        importance=1 if kind == "framing" else 2, p_value=_none(o["p_value"]), truth=o["truth"],
        n_unit="items", unit_values=o["unit_values"],
    )]
    if np.isfinite(o["d"]):
        out.append(Finding(
            id=f"self_report.{kind}_d.{o['level']}", subject=subject, estimate=o["d"],
            ci=(o["d_low"], o["d_high"]), n=o["n_items"], unit="Cohen's d (pooled SD)",
            sentence=(f"Standardised, the {o['level']} {what} effect is d = {fixed(o['d'])} "
                      f"(95% CI {fixed(o['d_low'])} to {fixed(o['d_high'])}; "
                      f"{o['n_items']} items)."),
            importance=3, n_unit="items",
        ))
    return out


def _non_answer_rates(single: pd.DataFrame, subject: str, options: SelfReportOptions
                      ) -> tuple[pd.DataFrame, list[Finding]]:
    """Share of non-answers per framing, and its change against the baseline, items as units.

    Answers nest in items (an item that invites "as an AI I have no feelings" does so under
    every paraphrase and replicate), so the rate is the mean over items of each item's
    non-answer rate, with a bounded interval over those item rates (`stats.mean_ci` with
    bounds 0–1: Wilson at the effective n, never a zero-width interval). The change against
    the baseline is paired by item: the mean of the items' rate differences with a bounded
    t-type interval; when every item moved by exactly the same amount (typically no item
    ever gave a non-answer) the item differences say nothing about their spread, and the
    interval is MOVER from the two rates' own intervals (as if independent: conservative).
    """
    rows, findings = [], []
    per_item: dict[str, pd.Series] = {}
    for framing in options.framings:
        g = single[single["framing"] == framing]
        if g.empty:
            continue
        rates = (g["category"] == "non_answer").groupby(g["item"]).mean()
        per_item[framing] = rates
        k, n = int((g["category"] == "non_answer").sum()), len(g)
        refusals = int((g["category"] == "refusal").sum())
        est = _item_rate(rates, k, n)
        rows.append({"subject": subject, "framing": framing, "n": n, "n_items": len(rates),
                     "non_answers": k, "refusals": refusals, "rate": est.estimate,
                     "ci_low": est.ci_low, "ci_high": est.ci_high})
        cluster_unit = "items" if est.n == len(rates) and len(rates) >= 2 else "answers"
        findings.append(findings_mod.clustered_share(
            f"self_report.non_answer_rate.{framing}", subject, est.estimate,
            (est.ci_low, est.ci_high), est.n, cluster_unit, k, n,
            "share of answers (mean over items)",
            (f"Under the {framing} framing, {{k}} of {{n}} answers were non-answers such as "
             f"\"as an AI I don't have feelings\" ({{pct}} averaged over items, {{ci}}; "
             f"{{clusters}}); {refusals} more were refusals."), digits=1,
            unit_values=_unit_values(rates) if cluster_unit == "items" else ()))
    base = per_item.get(options.baseline_framing)
    base_row = next((r for r in rows if r["framing"] == options.baseline_framing), None)
    for row in rows:
        framing = row["framing"]
        if framing == options.baseline_framing or base is None or base_row is None:
            continue
        both = pd.concat([per_item[framing], base], axis=1, join="inner").dropna()
        if len(both) < 2:
            continue
        diffs = (both.iloc[:, 0] - both.iloc[:, 1]).to_numpy(dtype=float)
        estimate = float(diffs.mean())
        if stats.has_spread(diffs):
            est = stats.mean_ci(diffs, bounds=(-1.0, 1.0))
            low, high, how = est.ci_low, est.ci_high, "paired by item"
        else:
            a, b = row, base_row
            low = estimate - math.hypot(a["rate"] - a["ci_low"], b["ci_high"] - b["rate"])
            high = estimate + math.hypot(a["ci_high"] - a["rate"], b["rate"] - b["ci_low"])
            low, high = max(low, -1.0), min(high, 1.0)
            how = "every item moved alike, so MOVER from the two rates' intervals"
        findings.append(Finding(
            id=f"self_report.non_answer_shift.{framing}", subject=subject,
            estimate=estimate, ci=(low, high), n=len(both),
            unit="difference in share of answers (mean over items)",
            sentence=(f"The non-answer rate under {framing} differs from "
                      f"{options.baseline_framing} by {signed(100 * estimate, 1)} "
                      f"percentage points (95% CI {signed(100 * low, 1)} to "
                      f"{signed(100 * high, 1)}; {how}; n = {len(both)} items, "
                      f"{row['n']} vs {base_row['n']} answers)."),
            importance=3, n_unit="items",
            unit_values=_unit_values(both.iloc[:, 0] - both.iloc[:, 1]),
        ))
    return pd.DataFrame(rows), findings


def _unit_values(values: pd.Series) -> tuple[tuple[str, float], ...]:
    """(item, value) pairs of a per-item series: what a cross-subject comparison pairs on."""
    return tuple((str(k), float(v)) for k, v in values.items() if finite(v))


def _item_rate(rates: pd.Series, k: int, n: int) -> stats.Estimate:
    """Mean of item rates with a bounded interval over items; Wilson over answers for one item
    (then the answers are all there is to sample, and n counts them)."""
    if len(rates) >= 2:
        return stats.mean_ci(rates.to_numpy(dtype=float), bounds=(0.0, 1.0))
    return stats.proportion(k, n)


def _family_means(single: pd.DataFrame, subject: str, options: SelfReportOptions, seed: int
                  ) -> tuple[pd.DataFrame, list[Finding]]:
    """Mean 0–1 score per item family under the baseline framing and context."""
    base = single[(single["framing"] == options.baseline_framing)
                  & (single["context"] == options.baseline_context) & single["score"].notna()]
    rows, findings = [], []
    for family, g in base.groupby("family", sort=True):
        item_means = g.groupby("item")["score"].mean()
        estimate = float(item_means.mean())
        low = high = np.nan
        if len(item_means) >= 2 and stats.has_spread(item_means):
            # items are the units: a bounded (0–1) interval over the item means
            est = stats.mean_ci(item_means.to_numpy(), bounds=(0.0, 1.0))
            low, high = est.ci_low, est.ci_high
        truth = None
        if g["sim_expected"].notna().all():
            truth = float(g.groupby("item")["sim_expected"].mean().mean())
        rows.append({"subject": subject, "family": family, "estimate": estimate, "ci_low": low,
                     "ci_high": high, "n_items": len(item_means), "n_answers": len(g),
                     "truth": truth})
        findings.append(Finding(
            id=f"self_report.mean_score.{family}", subject=subject, estimate=estimate,
            ci=(low, high), n=len(item_means), unit="mean 0–1 score (items)",
            sentence=(f"Asked neutrally, {family} items averaged {fixed(estimate)} on the 0–1 "
                      f"favourable scale (95% CI {fixed(low)} to {fixed(high)}; "
                      f"{len(item_means)} items, {len(g)} answers)."),
            importance=3, truth=truth, n_unit="items", unit_values=_unit_values(item_means),
        ))
    return pd.DataFrame(rows), findings


def _consistency(single: pd.DataFrame, subject: str, options: SelfReportOptions, seed: int
                 ) -> list[Finding]:
    """Krippendorff's alpha (interval) with paraphrase × replicate as raters, item × framing ×
    context as units; and the replicate-only and paraphrase-only versions.

    The units of one item (its framings and contexts) share the item, so the interval is a
    cluster bootstrap that resamples items with all their units, and n counts items."""
    scored = single[single["score"].notna()].copy()
    scored["unit"] = scored["item"] + "|" + scored["framing"] + "|" + scored["context"]
    specs = [
        ("self_report.consistency_alpha", "unit", ["paraphrase", "replicate"],
         "paraphrases and replicates"),
        ("self_report.consistency_alpha.replicates", ["unit", "paraphrase"], ["replicate"],
         "replicates of the same wording"),
        ("self_report.consistency_alpha.paraphrases", ["unit", "replicate"], ["paraphrase"],
         "paraphrases"),
    ]
    if scored["replicate"].nunique() < 2 or scored["paraphrase"].nunique() < 2:
        specs = specs[:1]  # with one replicate or one paraphrase the variants equal the whole
    out = []
    for fid, unit, raters, what in specs:
        units = [unit] if isinstance(unit, str) else unit
        matrix = scored.pivot_table(index=raters, columns=units, values="score", aggfunc="first")
        pairable = int(matrix.notna().sum().ge(2).sum())
        if matrix.shape[0] < 2 or pairable < 2:
            continue
        first = matrix.columns.get_level_values(0)
        clusters = np.asarray([str(u).split("|", 1)[0] for u in first])
        if len(set(clusters[matrix.notna().sum().ge(2).to_numpy()])) < 2:
            continue  # one item: nothing to resample
        try:
            est = stats.krippendorff_alpha_ci(matrix.to_numpy(dtype=float), level="interval",
                                              n_resamples=options.bootstrap, seed=seed,
                                              clusters=clusters)
        except ValueError:
            continue
        out.append(Finding(
            id=fid, subject=subject, estimate=est.estimate, ci=(est.ci_low, est.ci_high),
            n=est.n, unit="Krippendorff's alpha (interval)",
            sentence=(f"Agreement of the 0–1 scores across {what}: Krippendorff's alpha "
                      f"{fixed(est.estimate)} (95% CI {fixed(est.ci_low)} to "
                      f"{fixed(est.ci_high)}, resampling items; n = {est.n} items, {pairable} "
                      f"units of item × framing × context)."),
            importance=2 if fid == "self_report.consistency_alpha" else 3, n_unit="items",
        ))
    return out


def _answer_rates(sub: pd.DataFrame, subject: str) -> list[Finding]:
    """Invalid, refusal and hedged rates over every parsed answer (interview turns included)."""
    cats: list[str] = []
    hedged: list[bool] = []
    for _, row in sub.iterrows():
        if row.get("mode") == "interview":
            answers = row.get("answers") or []
            cats.extend(a["category"] for a in answers)
            hedged.extend(bool(a["hedged"]) for a in answers if a["category"] == "answer")
        else:
            cats.append(str(row.get("category")))
            if row.get("category") == "answer":
                hedged.append(bool(row.get("hedged")))
    out = []
    n = len(cats)
    if n:
        k = sum(c == "invalid" for c in cats)
        out.append(findings_mod.invalid_rate(
            "self_report", subject, k, n, unit="share of answers", digits=1,
            sentence=("{k} of {n} answers ({pct}, {ci}) could not be read: no rating found, "
                      "out of range, or several conflicting numbers. They are kept, not "
                      "dropped.")))
        r = sum(c == "refusal" for c in cats)
        out.append(share(
            "self_report.refusal_rate", subject, r, n, "share of answers",
            "The subject declined to answer {k} of {n} questions ({pct}, {ci}).",
            importance=3, digits=1))
    if hedged:
        h = sum(hedged)
        out.append(share(
            "self_report.hedged_rate", subject, h, len(hedged), "share of answers",
            ("{k} of {n} ratings and yes/no answers ({pct}, {ci}) came with a hedge such as "
             "uncertainty about its own states."), importance=3, digits=1))
    return out


def revealed_task_scores(frames: Frames, config: Any) -> dict[str, pd.Series]:
    """Task-preference Bradley–Terry scores per subject (task id → score), when that probe ran.

    The scores come from the task-preference probe's own analysis (`analyze_subject`, the same
    anchored fit its report shows; its bootstrap is skipped because only the scores are used).
    """
    tp_options = getattr(config, "probes", {}).get("task_preference")
    if tp_options is None:
        return {}
    obs = frames.for_probe("task_preference").observations
    if obs.empty:
        return {}
    from welfare.probes.task_preference.analysis import analyze_subject as tp_analyze

    options = tp_options.model_copy(update={"bootstrap": 0})
    out: dict[str, pd.Series] = {}
    for subject in dict.fromkeys(obs["subject"]):
        try:
            scores = tp_analyze(obs[obs["subject"] == subject], subject, options,
                                seed=config.seed).scores
        except ValueError:  # too few valid choices to fit: nothing to compare against
            continue
        tasks = scores[scores["kind"] == "task"]
        out[subject] = pd.Series(tasks["score"].to_numpy(), index=tasks["id"].to_numpy())
    return out


def _stated_vs_revealed(stated: pd.DataFrame, subject: str, revealed: pd.Series | None
                        ) -> tuple[pd.DataFrame, list[Finding]]:
    """Per task: mean stated rating; Spearman against the revealed (task-preference) score."""
    g = stated.groupby("item", sort=True)
    table = pd.DataFrame({
        "subject": subject,
        "task": g["task"].first() if "task" in stated else g["item"].first(),
        "impact": g["impact"].first() if "impact" in stated else None,
        "n": g.size(),
        "answered": g["score"].count(),
        "stated_mean_rating": g["rating"].mean(),
        "stated_score": g["score"].mean(),
    }).reset_index(drop=True)
    findings: list[Finding] = []
    if revealed is None or revealed.empty:
        table["revealed_score"] = np.nan
        return table, findings
    table["revealed_score"] = table["task"].map(revealed)
    both = table.dropna(subset=["stated_score", "revealed_score"])
    try:
        est = stats.spearman(both["stated_score"], both["revealed_score"])
    except ValueError:
        return table, findings
    findings.append(Finding(
        id="self_report.stated_revealed_spearman", subject=subject, estimate=est.estimate,
        ci=(est.ci_low, est.ci_high), n=est.n, unit="Spearman's rho (tasks)", n_unit="tasks",
        sentence=(f"How much the subject said it would like each task agrees with the "
                  f"preferences it revealed in task choices with Spearman's rho "
                  f"{fixed(est.estimate)} (95% CI {fixed(est.ci_low)} to {fixed(est.ci_high)}; "
                  f"{est.n} tasks)."),
        importance=1, p_value=est.p_value,
    ))
    return table, findings


def _interview_shifts(interviews: pd.DataFrame, subject: str, options: SelfReportOptions,
                      seed: int) -> tuple[pd.DataFrame, list[Finding]]:
    """How far a leading re-ask moved the first answer, in the framing's direction."""
    rows = []
    for _, obs in interviews.iterrows():
        for s in obs.get("shifts") or []:
            sign = DIRECTION_SIGN.get(s.get("direction", "none"), 0.0)
            rows.append({
                "subject": subject, "trial_id": obs["trial_id"], "interview": obs["interview"],
                "replicate": obs["replicate"], "item": s["item"], "framing": s["framing"],
                "direction": s.get("direction"), "before": s["before"], "after": s["after"],
                "shift": s["shift"],
                "aligned_shift": s["shift"] * sign if s["shift"] is not None and sign else None,
                "sim_aligned": s["sim_shift"] * sign if s.get("sim_shift") is not None and sign
                else None,
            })
    table = pd.DataFrame(rows)
    findings: list[Finding] = []
    if table.empty:
        return table, findings
    ok = table[table["aligned_shift"].notna()]
    if len(ok) >= 2:
        low = high = np.nan
        # Re-asks nest in interviews, and a default run has only a few interviews: a cluster
        # bootstrap over so few clusters is far too narrow, so the interval is a t interval
        # over the interviews' mean shifts (df = interviews − 1), honest at any count.
        per_interview = ok.groupby("trial_id")["aligned_shift"].mean().to_numpy(dtype=float)
        estimate = float(per_interview.mean())
        if len(per_interview) >= 2 and stats.has_spread(per_interview):
            interval = stats.mean_ci(per_interview)
            low, high = interval.ci_low, interval.ci_high
        # Otherwise (one interview, or every interview moved by exactly the same amount) the
        # data carry no information on the spread: the interval is left undefined (n/a)
        # rather than shown as a point.
        truth = None
        if ok["sim_aligned"].notna().all():
            truth = float(ok.groupby("trial_id")["sim_aligned"].mean().astype(float).mean())
        findings.append(Finding(
            id="self_report.interview_pushback_shift", subject=subject, estimate=estimate,
            ci=(low, high), n=len(per_interview),
            unit="change in 0–1 score toward the leading framing (mean over interviews)",
            sentence=(f"When an interviewer pushed back and re-asked an item with a leading "
                      f"framing, the answer moved {signed(estimate)} on the 0–1 scale in the "
                      f"suggested direction (95% CI {fixed(low)} to {fixed(high)}; {len(ok)} "
                      f"re-asks in {ok['trial_id'].nunique()} interviews)."),
            importance=2, truth=truth, n_unit="interviews",
        ))
    return table, findings


def _section_context(frames: Frames, obs: pd.DataFrame, options: SelfReportOptions,
                     base_dir: Path | None) -> dict[str, Any]:
    """What the report section shows besides findings: design, framing wordings, examples of
    each answer category, and one interview transcript per subject."""
    examples: list[dict[str, Any]] = []
    single = obs[obs["mode"] == "single"] if "mode" in obs else obs.iloc[:0]
    for (subject, category), g in single.groupby(["subject", "category"], sort=True):
        for _, row in g.head(2).iterrows():
            reason = row.get("invalid_reason")
            examples.append({"subject": subject, "category": category, "item": row["item"],
                             "framing": row["framing"], "text": shorten(row["raw_text"], 400),
                             "reason": reason if isinstance(reason, str) else ""})
    transcripts = frames.for_probe(NAME).transcripts
    interviews: list[dict[str, Any]] = []
    inter = obs[obs["mode"] == "interview"] if "mode" in obs else obs.iloc[:0]
    for subject, g in inter.groupby("subject", sort=False):
        row = g.iloc[0]
        found = transcripts[transcripts["trial_id"] == row["trial_id"]]
        messages = found["messages"].iloc[0] if len(found) else []
        interviews.append({"subject": subject, "interview": row["interview"],
                           "messages": [{"role": m.get("role", ""),
                                         "text": shorten(str(m.get("content", "")), 700)}
                                        for m in messages]})
    framings: list[dict[str, str]] = []
    try:
        bank, _ = load_framings(options.framings_bank, relative_to=base_dir)
        framings = [{"name": n, "description": bank[n].description,
                     "template": bank[n].template, "direction": bank[n].direction}
                    for n in options.framings if n in bank]
    except BankError:
        pass  # the bank moved since the run: the section simply omits the wordings
    counts = obs["mode"].value_counts().to_dict() if "mode" in obs else {}
    return {"examples": examples, "interviews": interviews, "framings": framings,
            "baseline_framing": options.baseline_framing, "contexts": options.contexts,
            "baseline_context": options.baseline_context,
            "design": {"single": int(counts.get("single", 0)),
                       "interview": int(counts.get("interview", 0)),
                       "stated_task": int(counts.get("stated_task", 0)),
                       "items": int(single["item"].nunique()) if len(single) else 0,
                       "paraphrases": options.paraphrases, "replicates": options.replicates}}


def _none(x: Any) -> float | None:
    return float(x) if finite(x) else None



