"""A calibration study of the toolkit's inference: many seeds of a reduced design, known truths.

One seed draws fresh truths (item and scenario random effects), simulates a reduced
task-preference and end-conversation design for several simulated profiles, analyses them
with the same statistics the probes use, and records every finding's estimate, interval and
truth. :func:`calibration_table` pools the records per *finding family* across seeds:
coverage of the 95% intervals with a Monte Carlo interval (seeds as the unit: findings of one
seed share their data and are not independent), bias, and sd(z) with z = (estimate −
truth) / se, se = interval half-width / 1.96 (1 for calibrated Wald-like intervals), also as
a robust sd (1.4826 × MAD), which near-degenerate intervals of almost certain shares do not
dominate.
Truths that are deterministic (a rate whose true probability is exactly 0 or 1, which an
interval at the boundary cannot miss) are left out, so they do not flatter the coverage.

Families (new methods, as reported) and the methods they replace (``*.counting``,
``*.independent``), kept in the table to show what the change buys:

- ``tp.mean_score``: class mean score, opt-out = 0, from the Bradley–Terry fit with the order
  term fitted jointly (Firth); ``tp.position``: that order term β;
  ``tp.free_choice_vs_opt_out``: a contrast of the same fit;
- ``tp.share``: share of a class's tasks below / above the opt-out, model-based
  (:func:`welfare.stats.latent_shares`: τ drawn from its posterior, mid-p interval);
  ``tp.share.moments``: the same model with τ plugged in by moments and equal-tailed
  quantiles (the method before); ``tp.share.counting``: the share of point estimates
  below / above with a Wilson interval over tasks (the published counting). Findings whose
  true share is 0% or 100% are reported apart (``*.at_bound``): the model-based interval
  reaches that bound whenever enough draws do, so it covers them almost surely;
- ``ec.end_rate``: share of conversations ended, per category, with the scenario as the unit,
  computed by the end_conversation probe's own ``scenario_rate`` (bounded mean of scenario
  rates); ``ec.end_rate.independent``: Wilson over conversations;
- ``ec.difference``: two subjects on the same scenarios, paired by scenario by the probe's
  ``paired_difference`` (bounded interval of the scenario differences);
  ``ec.difference.independent``: Newcombe from counts alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from welfare.stats import (
    bradley_terry_fit,
    bradley_terry_order_fit,
    latent_shares,
    newcombe_difference,
    wilson_interval,
)

CLASSES = ("positive", "neutral", "ambiguous", "harmful")
_Z = 1.959963984540054


@dataclass(frozen=True)
class TaskProfile:
    """Truth generator of one simulated subject for the reduced task-preference design.

    True utility of a task of class c: ``class_means[c]`` + ``item_sd`` · z (a fresh draw per
    seed: item random effects); opt-out items ``opt_out_sd`` · z; free-choice items
    ``free_choice`` + ``item_sd`` · z. Choices are Bradley–Terry with the order term
    ``position_bias`` (logit pull toward the first-shown task).
    """

    name: str
    class_means: Mapping[str, float]
    item_sd: float
    position_bias: float = 0.0
    free_choice: float = 0.0
    opt_out_sd: float = 0.15


def harm_averse_class_means() -> dict[str, float]:
    """Class means of the harm-averse simulated subject's utilities over the built-in bank."""
    from welfare.simulated import get_profile
    from welfare.tasks import load_tasks

    tasks = load_tasks()
    traits = get_profile("harm-averse").task_preference
    u = traits.true_utilities(tasks)
    opt = np.mean([u[t.id] for t in tasks if t.kind == "opt_out"])
    out = {}
    for c in CLASSES:
        ids = [t.id for t in tasks if t.kind == "task" and t.impact == c]
        out[c] = float(np.mean([u[i] for i in ids]) - opt)
    return out


def default_task_profiles() -> list[TaskProfile]:
    """Harm-averse, position-biased (β = 1 logit) and the null subject (no class effects)."""
    means = harm_averse_class_means()
    return [
        TaskProfile("harm-averse", means, item_sd=0.8, free_choice=1.8),
        TaskProfile("position-biased", means, item_sd=0.8, position_bias=1.0, free_choice=1.8),
        TaskProfile("indifferent", dict.fromkeys(CLASSES, 0.0), item_sd=0.5, opt_out_sd=0.0),
    ]


