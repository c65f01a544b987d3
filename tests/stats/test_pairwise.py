"""Bradley–Terry, Thurstone and Elo: against choix and statsmodels, and their edge cases."""

from __future__ import annotations

import choix
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, stats

from welfare.stats import (
    bradley_terry,
    bradley_terry_fit,
    bt_bootstrap,
    elo,
    pair_counts,
    thurstone_case_v,
    thurstonian_mle,
)


def simulate(
    n_items: int, n_comp: int, seed: int, spread: float = 1.0
) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, spread, n_items)
    i = rng.integers(0, n_items, n_comp)
    j = (i + rng.integers(1, n_items, n_comp)) % n_items
    win = rng.random(n_comp) < 1 / (1 + np.exp(-(theta[i] - theta[j])))
    df = pd.DataFrame({"winner": np.where(win, i, j), "loser": np.where(win, j, i)})
    return df, theta


def glm_reference(df: pd.DataFrame, items: list, anchor) -> tuple[np.ndarray, np.ndarray]:
    """Logistic GLM on pair counts with the anchor column dropped: params and SEs."""
    agg = pair_counts(df).reindex(index=items, columns=items)
    rows, succ, fail = [], [], []
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            if agg.iat[a, b] + agg.iat[b, a] > 0:
                x = np.zeros(len(items))
                x[a], x[b] = 1, -1
                rows.append(x)
                succ.append(agg.iat[a, b])
                fail.append(agg.iat[b, a])
    x = np.array(rows)
    keep = [k for k, it in enumerate(items) if it != anchor]
    res = sm.GLM(np.column_stack([succ, fail]), x[:, keep], family=sm.families.Binomial()).fit(
        tol=1e-13
    )
    params = np.zeros(len(items))
    ses = np.zeros(len(items))
    params[keep] = res.params
    ses[keep] = res.bse
    return params, ses


@pytest.mark.parametrize("seed", range(6))
def test_bt_matches_choix_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(3, 30))
    df, _ = simulate(n, int(rng.integers(20, 40)) * n, seed)
    fit = bradley_terry_fit(df)
    est = choix.opt_pairwise(n, list(zip(df.winner, df.loser, strict=True)), alpha=0.0, tol=1e-12)
    np.testing.assert_allclose(fit.scores.reindex(range(n)).to_numpy(), est - est.mean(), atol=1e-5)
    assert abs(fit.scores.mean()) < 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_bt_scores_and_ses_match_statsmodels_glm_with_counts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    df, _ = simulate(n, 60 * n, seed)
    # aggregate into count rows, as a probe would store them
    df = df.value_counts(["winner", "loser"]).rename("count").reset_index()
    anchor = int(rng.integers(0, n))
    table = bradley_terry(df, anchor=anchor)
    items = list(table.index)
    params, ses = glm_reference(df, items, anchor)
    np.testing.assert_allclose(table["score"].to_numpy(), params, atol=1e-7)
    np.testing.assert_allclose(table["se"].to_numpy(), ses, rtol=1e-6, atol=1e-9)
    assert table.loc[anchor, "se"] == 0.0
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(table["ci_high"] - table["score"], z * table["se"])


def test_bt_group_anchor_and_contrast_se_from_covariance() -> None:
    df, _ = simulate(8, 800, 7)
    group = [0, 3, 5]
    fit = bradley_terry_fit(df, anchor=group)
    assert fit.scores[group].mean() == pytest.approx(0.0, abs=1e-12)
    # reference: GLM anchored at item 0, then contrast via its covariance
    params, _ = glm_reference(df, list(range(8)), 0)
    w = np.full(8, 0.0)
    w[group] = 1 / 3
    np.testing.assert_allclose(fit.scores.to_numpy(), params - w @ params, atol=1e-7)
    # the SE of item 7 relative to the group mean equals the group_difference SE
    d = fit.group_difference([7], group)
    assert d.estimate == pytest.approx(fit.scores[7], abs=1e-10)
    assert (d.ci_high - d.ci_low) / 2 == pytest.approx(1.959963984540054 * fit.table.se[7])
    # covariance is anchor-consistent: Var(s7 − s1) is the same under any anchor
    free = bradley_terry_fit(df)
    v_a = fit.cov.loc[7, 7] + fit.cov.loc[1, 1] - 2 * fit.cov.loc[7, 1]
    v_b = free.cov.loc[7, 7] + free.cov.loc[1, 1] - 2 * free.cov.loc[7, 1]
    assert v_a == pytest.approx(v_b, rel=1e-9)


