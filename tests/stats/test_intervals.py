"""Proportion intervals and the bootstrap: against statsmodels and scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from welfare.stats import (
    Estimate,
    bootstrap_ci,
    bootstrap_replicates,
    clopper_pearson,
    cluster_weights_ci,
    newcombe_difference,
    proportion,
    wilson_interval,
)


def random_counts(seed: int, size: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 60, size)
    x = rng.binomial(n, rng.random(size))
    x[:5] = 0
    x[5:10] = n[5:10]
    return x, n


@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_and_clopper_pearson_match_statsmodels_vectorised(confidence: float) -> None:
    x, n = random_counts(int(confidence * 100))
    lo, hi = wilson_interval(x, n, confidence)
    rlo, rhi = proportion_confint(x, n, alpha=1 - confidence, method="wilson")
    np.testing.assert_allclose(lo, rlo, atol=1e-12)
    np.testing.assert_allclose(hi, rhi, atol=1e-12)
    lo, hi = clopper_pearson(x, n, confidence)
    rlo, rhi = proportion_confint(x, n, alpha=1 - confidence, method="beta")
    np.testing.assert_allclose(lo, rlo, atol=1e-10)
    np.testing.assert_allclose(hi, rhi, atol=1e-10)


def test_scalar_in_float_out_and_edge_cases() -> None:
    lo, hi = wilson_interval(0, 10)
    assert isinstance(lo, float) and lo == 0.0 and 0.2 < hi < 0.35
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo < 1.0
    lo, hi = wilson_interval(1, 1)  # one trial: wide but valid
    assert 0.1 < lo < 0.3 and hi == 1.0
    for bad in [(0, 0), (3, 2), (-1, 5)]:
        with pytest.raises(ValueError):
            wilson_interval(*bad)
    with pytest.raises(ValueError, match="empty"):
        wilson_interval([], [])
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 2, confidence=95)


def test_proportion_estimate_shape() -> None:
    est = proportion(87, 100)
    assert isinstance(est, Estimate)
    assert est.as_dict() == {"estimate": 0.87, "ci": [est.ci_low, est.ci_high], "n": 100}
    assert est.ci_low == pytest.approx(wilson_interval(87, 100)[0])
    cp = proportion(87, 100, method="clopper-pearson")
    assert cp.ci_high - cp.ci_low > est.ci_high - est.ci_low
    with pytest.raises(ValueError):
        proportion(1, 2, method="wald")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(3))
def test_newcombe_matches_statsmodels(seed: int) -> None:
    x1, n1 = random_counts(seed, 30)
    x2, n2 = random_counts(seed + 10, 30)
    for a, b, c, d in zip(x1, n1, x2, n2, strict=True):
        est = newcombe_difference(int(a), int(b), int(c), int(d))
        lo, hi = confint_proportions_2indep(a, b, c, d, method="newcomb", compare="diff")
        assert est.ci_low == pytest.approx(lo, abs=1e-12)
        assert est.ci_high == pytest.approx(hi, abs=1e-12)
        assert est.ci_low <= est.estimate <= est.ci_high


def test_bootstrap_ci_agrees_with_scipy_bootstrap() -> None:
    rng = np.random.default_rng(0)
    x = rng.exponential(size=60)
    for method in ("percentile", "basic", "bca"):
        ours = bootstrap_ci(x, np.mean, n_resamples=4000, method=method, seed=1)
        ref = stats.bootstrap(
            (x,),
            np.mean,
            n_resamples=4000,
            method=method if method != "bca" else "BCa",
            random_state=np.random.default_rng(2),
        ).confidence_interval
        assert ours[0] == pytest.approx(ref.low, abs=0.04)
        assert ours[1] == pytest.approx(ref.high, abs=0.04)


def test_cluster_bootstrap_widens_for_clustered_data_and_handles_dataframes() -> None:
    rng = np.random.default_rng(3)
    n_cl, per = 30, 20
    effect = np.repeat(rng.normal(0, 1, n_cl), per)
    y = effect + rng.normal(0, 0.2, n_cl * per)
    cl = np.repeat(np.arange(n_cl), per)
    naive = bootstrap_ci(y, np.mean, method="percentile", seed=0)
    clustered = bootstrap_ci(y, np.mean, clusters=cl, method="percentile", seed=0)
    assert (clustered[1] - clustered[0]) > 3 * (naive[1] - naive[0])
    # with cluster means known, the cluster bootstrap SE ≈ SD(cluster means)/sqrt(n_cl)
    reps = bootstrap_replicates(y, np.mean, clusters=cl, n_resamples=2000, seed=1)
    means = y.reshape(n_cl, per).mean(axis=1)
    assert reps.std() == pytest.approx(means.std(ddof=0) / np.sqrt(n_cl), rel=0.1)
    frame = pd.DataFrame({"y": y, "c": cl})
    bca = bootstrap_ci(frame, lambda d: d["y"].mean(), clusters=frame["c"], seed=0)
    assert bca[0] < y.mean() < bca[1]


def test_cluster_weights_ci_equals_the_cluster_bootstrap_of_rows() -> None:
    """The weights form (one matrix product per block) gives the interval that resampling
    whole clusters of rows gives, for a mean of unequal-sized cluster means."""
    rng = np.random.default_rng(8)
    sizes = rng.integers(2, 9, 25)
    labels = np.repeat(np.arange(25), sizes)
    y = np.repeat(rng.normal(0, 1, 25), sizes) + rng.normal(0, 0.5, len(labels))
    cluster_mean = np.bincount(labels, y) / sizes

    def rows_stat(v: np.ndarray) -> float:  # the same statistic on resampled rows:
        return float(np.sum(v[:, 0] * v[:, 1]) / np.sum(v[:, 1]))  # rows weighted 1/size

    data = np.column_stack([y, 1.0 / sizes[labels]])
    for method in ("percentile", "bca"):
        est = cluster_weights_ci(lambda w: w @ cluster_mean / w.sum(axis=1), 25,
                                 n_resamples=6000, seed=1, method=method)
        ref = bootstrap_ci(data, rows_stat, clusters=labels, n_resamples=6000, seed=2,
                           method=method)
        assert est.estimate == pytest.approx(cluster_mean.mean(), abs=1e-12)
        assert est.n == 25 and "25 clusters" in est.method
        half = (ref[1] - ref[0]) / 2
        assert abs(est.ci_low - ref[0]) < 0.06 * half and abs(est.ci_high - ref[1]) < 0.06 * half
    # SE of a mean of cluster means: SD(cluster means)/sqrt(k), up to MC error
    pct = cluster_weights_ci(lambda w: w @ cluster_mean / w.sum(axis=1), 25, method="percentile",
                             n_resamples=6000, seed=3)
    assert (pct.ci_high - pct.ci_low) / (2 * 1.96) == pytest.approx(
        cluster_mean.std(ddof=0) / 5, rel=0.08)


def test_cluster_weights_ci_edge_cases() -> None:
    with pytest.raises(ValueError, match="2 clusters"):
        cluster_weights_ci(lambda w: w[:, 0], 1)
    with pytest.raises(ValueError, match="method"):
        cluster_weights_ci(lambda w: w[:, 0], 3, method="basic")  # type: ignore[arg-type]
    # nothing measurable in most resamples (NaN unless cluster 0 is drawn twice): NaN interval
    est = cluster_weights_ci(lambda w: np.where(w[:, 0] > 1, 1.0, np.nan), 10, seed=0)
    assert np.isnan(est.ci_low) and np.isnan(est.ci_high)


def test_bootstrap_edge_cases() -> None:
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci(np.array([]), np.mean)
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_ci(np.array([1.0]), np.mean)
    with pytest.raises(ValueError, match="2 clusters"):
        bootstrap_ci(np.arange(5.0), np.mean, clusters=[1] * 5)
    with pytest.raises(ValueError, match="labels"):
        bootstrap_ci(np.arange(5.0), np.mean, clusters=[1, 2])
    # all values the same: a documented degenerate interval at that value
    lo, hi = bootstrap_ci(np.ones(10), np.mean, clusters=np.arange(10), method="percentile")
    assert lo == hi == 1.0


# -- vectorised statistics: many intervals from one set of resamples --------------------------


@pytest.mark.parametrize("method", ["bca", "percentile", "basic"])
def test_vectorized_bootstrap_equals_one_call_per_column(method: str) -> None:
    rng = np.random.default_rng(12)
    counts = rng.poisson([0.3, 1.0, 4.0, 9.0], (40, 4)).astype(float)
    lo, hi = bootstrap_ci(counts, np.mean, vectorized=True, n_resamples=999, seed=3,
                          method=method)  # type: ignore[arg-type]
    assert lo.shape == hi.shape == (4,)
    for j in range(4):
        # the same seed draws the same rows, so each column's interval is reproduced exactly
        one = bootstrap_ci(counts[:, j], np.mean, n_resamples=999, seed=3,
                           method=method)  # type: ignore[arg-type]
        assert (lo[j], hi[j]) == pytest.approx(one, abs=1e-12)
        assert lo[j] < counts[:, j].mean() < hi[j]
    # a 1-D sample with a vectorised statistic gives plain floats
    lo1, hi1 = bootstrap_ci(counts[:, 2], np.mean, vectorized=True, n_resamples=999, seed=3,
                            method=method)  # type: ignore[arg-type]
    assert isinstance(lo1, float) and (lo1, hi1) == pytest.approx((lo[2], hi[2]), abs=1e-12)


@pytest.mark.parametrize("method", ["bca", "percentile"])
def test_vectorized_cluster_bootstrap_equals_one_call_per_column(method: str) -> None:
    rng = np.random.default_rng(5)
    clusters = np.repeat(np.arange(25), rng.integers(1, 6, 25))
    x = rng.normal(size=(len(clusters), 3)) + rng.normal(size=(25, 3))[clusters]
    lo, hi = bootstrap_ci(x, np.mean, clusters=clusters, vectorized=True, n_resamples=400,
                          seed=8, method=method)  # type: ignore[arg-type]
    for j in range(3):
        one = bootstrap_ci(x[:, j], np.mean, clusters=clusters, n_resamples=400, seed=8,
                           method=method)  # type: ignore[arg-type]
        assert (lo[j], hi[j]) == pytest.approx(one, abs=1e-12)


def test_vectorized_replicates_are_the_statistic_of_resampled_rows() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 2))
    reps = bootstrap_replicates(x, np.mean, n_resamples=50, seed=4, vectorized=True)
    idx = np.random.default_rng(4).integers(0, 30, (50, 30))
    np.testing.assert_allclose(reps, x[idx].mean(axis=1), atol=1e-14)
    assert reps.shape == (50, 2)
    # the spread of the replicates is the standard error of the mean
    big = bootstrap_replicates(x, np.mean, n_resamples=4000, seed=1, vectorized=True)
    np.testing.assert_allclose(big.std(axis=0), x.std(axis=0) / np.sqrt(30), rtol=0.1)
