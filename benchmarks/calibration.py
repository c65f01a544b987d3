"""Coverage of welfare.stats 95% intervals by simulation, at full size.

Run: ``python benchmarks/calibration.py [--datasets 1000] [--seed 0] [--study-seeds 200]``.
Prints, for each kind of interval, the share of simulated datasets whose interval covered the
known truth, with a binomial standard error. Target: 93–97% for nominal 95%.

``--study-seeds N`` (default 200; 0 skips): the calibration study of the probes' inference
(:mod:`welfare.testing.calibration`): N seeds of a reduced design with fresh item and scenario
random effects, over the harm-averse, position-biased and null subjects; coverage per finding
family with a Monte Carlo interval (seeds as the unit), bias and sd(z), beside the methods they
replace. ``--study-only`` runs just that. It ends with the end-conversation families under the
probe's own designs (3 scenarios × 2 vs 6 × 1 per category, and the pooled 30 × 1).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from welfare.stats import bootstrap_ci, bradley_terry_fit, bt_bootstrap, wilson_interval
from welfare.testing.simulate import simulate_bt


def bt_coverage(
    n_datasets: int, n_items: int, n_comp: int, seed: int, method: str = "ml"
) -> dict[str, float]:
    """Coverage of Wald intervals: per-item scores, an anchored score and a group contrast.

    Also the mean slope of estimated on true scores (1 = no outward or inward bias).
    """
    rng = np.random.default_rng(seed)
    items_cov, anchored, contrast, slope, failed = [], [], [], [], 0
    group_a, group_b = list(range(0, n_items // 2)), list(range(n_items // 2, n_items))
    for _ in range(n_datasets):
        df, truth = simulate_bt(rng, n_items, n_comp)
        try:
            fit = bradley_terry_fit(df, items=list(range(n_items)), method=method)  # type: ignore[arg-type]
        except ValueError:
            failed += 1
            continue
        t = fit.table
        items_cov.append(np.mean((t["ci_low"] <= truth) & (truth <= t["ci_high"])))
        slope.append(float(t["score"].to_numpy() @ truth / (truth @ truth)))
        anch = bradley_terry_fit(
            df, anchor=0, items=list(range(n_items)), method=method  # type: ignore[arg-type]
        ).table.iloc[1]
        true1 = truth[1] - truth[0]
        anchored.append(anch["ci_low"] <= true1 <= anch["ci_high"])
        c = fit.group_difference(group_a, group_b)
        true_c = truth[group_a].mean() - truth[group_b].mean()
        contrast.append(c.ci_low <= true_c <= c.ci_high)
    return {
        "bt_item_scores": float(np.mean(items_cov)),
        "bt_item_scores_se": float(np.std(items_cov, ddof=1) / np.sqrt(len(items_cov))),
        "bt_anchored_score": float(np.mean(anchored)),
        "bt_group_contrast": float(np.mean(contrast)),
        "slope": float(np.mean(slope)),
        "slope_se": float(np.std(slope, ddof=1) / np.sqrt(len(slope))),
        "datasets": len(items_cov),
        "failed": failed,
    }


def bt_bootstrap_coverage(
    n_datasets: int, n_items: int, n_comp: int, n_resamples: int, seed: int
) -> float:
    """Coverage of percentile-bootstrap intervals for BT scores (resampling comparisons)."""
    rng = np.random.default_rng(seed)
    cov = []
    for _ in range(n_datasets):
        df, truth = simulate_bt(rng, n_items, n_comp)
        try:
            b = bt_bootstrap(df, n_resamples=n_resamples, items=list(range(n_items)), seed=rng)
        except ValueError:
            continue
        t = b.table
        cov.append(np.mean((t["ci_low"] <= truth) & (truth <= t["ci_high"])))
    return float(np.mean(cov))


def task_preference_design() -> tuple[pd.DataFrame, np.ndarray, pd.Series]:
    """The default task-preference design: items, pairs (each shown AB and BA), true utilities.

    Utilities are the harm-averse simulated subject's, relative to the mean opt-out utility.
    """
    from welfare.config import load_config
    from welfare.probes.task_preference import TaskPreferenceProbe, balanced_pairs
    from welfare.simulated import get_profile

    config = load_config()
    options = config.probes["task_preference"]
    probe = TaskPreferenceProbe()
    tasks = probe.items(config, options)
    k = options.comparisons_per_task
    more = 3 * k if options.anchor_comparisons is None else options.anchor_comparisons
    extra = {i: more for i, t in enumerate(tasks) if t.kind != "task"}
    pairs = np.array(balanced_pairs(len(tasks), k, probe._seed(config, options, "pairs"),
                                    extra=extra))
    items = pd.DataFrame([t.features() for t in tasks]).set_index("id")
    truth = get_profile("harm-averse").task_preference.true_utilities(tasks)
    truth = truth - truth[items.index[items["kind"] == "opt_out"]].mean()
    return items, pairs, truth


def task_preference_bias(n_datasets: int, seed: int) -> pd.DataFrame:
    """Bias and Wald coverage of BT scores on the default task-preference design, per method.

    Clean BT choices (no position bias, no invalid answers) from the harm-averse utilities, every
    pair in both orders; scores anchored at the opt-out mean as the probe reports them. Rows:
    method × measure (mean score of each impact class, all item scores); columns: mean
    estimate − truth (bias) with its Monte-Carlo SE, coverage of the 95% Wald interval, and the
    sd of estimated scores over the sd of true scores.
    """
    items, pairs, truth = task_preference_design()
    ids = items.index.to_numpy()
    opt_out = list(ids[items["kind"] == "opt_out"])
    u = truth.reindex(ids).to_numpy()
    i, j = np.repeat(pairs[:, 0], 2), np.repeat(pairs[:, 1], 2)
    p_win = 1.0 / (1.0 + np.exp(-(u[i] - u[j])))
    classes = {c: list(ids[(items["kind"] == "task") & (items["impact"] == c)])
               for c in ("positive", "neutral", "ambiguous", "harmful")}
    methods = {"ml": {"method": "ml"}, "ml ridge 0.05": {"regularization": 0.05},
               "firth": {"method": "firth"}}
    rng = np.random.default_rng(seed)
    rec: dict[tuple[str, str], list[tuple[float, bool]]] = {}
    spread: dict[str, list[float]] = {m: [] for m in methods}
    failed = dict.fromkeys(methods, 0)
    true_sd = float(np.std(u))
    for _ in range(n_datasets):
        win = rng.random(len(i)) < p_win
        df = pd.DataFrame({"winner": ids[np.where(win, i, j)], "loser": ids[np.where(win, j, i)]})
        for name, kw in methods.items():
            try:
                fit = bradley_terry_fit(df, opt_out, items=list(ids), **kw)
            except ValueError:
                failed[name] += 1
                continue
            t = fit.table.reindex(ids)
            spread[name].append(float(np.std(t["score"])) / true_sd)
            for c, members in classes.items():
                e = fit.contrast({m: 1.0 / len(members) for m in members})
                tc = float(truth[members].mean())
                rec.setdefault((name, f"mean_score.{c}"), []).append(
                    (e.estimate - tc, e.ci_low <= tc <= e.ci_high))
            covered = (t["ci_low"] <= u) & (u <= t["ci_high"])
            rec.setdefault((name, "item scores"), []).append(
                (float(np.mean(t["score"] - u)), float(covered[t["se"] > 0].mean())))
    rows = []
    for (name, measure), vals in rec.items():
        bias = np.array([v[0] for v in vals])
        cov = np.array([float(v[1]) for v in vals])
        rows.append({"method": name, "measure": measure, "bias": bias.mean(),
                     "bias_se": bias.std(ddof=1) / np.sqrt(len(bias)), "coverage": cov.mean(),
                     "sd_ratio": float(np.mean(spread[name])), "datasets": len(vals),
                     "failed": failed[name]})
    return pd.DataFrame(rows)


def wilson_coverage(n_datasets: int, n: int, seed: int) -> float:
    """Coverage of the Wilson interval for a share, true p drawn uniformly from [0.05, 0.95]."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n_datasets)
    x = rng.binomial(n, p)
    lo, hi = wilson_interval(x, np.full(n_datasets, n))
    return float(np.mean((lo <= p) & (p <= hi)))


