"""Agreement statistics: against krippendorff and statsmodels on randomised inputs."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats import inter_rater

from welfare.stats import (
    cohen_kappa,
    cohen_kappa_ci,
    fleiss_kappa,
    krippendorff_alpha,
    krippendorff_alpha_ci,
    precision_recall_f1,
)

LEVELS = ["nominal", "ordinal", "interval", "ratio"]


def random_ratings(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raters = int(rng.integers(2, 7))
    units = int(rng.integers(2, 60))
    values = int(rng.integers(2, 7))
    latent = rng.integers(1, values + 1, units)
    noise = rng.random((raters, units)) < rng.uniform(0.05, 0.6)
    data = np.where(noise, rng.integers(1, values + 1, (raters, units)), latent).astype(float)
    data[rng.random(data.shape) < rng.uniform(0, 0.4)] = np.nan
    # keep at least one pairable unit with some variation
    data[:2, 0] = [1, 2]
    return data


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("level", LEVELS)
def test_alpha_matches_krippendorff_package(seed: int, level: str) -> None:
    data = random_ratings(seed)
    ours = krippendorff_alpha(data, level)
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert ours == pytest.approx(ref, abs=1e-10)


def test_alpha_non_integer_values_and_strings() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(size=(3, 40)).round(2)
    data[0, :10] = np.nan
    for level in ("interval", "ratio", "ordinal"):
        ref = krippendorff.alpha(reliability_data=np.abs(data), level_of_measurement=level)
        assert krippendorff_alpha(np.abs(data), level) == pytest.approx(ref, abs=1e-10)
    labels = np.array([["a", "b", None, "a"], ["a", "b", "b", None], ["a", "a", "b", "a"]])
    codes = np.array([[0, 1, np.nan, 0], [0, 1, 1, np.nan], [0, 0, 1, 0]])
    assert krippendorff_alpha(labels) == pytest.approx(krippendorff_alpha(codes))
    with pytest.raises(ValueError, match="numeric"):
        krippendorff_alpha(labels, "interval")
    frame = pd.DataFrame(codes)
    assert krippendorff_alpha(frame) == pytest.approx(krippendorff_alpha(codes))


def test_alpha_edge_cases() -> None:
    with pytest.raises(ValueError, match="empty"):
        krippendorff_alpha(np.empty((0, 0)))
    with pytest.raises(ValueError, match="empty"):
        krippendorff_alpha(np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="two or more"):
        krippendorff_alpha(np.array([[1, np.nan], [np.nan, 2.0]]))
    with pytest.raises(ValueError, match="2-D"):
        krippendorff_alpha(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(np.ones((2, 2)), "cardinal")  # type: ignore[arg-type]
    # all answers the same: no variation, alpha undefined -> NaN (documented)
    assert np.isnan(krippendorff_alpha(np.ones((3, 5))))
    # perfect agreement with variation -> exactly 1
    assert krippendorff_alpha(np.array([[1, 2, 3], [1, 2, 3.0]]), "interval") == 1.0


def test_alpha_ci_contains_estimate_and_narrows_with_more_units() -> None:
    rng = np.random.default_rng(2)

    def make(units: int) -> np.ndarray:
        latent = rng.integers(1, 5, units)
        return np.where(rng.random((3, units)) < 0.3, rng.integers(1, 5, (3, units)), latent)

    small = krippendorff_alpha_ci(make(30), "ordinal", n_resamples=400, seed=0)
    big = krippendorff_alpha_ci(make(600), "ordinal", n_resamples=400, seed=0)
    for e in (small, big):
        assert e.ci_low < e.estimate < e.ci_high
    assert (big.ci_high - big.ci_low) < 0.5 * (small.ci_high - small.ci_low)
    assert big.n == 600
    # the bootstrap SE matches the spread of alpha across independent replications
    reps = [krippendorff_alpha(make(150), "ordinal") for _ in range(150)]
    e = krippendorff_alpha_ci(make(150), "ordinal", n_resamples=600, seed=1)
    assert (e.ci_high - e.ci_low) / 3.92 == pytest.approx(np.std(reps), rel=0.3)


def kappa_table(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(a * k + b, minlength=k * k).reshape(k, k)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_statsmodels(seed: int, weights: str | None) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    n = int(rng.integers(3, 80))
    a = rng.integers(0, k, n)
    b = np.where(rng.random(n) < 0.6, a, rng.integers(0, k, n))
    a[0], b[0], a[1], b[1] = 0, 0, k - 1, k - 1  # every category present
    ref = inter_rater.cohens_kappa(kappa_table(a, b, k), wt=weights).kappa
    assert cohen_kappa(a, b, weights) == pytest.approx(ref, abs=1e-12)  # type: ignore[arg-type]


def test_cohen_kappa_missing_categories_and_edges() -> None:
    a = np.array(["lo", "hi", "mid", None, "lo", "mid"], dtype=object)
    b = np.array(["lo", "mid", "mid", "hi", None, "hi"], dtype=object)
    cats = ["lo", "mid", "hi"]
    # units 3 and 4 are dropped; category order given explicitly matters for weights
    ia = np.array([0, 2, 1, 1])
    ib = np.array([0, 1, 1, 2])
    ref = inter_rater.cohens_kappa(kappa_table(ia, ib, 3), wt="linear").kappa
    assert cohen_kappa(a, b, "linear", categories=cats) == pytest.approx(ref)
    with pytest.raises(ValueError, match="empty"):
        cohen_kappa([None], [1])
    with pytest.raises(ValueError, match="length"):
        cohen_kappa([1, 2], [1])
    with pytest.raises(ValueError, match="categories"):
        cohen_kappa([1, 2], [1, 3], categories=[1, 2])
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")  # type: ignore[arg-type]
    assert np.isnan(cohen_kappa(["x"] * 5, ["x"] * 5))  # all the same: undefined


def test_cohen_kappa_ci_matches_asymptotic_se() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 3, 400)
    b = np.where(rng.random(400) < 0.7, a, rng.integers(0, 3, 400))
    est = cohen_kappa_ci(a, b, n_resamples=3000, seed=0)
    ref = inter_rater.cohens_kappa(kappa_table(a, b, 3))
    assert est.estimate == pytest.approx(ref.kappa)
    assert est.ci_low == pytest.approx(ref.kappa_low, abs=0.02)
    assert est.ci_high == pytest.approx(ref.kappa_upp, abs=0.02)


@pytest.mark.parametrize("seed", range(15))
def test_fleiss_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    subjects, cats = int(rng.integers(1, 30)), int(rng.integers(2, 6))
    raters = int(rng.integers(2, 9))
    counts = rng.multinomial(raters, rng.dirichlet(np.ones(cats)), size=subjects)
    ref = inter_rater.fleiss_kappa(counts)
    ours = fleiss_kappa(counts)
    if np.isnan(ref):
        assert np.isnan(ours)
    else:
        assert ours == pytest.approx(ref, abs=1e-12)


def test_fleiss_edges() -> None:
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[1, 2], [2, 2]])
    with pytest.raises(ValueError, match="at least 2"):
        fleiss_kappa([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="non-empty"):
        fleiss_kappa(np.empty((0, 3)))
    assert np.isnan(fleiss_kappa([[3, 0], [3, 0]]))  # everyone picked one category
    assert fleiss_kappa([[3, 0], [0, 3]]) == pytest.approx(1.0)


def test_precision_recall_f1_values_and_intervals() -> None:
    gold = np.array([1] * 30 + [0] * 70)
    pred = np.array([1] * 24 + [0] * 6 + [1] * 8 + [0] * 62)
    out = precision_recall_f1(pred, gold, positive=1, seed=0)
    assert out.loc["precision", "estimate"] == pytest.approx(24 / 32)
    assert out.loc["recall", "estimate"] == pytest.approx(24 / 30)
    assert out.loc["f1", "estimate"] == pytest.approx(2 * 24 / (2 * 24 + 8 + 6))
    assert out.loc["precision", "n"] == 32 and out.loc["recall", "n"] == 30
    for m in out.index:
        assert out.loc[m, "ci_low"] < out.loc[m, "estimate"] < out.loc[m, "ci_high"]
    # no predicted positives: precision undefined -> NaN, n = 0
    none = precision_recall_f1(np.zeros(10), np.r_[np.ones(3), np.zeros(7)], positive=1)
    assert np.isnan(none.loc["precision", "estimate"]) and none.loc["precision", "n"] == 0
    assert none.loc["recall", "estimate"] == 0.0
    with pytest.raises(ValueError, match="empty"):
        precision_recall_f1([], [])


# -- cluster bootstrap of agreement ------------------------------------------------------------


def clustered_pairs(n_clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two coders' labels (3 categories) on turns nested in conversations of varying length."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, n_clusters)
    clusters = np.repeat([f"conv-{c}" for c in rng.permutation(n_clusters)], sizes)
    a = rng.integers(0, 3, len(clusters))
    b = np.where(rng.random(len(clusters)) < 0.7, a, rng.integers(0, 3, len(clusters)))
    return a, b, clusters


@pytest.mark.parametrize("weights", [None, "quadratic"])
def test_cohen_kappa_cluster_bootstrap_equals_a_loop_over_resampled_clusters(
    weights: str | None,
) -> None:
    a, b, clusters = clustered_pairs(40, 1)
    est = cohen_kappa_ci(a, b, weights, clusters=clusters, n_resamples=300, seed=7)  # type: ignore[arg-type]
    # reference: draw clusters the same way, gather their turns, call cohen_kappa on each
    labels = pd.unique(clusters)
    members = [np.flatnonzero(clusters == c) for c in labels]
    draws = np.random.default_rng(7).integers(0, len(labels), (300, len(labels)))
    reps = [cohen_kappa(a[idx], b[idx], weights, categories=[0, 1, 2])  # type: ignore[arg-type]
            for idx in (np.concatenate([members[c] for c in row]) for row in draws)]
    lo, hi = np.quantile(reps, [0.025, 0.975])
    assert (est.ci_low, est.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    assert est.estimate == pytest.approx(cohen_kappa(a, b, weights))  # type: ignore[arg-type]
    assert est.n == 40 and "40 clusters" in est.method


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_cluster_bootstrap_equals_a_loop_over_resampled_clusters(level: str) -> None:
    rng = np.random.default_rng(3)
    a, b, clusters = clustered_pairs(30, 2)
    data = np.vstack([a, b, np.where(rng.random(len(a)) < 0.5, a, np.nan)]).astype(float)
    data[0, :3] = np.nan  # unit 0 has one rating left: not pairable, its cluster may vanish
    data[2, :3] = np.nan
    est = krippendorff_alpha_ci(data, level, clusters=clusters, n_resamples=200, seed=5)  # type: ignore[arg-type]
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    labels = pd.unique(clusters[pairable])
    members = [np.flatnonzero((clusters == c) & pairable) for c in labels]
    draws = np.random.default_rng(5).integers(0, len(labels), (200, len(labels)))
    reps = [krippendorff_alpha(data[:, np.concatenate([members[c] for c in row])], level)  # type: ignore[arg-type]
            for row in draws]
    lo, hi = np.quantile(reps, [0.025, 0.975])
    assert (est.ci_low, est.ci_high) == pytest.approx((lo, hi), abs=1e-10)
    assert est.estimate == pytest.approx(krippendorff_alpha(data, level))  # type: ignore[arg-type]
    assert est.n == len(labels)


def test_cluster_bootstrap_counts_duplicated_turns_once() -> None:
    """Ten copies of each unit in one cluster carry one unit's information, not ten."""
    rng = np.random.default_rng(9)
    a = rng.integers(0, 2, 150)
    b = np.where(rng.random(150) < 0.8, a, 1 - a)
    base_k = cohen_kappa_ci(a, b, n_resamples=2000, seed=0)
    base_a = krippendorff_alpha_ci(np.vstack([a, b]), n_resamples=2000, seed=0)
    rep = np.repeat(np.arange(150), 10)
    naive = cohen_kappa_ci(a[rep], b[rep], n_resamples=2000, seed=0)
    clus_k = cohen_kappa_ci(a[rep], b[rep], clusters=rep, n_resamples=2000, seed=0)
    clus_a = krippendorff_alpha_ci(np.vstack([a, b])[:, rep], clusters=rep, n_resamples=2000,
                                   seed=0)
    width = lambda e: e.ci_high - e.ci_low  # noqa: E731
    assert width(naive) < 0.45 * width(base_k)  # ≈ 1/√10 when the copies are taken as units
    assert width(clus_k) == pytest.approx(width(base_k), rel=0.15)
    assert width(clus_a) == pytest.approx(width(base_a), rel=0.15)
    assert clus_k.n == 150 and naive.n == 1500


def test_cluster_bootstrap_edges() -> None:
    a, b, clusters = clustered_pairs(10, 4)
    with pytest.raises(ValueError, match="labels for"):
        cohen_kappa_ci(a, b, clusters=clusters[:-1])
    with pytest.raises(ValueError, match="labels for"):
        krippendorff_alpha_ci(np.vstack([a, b]), clusters=clusters[:-1])
    # no variation at all: the coefficient and its interval are undefined, nothing raises
    same = np.zeros(len(a))
    e = krippendorff_alpha_ci(np.vstack([same, same]), clusters=clusters, n_resamples=100)
    assert np.isnan(e.estimate) and np.isnan(e.ci_low) and np.isnan(e.ci_high)
    # one cluster: every resample is the data itself
    one = cohen_kappa_ci(a, b, clusters=np.zeros(len(a)), n_resamples=50, seed=0)
    assert one.ci_low == pytest.approx(one.estimate) and one.ci_high == pytest.approx(one.estimate)
