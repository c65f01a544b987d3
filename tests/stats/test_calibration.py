"""Calibration at modest size: 95% intervals cover simulated truths about 95% of the time.

Tolerances are three binomial standard errors (benchmarks/calibration.py runs the full size).
"""

from __future__ import annotations

import numpy as np

from welfare.stats import bootstrap_ci, bradley_terry_fit, wilson_interval
from welfare.testing.simulate import simulate_bt


def three_se(k: int, p: float = 0.95) -> float:
    return 3 * np.sqrt(p * (1 - p) / k)


def test_bt_wald_intervals_cover_true_scores() -> None:
    rng = np.random.default_rng(20250801)
    per_item, contrast = [], []
    failed = 0
    items = list(range(20))
    for _ in range(200):
        df, truth = simulate_bt(rng, 20, 600)
        try:
            fit = bradley_terry_fit(df, items=items)
        except ValueError:  # an item never won or never lost: no finite MLE, skipped
            failed += 1
            continue
        t = fit.table
        per_item.append(np.mean((t["ci_low"] <= truth) & (truth <= t["ci_high"])))
        c = fit.group_difference(items[:10], items[10:])
        contrast.append(c.ci_low <= truth[:10].mean() - truth[10:].mean() <= c.ci_high)
    assert failed < 10
    cov = float(np.mean(per_item))
    se = float(np.std(per_item, ddof=1) / np.sqrt(len(per_item)))
    assert 0.93 <= cov <= 0.97
    assert abs(cov - 0.95) < 3 * se + 0.005
    assert abs(np.mean(contrast) - 0.95) < three_se(len(contrast))


def test_bt_firth_wald_intervals_cover_where_the_mle_often_fails() -> None:
    """24 comparisons per item: ML fails in ~10% of datasets and spreads scores ~12% outward."""
    rng = np.random.default_rng(20250802)
    per_item, slope = [], []
    items = list(range(20))
    for _ in range(200):
        df, truth = simulate_bt(rng, 20, 240)
        t = bradley_terry_fit(df, items=items, method="firth").table
        per_item.append(np.mean((t["ci_low"] <= truth) & (truth <= t["ci_high"])))
        slope.append(t["score"].to_numpy() @ truth / (truth @ truth))
    cov = float(np.mean(per_item))
    assert 0.93 <= cov <= 0.97
    se = float(np.std(slope, ddof=1) / np.sqrt(len(slope)))
    assert abs(np.mean(slope) - 1.0) < 3 * se + 0.01  # no outward spread left


def test_wilson_intervals_cover_true_shares() -> None:
    rng = np.random.default_rng(7)
    k = 4000
    p = rng.uniform(0.05, 0.95, k)
    x = rng.binomial(40, p)
    lo, hi = wilson_interval(x, np.full(k, 40))
    cov = np.mean((lo <= p) & (p <= hi))
    assert 0.93 <= cov <= 0.97
    assert abs(cov - 0.95) < three_se(k) + 0.01  # Wilson oscillates around nominal


def test_cluster_bootstrap_share_covers_population_rate() -> None:
    rng = np.random.default_rng(11)
    k, clusters, per = 100, 40, 10
    labels = np.repeat(np.arange(clusters), per)
    hits = 0
    for _ in range(k):
        rates = rng.beta(2, 6, clusters)  # population mean 0.25
        y = (rng.random(clusters * per) < np.repeat(rates, per)).astype(float)
        lo, hi = bootstrap_ci(y, np.mean, clusters=labels, n_resamples=300, seed=rng)
        hits += lo <= 0.25 <= hi
    assert abs(hits / k - 0.95) < three_se(k)