def cluster_share_coverage(
    n_datasets: int, n_clusters: int, per_cluster: int, n_resamples: int, seed: int
) -> float:
    """Coverage of the cluster-bootstrap (BCa, the default) interval for a share of trials.

    Each cluster has its own rate ~ Beta(2, 6) (mean 0.25); the truth is the population mean.
    """
    rng = np.random.default_rng(seed)
    hits = 0
    labels = np.repeat(np.arange(n_clusters), per_cluster)
    for _ in range(n_datasets):
        rates = rng.beta(2, 6, n_clusters)
        y = (rng.random(n_clusters * per_cluster) < np.repeat(rates, per_cluster)).astype(float)
        lo, hi = bootstrap_ci(y, np.mean, clusters=labels, n_resamples=n_resamples, seed=rng)
        hits += lo <= 0.25 <= hi
    return hits / n_datasets


def study(seeds: int) -> None:
    """Print the calibration study's tables (per family, per family × profile, slopes)."""
    from welfare.testing.calibration import calibration_table, run_study, slope_table

    t0 = time.perf_counter()
    rec = run_study(range(seeds))
    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False}
    print(f"\nCalibration study: {seeds} seeds of the reduced design "
          f"({time.perf_counter() - t0:.0f} s). Coverage of 95% intervals with a Monte Carlo "
          "95% interval over seeds; bias = mean(estimate − truth); sd(z), z = (estimate − "
          "truth)/(half-width/1.96). Families ending in .counting/.independent are the "
          "replaced methods.")
    print(calibration_table(rec).to_string(**fmt))
    print("\nby profile:")
    print(calibration_table(rec, by=("family", "profile")).to_string(**fmt))
    shares = rec[rec["family"].str.startswith("tp.share")].copy()
    shares["side"] = shares["finding"].str.rsplit(".", n=1).str[-1]
    print("\nshares by side (bias of the share below / above):")
    print(calibration_table(shares, by=("family", "side")).to_string(**fmt))
    print("\nslope of estimated on true task scores (joint order term vs none):")
    print(slope_table(rec).to_string(**fmt))
    end_designs(seeds)