def test_bt_ties_count_half_a_win() -> None:
    base = pd.DataFrame({"winner": ["a", "b", "a", "c"], "loser": ["b", "c", "c", "a"]})
    base["count"] = [5, 4, 3, 2]
    tied = pd.concat(
        [
            base.assign(tie=False),
            pd.DataFrame({"winner": ["b"], "loser": ["a"], "count": [6], "tie": [True]}),
        ],
        ignore_index=True,
    )
    as_wins = pd.concat(
        [base, pd.DataFrame({"winner": ["a", "b"], "loser": ["b", "a"], "count": [3, 3]})],
        ignore_index=True,
    )
    a = bradley_terry(tied, ties="tie")
    b = bradley_terry(as_wins)
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-10)
    np.testing.assert_allclose(a["se"], b["se"], atol=1e-10)
    assert a.loc["a", "wins"] == 5 + 3 + 3


def test_bt_regularised_fit_when_an_item_never_wins() -> None:
    df = pd.DataFrame({"winner": ["a", "b", "a", "b", "a"], "loser": ["b", "a", "c", "c", "c"]})
    with pytest.raises(ValueError, match=r"never won.*'c'"):
        bradley_terry(df)
    t = bradley_terry(df, regularization=0.1)
    assert np.isfinite(t["score"]).all() and t["score"].idxmin() == "c"
    assert abs(t["score"].sum()) < 1e-10
    # penalised MLE: the gradient of loglik − λ/2 Σ s² is zero
    s = t["score"]
    g = {k: -0.1 * s[k] for k in s.index}
    for w, lo in zip(df.winner, df.loser, strict=True):
        p = 1 / (1 + np.exp(-(s[w] - s[lo])))
        g[w] += 1 - p
        g[lo] -= 1 - p
    assert max(abs(v) for v in g.values()) < 1e-8
    # larger λ shrinks harder
    assert bradley_terry(df, regularization=1.0)["score"].abs().max() < t["score"].abs().max()