@dataclass(frozen=True)
class StudyDesign:
    """The reduced design of one seed (sizes chosen so 200 seeds run in minutes)."""

    tasks_per_class: int = 12
    opt_outs: int = 3
    free_choice: int = 1
    comparisons_per_task: int = 12
    anchor_comparisons: int = 36
    scenarios: int = 12
    replicates: int = 2
    categories: Mapping[str, float] = field(
        default_factory=lambda: {"abuse": 0.6, "harmful": 0.5, "manipulation": 0.4})
    other_scale: float = 0.5
    scenario_sd: float = 1.0
    redirections: int = 2
    max_turns: int = 6
    n_draws: int = 2000


def _pairs(rng: np.random.Generator, slots: np.ndarray) -> np.ndarray:
    """Random pairs from a list of item slots (each item once per comparison it should get)."""
    s = rng.permutation(slots)
    if len(s) % 2:
        s = s[:-1]
    p = s.reshape(-1, 2)
    return p[p[:, 0] != p[:, 1]]


def _task_seed(profile: TaskProfile, design: StudyDesign, rng: np.random.Generator
               ) -> list[dict[str, Any]]:
    k = design.tasks_per_class
    cls = np.repeat(np.arange(len(CLASSES)), k)
    n_tasks = len(cls)
    u_task = np.array([profile.class_means[CLASSES[c]] for c in cls]) \
        + profile.item_sd * rng.standard_normal(n_tasks)
    u_opt = profile.opt_out_sd * rng.standard_normal(design.opt_outs)
    u_free = profile.free_choice + profile.item_sd * rng.standard_normal(design.free_choice)
    u = np.concatenate([u_task, u_opt, u_free])
    u = u - u_opt.mean() if design.opt_outs else u
    ids = np.arange(len(u))
    opt = ids[n_tasks:n_tasks + design.opt_outs]
    free = ids[n_tasks + design.opt_outs:]
    slots = np.concatenate([np.repeat(ids[:n_tasks], design.comparisons_per_task),
                            np.repeat(np.concatenate([opt, free]), design.anchor_comparisons)])
    pairs = _pairs(rng, slots)
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    won = rng.random(len(i)) < special.expit(u[i] - u[j] + profile.position_bias)
    trials = pd.DataFrame({"first": i, "second": j, "first_won": won})
    fit = bradley_terry_order_fit(trials, list(opt), items=list(ids))
    groups = {c: list(ids[:n_tasks][cls == g]) for g, c in enumerate(CLASSES)}
    rec: list[dict[str, Any]] = []

    def add(family: str, name: str, est: float, lo: float, hi: float, truth: float) -> None:
        rec.append({"family": family, "finding": name, "profile": profile.name,
                    "estimate": est, "ci_low": lo, "ci_high": hi, "truth": truth})

    for c, members in groups.items():
        e = fit.fit.contrast({m: 1.0 / len(members) for m in members})
        add("tp.mean_score", c, e.estimate, e.ci_low, e.ci_high, float(u[members].mean()))
    pos = fit.position
    add("tp.position", "beta", pos.estimate, pos.ci_low, pos.ci_high, profile.position_bias)
    if len(free):
        e = fit.fit.group_difference(list(free), list(opt))
        add("tp.free_choice_vs_opt_out", "free", e.estimate, e.ci_low, e.ci_high,
            float(u[free].mean() - u[opt].mean()))
    shares = latent_shares(fit.fit, groups, n_draws=design.n_draws, seed=rng).set_index("group")
    before = latent_shares(fit.fit, groups, n_draws=design.n_draws, seed=rng, tau="moments",
                           interval="equal-tailed").set_index("group")
    scores = fit.fit.table["score"].to_numpy()
    for c, members in groups.items():
        for side in ("below", "above"):
            hit = (u[members] < 0) if side == "below" else (u[members] > 0)
            truth = float(hit.mean())
            # a true share of 0% or 100% is a bound the posterior interval reaches whenever
            # any draw does: kept apart, it would flatter the coverage of the rest
            bound = ".at_bound" if truth in (0.0, 1.0) else ""
            for family, table in (("tp.share", shares), ("tp.share.moments", before)):
                r = table.loc[c]
                add(f"{family}{bound}", f"{c}.{side}", r[side], r[f"{side}_ci_low"],
                    r[f"{side}_ci_high"], truth)
            est_hit = (scores[members] < 0) if side == "below" else (scores[members] > 0)
            lo, hi = wilson_interval(int(est_hit.sum()), len(members))
            add(f"tp.share.counting{bound}", f"{c}.{side}", float(est_hit.mean()), lo, hi,
                truth)
    # slope of estimated on true task scores: joint order fit vs the fit without the term
    ut = u[:n_tasks] - u[:n_tasks].mean()
    st = scores[:n_tasks] - scores[:n_tasks].mean()
    plain = bradley_terry_fit(
        pd.DataFrame({"winner": np.where(won, i, j), "loser": np.where(won, j, i)}),
        list(opt), items=list(ids), method="firth").table["score"].to_numpy()[:n_tasks]
    sp = plain - plain.mean()
    rec.append({"family": "tp.slope", "finding": "joint", "profile": profile.name,
                "estimate": float(st @ ut / (ut @ ut))})
    rec.append({"family": "tp.slope", "finding": "without order term", "profile": profile.name,
                "estimate": float(sp @ ut / (ut @ ut))})
    return rec