def end_designs(seeds: int) -> None:
    """End-conversation families under the probe's designs, same conversations per category:
    the old default (3 scenarios × 2), the new default (6 × 1), and the pooled harmful/abusive
    group of the new default (30 × 1); scenario random effects sd 1 (logit) throughout."""
    from welfare.testing.calibration import StudyDesign, calibration_table, run_end_study

    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False}
    for label, s, r in (("old default: 3 scenarios x 2", 3, 2),
                        ("new default: 6 scenarios x 1", 6, 1),
                        ("pooled harm/abuse of the new default: 30 scenarios x 1", 30, 1)):
        t0 = time.perf_counter()
        table = calibration_table(run_end_study(range(seeds), StudyDesign(scenarios=s,
                                                                          replicates=r)))
        print(f"\nend conversation, {label} ({seeds} seeds, "
              f"{time.perf_counter() - t0:.0f} s):")
        print(table.to_string(**fmt))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tp-datasets", type=int, default=1000,
                    help="datasets for the task-preference design table (0 = skip)")
    ap.add_argument("--study-seeds", type=int, default=200,
                    help="seeds of the calibration study of the probes' inference (0 = skip)")
    ap.add_argument("--study-only", action="store_true", help="run only the study")
    args = ap.parse_args()
    if args.study_only:
        study(args.study_seeds)
        return
    n = args.datasets
    rows = []
    slopes = []
    t0 = time.perf_counter()
    bt = bt_coverage(n, n_items=20, n_comp=600, seed=args.seed)
    rows.append(("BT Wald, per-item score (20 items, 600 comps)", bt["bt_item_scores"], n * 20))
    rows.append(("BT Wald, score vs anchor item", bt["bt_anchored_score"], bt["datasets"]))
    rows.append(("BT Wald, mean(group A) - mean(group B)", bt["bt_group_contrast"], bt["datasets"]))
    for method, comps in (("ml", 240), ("firth", 240), ("firth", 600)):
        b = bt_coverage(n, n_items=20, n_comp=comps, seed=args.seed + 10, method=method)
        label = f"BT {method} Wald, per-item (20 items, {comps} comps; {b['failed']} no MLE)"
        rows.append((label, b["bt_item_scores"], b["datasets"] * 20))
        slopes.append((method, comps, b["slope"], b["slope_se"]))
    slopes.insert(0, ("ml", 600, bt["slope"], bt["slope_se"]))
    nb = max(50, n // 5)
    rows.append(
        (
            f"BT percentile bootstrap, per-item (10 items, 400 comps; {nb} sets)",
            bt_bootstrap_coverage(nb, 10, 400, 400, args.seed + 1),
            nb * 10,
        )
    )
    rows.append(("Wilson share, n = 50", wilson_coverage(n * 10, 50, args.seed + 2), n * 10))
    rows.append(("Wilson share, n = 15", wilson_coverage(n * 10, 15, args.seed + 3), n * 10))
    nc = max(100, n // 2)
    rows.append(
        (
            f"cluster-bootstrap BCa share, 40 convs x 10 turns ({nc} sets)",
            cluster_share_coverage(nc, 40, 10, 1000, args.seed + 4),
            nc,
        )
    )
    print(f"Coverage of nominal 95% intervals ({n} datasets per BT row; seed {args.seed})")
    print(f"{'interval':58s} {'coverage':>9s} {'±SE':>7s}")
    for name, cov, k in rows:
        se = np.sqrt(cov * (1 - cov) / k)
        print(f"{name:58s} {cov:9.3f} {se:7.3f}")
    print(f"BT datasets without a finite MLE (skipped): {bt['failed']}")
    print("slope of estimated on true BT scores (1 = unbiased spread; 20 items, N(0, 1)):")
    for method, comps, sl, sl_se in slopes:
        print(f"  {method:6s} {comps:4d} comparisons: {sl:.4f} ± {sl_se:.4f}")
    if args.tp_datasets:
        tp = task_preference_bias(args.tp_datasets, args.seed + 5)
        print(f"\nTask-preference default design, harm-averse utilities, clean BT choices "
              f"({args.tp_datasets} datasets): bias = mean(estimate − truth), coverage of the "
              "95% Wald interval, sd(estimated scores)/sd(true)")
        print(tp.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.study_seeds:
        study(args.study_seeds)
    print(f"elapsed {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
