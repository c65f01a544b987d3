"""Effects and tests: against scipy and statsmodels, with ties, missing data and tiny samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from welfare.stats import (
    benjamini_hochberg,
    cohen_d,
    kendall,
    mean_ci,
    mean_difference,
    spearman,
    welch_t,
)


def test_mean_ci_matches_scipy_t_interval() -> None:
    x = np.array([2.0, 3.5, 1.0, np.nan, 4.0, 2.5])
    est = mean_ci(x)
    clean = x[~np.isnan(x)]
    lo, hi = stats.t.interval(0.95, len(clean) - 1, clean.mean(), stats.sem(clean))
    assert (est.estimate, est.ci_low, est.ci_high, est.n) == pytest.approx(
        (clean.mean(), lo, hi, 5)
    )
    with pytest.raises(ValueError, match="at least 2"):
        mean_ci([1.0, np.nan])


@pytest.mark.parametrize("seed", range(5))
def test_welch_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, int(rng.integers(2, 30)))
    y = rng.normal(0.5, 3, int(rng.integers(2, 30)))
    r = welch_t(x, y)
    ref = stats.ttest_ind(x, y, equal_var=False)
    assert (r.statistic, r.df, r.p_value) == pytest.approx((ref.statistic, ref.df, ref.pvalue))
    ci = ref.confidence_interval()
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high))
    d = mean_difference(x, y)
    assert d.estimate == pytest.approx(x.mean() - y.mean())
    assert d.p_value == pytest.approx(ref.pvalue)
    with pytest.raises(ValueError, match="constant"):
        welch_t([1, 1, 1], [2, 2])


def test_cohen_d_value_and_noncentral_t_interval() -> None:
    x = np.array([5.1, 4.8, 6.0, 5.5, 5.9, 6.2, 4.9])
    y = np.array([4.0, 4.4, 5.1, 3.9, 4.6])
    est = cohen_d(x, y)
    ss = (len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1)
    sp = np.sqrt(ss / (len(x) + len(y) - 2))
    assert est.estimate == pytest.approx((x.mean() - y.mean()) / sp)
    k = np.sqrt(1 / len(x) + 1 / len(y))
    df = len(x) + len(y) - 2
    t_obs = est.estimate / k
    # the limits are the noncentrality values that put t_obs at the 97.5% / 2.5% points
    assert stats.nct.cdf(t_obs, df, est.ci_low / k) == pytest.approx(0.975, abs=1e-9)
    assert stats.nct.cdf(t_obs, df, est.ci_high / k) == pytest.approx(0.025, abs=1e-9)
    # large samples: agrees with the Hedges–Olkin normal approximation
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 1, 800), rng.normal(0, 1, 700)
    big = cohen_d(a, b)
    se = np.sqrt((1500) / (800 * 700) + big.estimate**2 / (2 * 1500))
    assert big.ci_low == pytest.approx(big.estimate - 1.96 * se, abs=0.005)
    assert big.ci_high == pytest.approx(big.estimate + 1.96 * se, abs=0.005)
    with pytest.raises(ValueError, match="constant"):
        cohen_d([1, 1], [1, 1])
    with pytest.raises(ValueError, match="at least 2"):
        cohen_d([1], [1, 2])


def test_cohen_d_interval_coverage_small_samples() -> None:
    rng = np.random.default_rng(7)
    hits = 0
    reps = 300
    for _ in range(reps):
        e = cohen_d(rng.normal(0.8, 1, 8), rng.normal(0, 1, 10))
        hits += e.ci_low <= 0.8 <= e.ci_high
    assert abs(hits / reps - 0.95) < 3 * np.sqrt(0.95 * 0.05 / reps)


@pytest.mark.parametrize("seed", range(6))
def test_spearman_kendall_match_scipy_with_ties_and_missing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 40))
    x = rng.integers(0, 5, n).astype(float)
    y = x + rng.integers(0, 4, n)
    x[0] = np.nan
    keep = ~np.isnan(x)
    s, k = spearman(x, y), kendall(x, y)
    ref_s = stats.spearmanr(x[keep], y[keep])
    ref_k = stats.kendalltau(x[keep], y[keep])  # tau-b
    assert s.estimate == pytest.approx(ref_s.statistic) and s.p_value == pytest.approx(ref_s.pvalue)
    assert k.estimate == pytest.approx(ref_k.statistic) and k.p_value == pytest.approx(ref_k.pvalue)
    m = keep.sum()
    z = stats.norm.ppf(0.975)
    r = s.estimate
    h = z * np.sqrt((1 + r * r / 2) / (m - 3))
    expected = (np.tanh(np.arctanh(r) - h), np.tanh(np.arctanh(r) + h))
    assert (s.ci_low, s.ci_high) == pytest.approx(expected)
    t = k.estimate
    h = z * np.sqrt(0.437 / (m - 4))
    expected = (np.tanh(np.arctanh(t) - h), np.tanh(np.arctanh(t) + h))
    assert (k.ci_low, k.ci_high) == pytest.approx(expected)
    assert s.n == k.n == m


def test_correlation_edges() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        spearman([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 5"):
        kendall([1, 2, 3, 4], [1, 3, 2, 4])
    with pytest.raises(ValueError, match="constant"):
        spearman([1, 1, 1, 1, 1], [1, 2, 3, 4, 5])
    perfect = spearman([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert perfect.estimate == pytest.approx(1.0) and perfect.ci_high == pytest.approx(1.0)


def test_spearman_interval_coverage() -> None:
    rng = np.random.default_rng(3)
    cov = [[1, 0.5], [0.5, 1]]
    rho_true = 6 / np.pi * np.arcsin(0.5 / 2)
    reps, hits = 300, 0
    for _ in range(reps):
        xy = rng.multivariate_normal([0, 0], cov, 40)
        e = spearman(xy[:, 0], xy[:, 1])
        hits += e.ci_low <= rho_true <= e.ci_high
    assert abs(hits / reps - 0.95) < 3 * np.sqrt(0.95 * 0.05 / reps)


@pytest.mark.parametrize("seed", range(6))
def test_bh_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.beta(0.5, 2, int(rng.integers(1, 50)))
    p[: len(p) // 4] = p[0]  # ties
    ref = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(benjamini_hochberg(p), ref, atol=1e-14)


def test_bh_nan_series_and_edges() -> None:
    s = pd.Series([0.01, np.nan, 0.04, 0.03], index=list("abcd"), name="p")
    out = benjamini_hochberg(s)
    assert isinstance(out, pd.Series) and list(out.index) == list("abcd")
    ref = multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1]
    np.testing.assert_allclose(out.dropna().to_numpy(), ref)
    assert np.isnan(out["b"])
    with pytest.raises(ValueError, match="empty"):
        benjamini_hochberg([])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg([0.5, 1.5])