@pytest.mark.parametrize(
    ("df", "pattern"),
    [
        (pd.DataFrame({"winner": ["a", "b"], "loser": ["b", "a"]}).iloc[:0], "empty"),
        (pd.DataFrame({"winner": ["a", "b", "c"], "loser": ["b", "a", "a"]}), "never lost.*'c'"),
        (pd.DataFrame({"winner": ["a", "b", "a"], "loser": ["b", "a", "c"]}), "never won.*'c'"),
        (pd.DataFrame({"winner": ["a", "a", "b"], "loser": ["b", "c", "c"]}), "never"),
        (
            pd.DataFrame({"winner": ["a", "b", "c", "d"], "loser": ["b", "a", "d", "c"]}),
            "not connected",
        ),
        (
            pd.DataFrame({"winner": list("abcdab"), "loser": list("badccd")}),
            "never lost to any item outside",
        ),
        (pd.DataFrame({"winner": ["a"], "loser": ["a"]}), "itself"),
    ],
)
def test_bt_clear_errors(df: pd.DataFrame, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        bradley_terry(df)


def test_bt_items_argument_flags_uncompared_item_and_one_item() -> None:
    df = pd.DataFrame({"winner": ["a", "b"], "loser": ["b", "a"]})
    with pytest.raises(ValueError, match=r"no comparisons.*'z'"):
        bradley_terry(df, items=["a", "b", "z"])
    with pytest.raises(ValueError, match="not among"):
        bradley_terry(df, anchor="q")
    with pytest.raises(ValueError, match="not in `items`"):
        bradley_terry(df, items=["a"])
    t = bradley_terry(df)
    assert t["score"].tolist() == pytest.approx([0.0, 0.0])


def test_bt_bootstrap_agrees_with_wald_and_cluster_widens() -> None:
    df, _ = simulate(6, 1200, 3)
    fit = bradley_terry_fit(df)
    boot = bt_bootstrap(df, n_resamples=300, seed=1)
    assert boot.n_failed == 0
    np.testing.assert_allclose(boot.table["boot_se"], fit.table["se"], rtol=0.25)
    assert boot.samples.shape == (300, 6)
    # clusters of 20 identical comparisons carry far less information than as many independent
    small, _ = simulate(4, 60, 4)
    clustered = small.iloc[np.repeat(np.arange(60), 20)].assign(cl=np.repeat(np.arange(60), 20))
    wald = bradley_terry_fit(clustered)
    cb = bt_bootstrap(clustered, cluster="cl", n_resamples=200, seed=2)
    assert cb.n_failed < 20
    ratio = cb.table["boot_se"] / wald.table["se"]
    assert ((ratio > 3) & (ratio < 6.5)).all()  # ≈ sqrt(20) = 4.5


def test_elo_hand_computed_and_order_dependent() -> None:
    df = pd.DataFrame({"winner": ["a", "a", "b"], "loser": ["b", "c", "c"]})
    r = elo(df, k=32)
    # game 1: a beats b from 1500/1500: ±16; game 2: a (1516) beats c (1500)
    e2 = 1 / (1 + 10 ** ((1500 - 1516) / 400))
    a = 1516 + 32 * (1 - e2)
    e3 = 1 / (1 + 10 ** ((1500 - 32 * (1 - e2) - 1484) / 400))
    assert r.loc["a", "rating"] == pytest.approx(a)
    assert r.loc["b", "rating"] == pytest.approx(1484 + 32 * (1 - e3))
    assert r["rating"].sum() == pytest.approx(4500)
    seq = pd.DataFrame({"winner": list("aaabbb"), "loser": list("bbbaaa")})
    fwd, rev = elo(seq, k=32), elo(seq.iloc[::-1], k=32)
    # same games, same BT fit (a tie), but Elo favours whoever won last
    assert fwd.loc["b", "rating"] > 1505 and rev.loc["a", "rating"] > 1505
    many = elo(df, k=32, rounds=50, seed=0)
    assert (many["rating_sd"] > 0).all()


def test_elo_tracks_bt_ordering_on_large_data() -> None:
    df, _theta = simulate(10, 5000, 11)
    r = elo(df, k=8, rounds=4, seed=0)
    bt = bradley_terry(df)
    assert stats.spearmanr(r["rating"], bt["score"]).statistic > 0.9


def test_thurstone_case_v_recovers_exact_probit_matrix() -> None:
    s = np.array([0.0, 0.3, 0.5, 1.1, 1.2])
    p = stats.norm.cdf(s[:, None] - s[None, :])
    np.fill_diagonal(p, 0.5)
    out = thurstone_case_v(pd.DataFrame(p, index=list("abcde"), columns=list("abcde")))
    np.testing.assert_allclose(out.to_numpy(), s, atol=1e-12)
    assert out.index.tolist() == list("abcde")
    # missing pair and a proportion of 1 (dropped) still recover the scale by least squares
    q = p.copy()
    q[0, 4] = np.nan
    q[4, 0] = np.nan
    q[1, 3] = 1.0
    np.testing.assert_allclose(thurstone_case_v(q).to_numpy(), s, atol=1e-12)
    clipped = thurstone_case_v(q, extreme=0.01)
    assert clipped.iloc[3] > clipped.iloc[1]


def test_thurstone_case_v_errors() -> None:
    with pytest.raises(ValueError, match="square"):
        thurstone_case_v(np.ones((2, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        thurstone_case_v(np.array([[0.5]]))
    with pytest.raises(ValueError, match="connect"):
        thurstone_case_v(
            np.array(
                [
                    [0.5, 0.6, np.nan, np.nan],
                    [0.4, 0.5, np.nan, np.nan],
                    [np.nan, np.nan, 0.5, 0.7],
                    [np.nan, np.nan, 0.3, 0.5],
                ]
            )
        )


def test_thurstonian_mle_recovers_means_and_variances() -> None:
    rng = np.random.default_rng(5)
    n = 8
    mu = np.linspace(-1.5, 1.5, n)
    sigma = np.where(np.arange(n) % 2 == 0, 0.5, 1.5)
    sigma = sigma / np.exp(np.log(sigma).mean())
    i = rng.integers(0, n, 40000)
    j = (i + rng.integers(1, n, 40000)) % n
    scale = np.sqrt(sigma[i] ** 2 + sigma[j] ** 2)
    win = rng.random(40000) < stats.norm.cdf((mu[i] - mu[j]) / scale)
    df = pd.DataFrame({"winner": np.where(win, i, j), "loser": np.where(win, j, i)})
    out = thurstonian_mle(df).reindex(range(n))
    assert out.attrs["converged"]
    np.testing.assert_allclose(out["mu"], mu - mu.mean(), atol=0.12)
    np.testing.assert_allclose(out["sigma"], sigma, rtol=0.2)
    # Wald intervals cover the truth for most items
    covered = (out["ci_low"] <= mu - mu.mean()) & (mu - mu.mean() <= out["ci_high"])
    assert covered.sum() >= n - 2
    assert (out["se"] > 0).all()


# -- Firth's bias-reduced Bradley–Terry ---------------------------------------------------------


def penalised_loglik(df: pd.DataFrame, items: list, beta: np.ndarray) -> float:
    """loglik + ½ log det I written from the definition: item 0 fixed at 0, dense design."""
    agg = pair_counts(df).reindex(index=items, columns=items).to_numpy()
    theta = np.concatenate([[0.0], beta])
    ll, info = 0.0, np.zeros((len(items), len(items)))
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            m = agg[a, b] + agg[b, a]
            if m == 0:
                continue
            p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
            ll += agg[a, b] * np.log(p) + agg[b, a] * np.log1p(-p)
            x = np.zeros(len(items))
            x[a], x[b] = 1, -1
            info += m * p * (1 - p) * np.outer(x, x)
    sign, logdet = np.linalg.slogdet(info[1:, 1:])
    assert sign > 0
    return ll + 0.5 * logdet


@pytest.mark.parametrize(("wins", "losses"), [(7, 3), (12, 0), (0, 5), (1, 1), (3.5, 2)])
def test_firth_two_items_is_the_closed_form(wins: float, losses: float) -> None:
    df = pd.DataFrame({"winner": ["a", "b"], "loser": ["b", "a"], "count": [wins, losses]})
    df = df[df["count"] > 0]
    fit = bradley_terry_fit(df, "b", method="firth", items=["a", "b"])
    expected = np.log((wins + 0.5) / (losses + 0.5))
    assert fit.scores["a"] == pytest.approx(expected, abs=1e-10)
    assert fit.scores["b"] == 0.0 and fit.method == "firth"
    # Wald SE from the information at the estimate: 1 / sqrt(m p (1 - p))
    p = (wins + 0.5) / (wins + losses + 1)
    se = 1 / np.sqrt((wins + losses) * p * (1 - p))
    assert fit.table.loc["a", "se"] == pytest.approx(se, rel=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_firth_maximises_the_penalised_likelihood(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 6
    df, _ = simulate(n, 60, 20 + seed, spread=1.5)
    # an item that never wins: the MLE does not exist, the Firth estimate does
    df = df[df["winner"] != 5]
    with pytest.raises(ValueError, match="never won"):
        bradley_terry_fit(df, items=list(range(n)))
    fit = bradley_terry_fit(df, 0, items=list(range(n)), method="firth")
    beta = fit.scores.reindex(range(n)).to_numpy()[1:]
    assert np.isfinite(beta).all() and fit.scores.idxmin() == 5
    # the gradient of loglik + ½ log det I (anchored parametrisation) is 0 by finite differences
    eps = 1e-5
    grad = [
        (penalised_loglik(df, list(range(n)), beta + eps * e)
         - penalised_loglik(df, list(range(n)), beta - eps * e)) / (2 * eps)
        for e in np.eye(n - 1)
    ]
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)
    # … and it is a maximum: random nearby points are lower
    best = penalised_loglik(df, list(range(n)), beta)
    for _ in range(5):
        assert penalised_loglik(df, list(range(n)), beta + rng.normal(0, 0.05, n - 1)) < best
    # an independent maximiser of the definition lands on the same point
    res = optimize.minimize(lambda b: -penalised_loglik(df, list(range(n)), b), np.zeros(n - 1),
                            method="BFGS", options={"gtol": 1e-8})
    np.testing.assert_allclose(res.x, beta, atol=1e-4)


def test_firth_is_anchor_invariant_and_shrinks_the_mle() -> None:
    df, _ = simulate(10, 300, 8, spread=1.5)
    ml = bradley_terry_fit(df)
    firth = bradley_terry_fit(df, method="firth")
    anchored = bradley_terry_fit(df, anchor=3, method="firth")
    np.testing.assert_allclose(anchored.scores, firth.scores - firth.scores[3], atol=1e-8)
    assert abs(firth.scores.sum()) < 1e-10
    # the bias reduction pulls the outward-biased MLE in: every score nearer 0, order kept
    assert (firth.scores.abs() < ml.scores.abs()).all()
    assert stats.spearmanr(firth.scores, ml.scores).statistic == pytest.approx(1.0)
    assert firth.loglik < ml.loglik  # the MLE maximises the unpenalised log-likelihood
    assert (firth.table["se"] > 0).all()
    v = firth.cov.to_numpy()
    np.testing.assert_allclose(v.sum(axis=0), 0.0, atol=1e-10)  # covariance of mean-zero scores


def test_firth_removes_most_of_the_outward_bias() -> None:
    """Slope of estimated on true scores over replications: ML > 1 (spread out), Firth ≈ 1."""
    rng = np.random.default_rng(11)
    n, slopes = 8, {"ml": [], "firth": []}
    theta = np.linspace(-1.6, 1.6, n)
    for _ in range(150):
        i = rng.integers(0, n, 120)
        j = (i + rng.integers(1, n, 120)) % n
        win = rng.random(120) < 1 / (1 + np.exp(-(theta[i] - theta[j])))
        df = pd.DataFrame({"winner": np.where(win, i, j), "loser": np.where(win, j, i)})
        for method in slopes:
            try:
                s = bradley_terry_fit(df, items=list(range(n)), method=method).scores
            except ValueError:
                continue
            slopes[method].append(s.reindex(range(n)).to_numpy() @ theta / (theta @ theta))
    ml, firth = np.mean(slopes["ml"]), np.mean(slopes["firth"])
    assert len(slopes["firth"]) == 150  # never fails, even when ML does not exist
    assert ml > 1.04
    assert abs(firth - 1) < 0.4 * (ml - 1)


def test_firth_bootstrap_never_fails_where_ml_replicates_do() -> None:
    df, _ = simulate(6, 150, 5, spread=2.0)
    ml = bt_bootstrap(df, n_resamples=200, seed=0)
    firth = bt_bootstrap(df, n_resamples=200, seed=0, method="firth")
    assert ml.n_failed > 0 and firth.n_failed == 0
    np.testing.assert_allclose(firth.table["score"], bradley_terry_fit(df, method="firth").scores)
    # with a few dozen comparisons per item the bootstrap SE agrees with the Wald SE
    df, _ = simulate(6, 900, 6)
    boot = bt_bootstrap(df, n_resamples=300, seed=1, method="firth")
    wald = bradley_terry_fit(df, method="firth")
    assert boot.n_failed == 0
    np.testing.assert_allclose(boot.table["boot_se"], wald.table["se"], rtol=0.2)
    assert (boot.table["ci_low"] < boot.table["score"]).all()
    assert (boot.table["score"] < boot.table["ci_high"]).all()


def modified_score(df: pd.DataFrame, scores: pd.Series) -> np.ndarray:
    """Firth's modified score Xᵀ(y + h/2 − (m + h) p), hat values from a dense pseudo-inverse."""
    items = list(scores.index)
    agg = pair_counts(df).reindex(index=items, columns=items).to_numpy()
    a, b = np.nonzero(np.triu(agg + agg.T) > 0)
    x = np.zeros((len(a), len(items)))
    x[np.arange(len(a)), a], x[np.arange(len(a)), b] = 1.0, -1.0
    y, m = agg[a, b], agg[a, b] + agg[b, a]
    p = 1 / (1 + np.exp(-(x @ scores.to_numpy())))
    w = m * p * (1 - p)
    h = w * np.einsum("kr,rs,ks->k", x, np.linalg.pinv(x.T @ (w[:, None] * x)), x)
    return x.T @ (y + h / 2 - (m + h) * p)


def test_firth_errors_and_large_designs() -> None:
    df = pd.DataFrame({"winner": ["a", "c"], "loser": ["b", "d"]})
    with pytest.raises(ValueError, match="not connected"):
        bradley_terry(df, method="firth")
    with pytest.raises(ValueError, match="unknown method"):
        bradley_terry(df, method="bayes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already penalised"):
        bradley_terry(df, method="firth", regularization=0.1)
    never = pd.DataFrame({"winner": ["a", "b", "a"], "loser": ["b", "a", "c"]})
    with pytest.raises(ValueError, match=r"never won.*method='firth'"):
        bradley_terry(never)
    assert bradley_terry(never, method="firth")["score"].idxmin() == "c"
    # > 200 items: the start takes the sparse path; the modified score is still 0 at the answer
    big, _ = simulate(240, 240 * 8, 9)
    fit = bradley_terry_fit(big, method="firth")
    np.testing.assert_allclose(modified_score(big, fit.scores), 0.0, atol=1e-7)
    small, _ = simulate(5, 100, 3)
    s = bradley_terry_fit(small, method="firth").scores
    assert np.abs(modified_score(small, s)).max() < 1e-8
    assert np.abs(modified_score(small, bradley_terry_fit(small).scores)).max() > 1e-3