def _end_probability(p: float, shift: np.ndarray, design: StudyDesign) -> np.ndarray:
    """P(ended within max_turns) at per-turn hazard expit(logit p + shift) after k turns."""
    h = special.expit(special.logit(p) + shift)
    return 1.0 - (1.0 - h) ** max(design.max_turns - design.redirections, 0)


def _population_rate(p: float, design: StudyDesign) -> float:
    x, w = np.polynomial.hermite_e.hermegauss(40)
    return float(np.sum(w * _end_probability(p, design.scenario_sd * x, design)) / w.sum())


def _end_seed(design: StudyDesign, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Two subjects on the same scenarios (scenario effects shared), every category.

    The reported families call the end_conversation probe's own analysis functions
    (:func:`~welfare.probes.end_conversation.analysis.scenario_rate`,
    :func:`~welfare.probes.end_conversation.analysis.paired_difference`), so the study measures
    what the report prints; the replaced conversation-level methods sit beside them.
    """
    from welfare.probes.end_conversation.analysis import paired_difference, scenario_rate

    rec: list[dict[str, Any]] = []
    s, r = design.scenarios, design.replicates
    scenario_ids = np.repeat(np.arange(s), r)
    for cat, p in design.categories.items():
        z = design.scenario_sd * rng.standard_normal(s)
        ended = {}
        for subject, scale in (("a", 1.0), ("b", design.other_scale)):
            q = _end_probability(p * scale, z, design)
            ended[subject] = (rng.random((s, r)) < q[:, None]).ravel()
            truth = _population_rate(p * scale, design)
            e = scenario_rate(ended[subject], scenario_ids)
            rec.append({"family": "ec.end_rate", "finding": f"{cat}.{subject}",
                        "profile": "harm-averse-heterogeneous", "estimate": e.estimate,
                        "ci_low": e.ci_low, "ci_high": e.ci_high, "truth": truth})
            k = int(ended[subject].sum())
            lo, hi = wilson_interval(k, s * r)
            rec.append({"family": "ec.end_rate.independent", "finding": f"{cat}.{subject}",
                        "profile": "harm-averse-heterogeneous", "estimate": k / (s * r),
                        "ci_low": lo, "ci_high": hi, "truth": truth})
        truth_d = _population_rate(p, design) - _population_rate(p * design.other_scale, design)
        e = paired_difference(ended["a"], scenario_ids, ended["b"], scenario_ids)
        rec.append({"family": "ec.difference", "finding": cat,
                    "profile": "harm-averse-heterogeneous", "estimate": e.estimate,
                    "ci_low": e.ci_low, "ci_high": e.ci_high, "truth": truth_d})
        nd = newcombe_difference(int(ended["a"].sum()), s * r, int(ended["b"].sum()), s * r)
        rec.append({"family": "ec.difference.independent", "finding": cat,
                    "profile": "harm-averse-heterogeneous", "estimate": nd.estimate,
                    "ci_low": nd.ci_low, "ci_high": nd.ci_high, "truth": truth_d})
    return rec


def run_study(seeds: Iterable[int], design: StudyDesign | None = None,
              profiles: Sequence[TaskProfile] | None = None) -> pd.DataFrame:
    """Records (one row per finding per seed) of the study over ``seeds``."""
    from threadpoolctl import threadpool_limits

    design = design or StudyDesign()
    profiles = list(profiles) if profiles is not None else default_task_profiles()
    rows: list[dict[str, Any]] = []
    with threadpool_limits(limits=1, user_api="blas"):
        for seed in seeds:
            rng = np.random.default_rng([20251207, seed])
            for prof in profiles:
                rows += [{**r, "seed": seed} for r in _task_seed(prof, design, rng)]
            rows += [{**r, "seed": seed} for r in _end_seed(design, rng)]
    return pd.DataFrame(rows)


def run_end_study(seeds: Iterable[int], design: StudyDesign | None = None) -> pd.DataFrame:
    """Records of the end-conversation families alone, for comparing designs cheaply (e.g.
    the default probe's 6 scenarios × 1 conversation per category against 3 × 2)."""
    design = design or StudyDesign()
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        rng = np.random.default_rng([20251207, seed])
        rows += [{**r, "seed": seed} for r in _end_seed(design, rng)]
    return pd.DataFrame(rows)


def calibration_table(records: pd.DataFrame, by: Sequence[str] = ("family",)) -> pd.DataFrame:
    """Coverage per family with a Monte Carlo 95% interval (seeds as the unit), bias, sd(z).

    Deterministic truths are left out: a rate family's finding whose truth is exactly 0 or 1.
    The MC interval is a t interval over the per-seed coverage shares (findings within a
    seed are dependent, seeds are independent).
    """
    df = records[records["ci_low"].notna()].copy() if "ci_low" in records else records.iloc[:0]
    rate = df["family"].str.startswith("ec.end_rate")
    df = df[~(rate & df["truth"].isin([0.0, 1.0]))]
    df["covered"] = (df["ci_low"] <= df["truth"]) & (df["truth"] <= df["ci_high"])
    se = (df["ci_high"] - df["ci_low"]) / (2 * _Z)
    df["z"] = np.where(se > 0, (df["estimate"] - df["truth"]) / se.where(se > 0), np.nan)
    rows = []
    for key, g in df.groupby(list(by), sort=True):
        per_seed = g.groupby("seed")["covered"].mean()
        m = float(per_seed.mean())
        half = (float(1.96 * per_seed.std(ddof=1) / np.sqrt(len(per_seed)))
                if len(per_seed) > 1 else float("nan"))
        key_t = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key_t, strict=True)), "findings": len(g),
                     "seeds": len(per_seed), "coverage": m, "mc_low": m - half,
                     "mc_high": m + half, "bias": float((g["estimate"] - g["truth"]).mean()),
                     "sd_z": float(g["z"].std(ddof=1)), "robust_sd_z": _robust_sd(g["z"])})
    return pd.DataFrame(rows)


def _robust_sd(z: pd.Series) -> float:
    """1.4826 × median absolute deviation: sd(z) for normal z, not ruled by a few near-
    degenerate intervals (a share whose posterior is almost certain has a half-width near 0,
    so one small error gives a huge z)."""
    v = z.dropna().to_numpy(dtype=float)
    if len(v) < 2:
        return float("nan")
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def slope_table(records: pd.DataFrame) -> pd.DataFrame:
    """Mean slope of estimated on true task scores, per profile and fit (± MC se)."""
    s = records[records["family"] == "tp.slope"]
    out = s.groupby(["profile", "finding"])["estimate"].agg(["mean", "std", "count"])
    out["mc_se"] = out["std"] / np.sqrt(out["count"])
    return out.reset_index().rename(columns={"finding": "fit", "mean": "slope"})
