"""Bradley–Terry with a jointly fitted order term, model-based shares and the FDR list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, special

from welfare.stats import (
    bradley_terry_fit,
    bradley_terry_order_fit,
    confident_items,
    latent_shares,
)


def _trials(seed: int, n: int = 8, m: int = 400, beta: float = 0.7,
            sd: float = 1.0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, sd, n)
    i = rng.integers(0, n, m)
    j = (i + rng.integers(1, n, m)) % n
    y = rng.random(m) < special.expit(theta[i] - theta[j] + beta)
    return pd.DataFrame({"first": i, "second": j, "first_won": y}), theta


def _design(df: pd.DataFrame, n: int) -> np.ndarray:
    x = np.zeros((len(df), n))
    rows = np.arange(len(df))
    x[rows, df["first"]] += 1
    x[rows, df["second"]] -= 1
    return np.column_stack([x[:, 1:], np.ones(len(df))])  # item 0 is the reference


@pytest.mark.parametrize("seed", [0, 1])
def test_ml_order_fit_equals_a_binomial_glm(seed: int) -> None:
    df, _ = _trials(seed)
    x = _design(df, 8)
    glm = sm.GLM(df["first_won"].to_numpy(dtype=float), x, family=sm.families.Binomial()).fit()
    fit = bradley_terry_order_fit(df, anchor=0, method="ml")
    s = fit.fit.table["score"].to_numpy()
    assert s[0] == 0.0
    np.testing.assert_allclose(s[1:], glm.params[:-1], atol=1e-8)
    np.testing.assert_allclose(fit.fit.table["se"].to_numpy()[1:], glm.bse[:-1], rtol=1e-6)
    assert fit.position.estimate == pytest.approx(glm.params[-1], abs=1e-8)
    se_b = (fit.position.ci_high - fit.position.estimate) / 1.959963984540054
    assert se_b == pytest.approx(glm.bse[-1], rel=1e-6)
    assert fit.position.p_value == pytest.approx(glm.pvalues[-1], rel=1e-5)


def test_firth_order_fit_maximises_the_penalised_likelihood() -> None:
    df, _ = _trials(2, m=150)
    x = _design(df, 8)
    y = df["first_won"].to_numpy()

    def neg(b: np.ndarray) -> float:
        eta = x @ b
        p = special.expit(eta)
        ll = np.sum(np.where(y, special.log_expit(eta), special.log_expit(-eta)))
        return -(ll + 0.5 * np.linalg.slogdet(x.T @ ((p * (1 - p))[:, None] * x))[1])

    ref = optimize.minimize(neg, np.zeros(8), method="BFGS", options={"gtol": 1e-10}).x
    fit = bradley_terry_order_fit(df, anchor=0)
    np.testing.assert_allclose(fit.fit.table["score"].to_numpy()[1:], ref[:-1], atol=1e-5)
    assert fit.position.estimate == pytest.approx(ref[-1], abs=1e-5)


def test_without_position_effect_the_scores_match_the_plain_firth_fit_closely() -> None:
    df, _ = _trials(3, beta=0.0, m=2000)
    joint = bradley_terry_order_fit(df)
    plain = bradley_terry_fit(
        pd.DataFrame({"winner": np.where(df["first_won"], df["first"], df["second"]),
                      "loser": np.where(df["first_won"], df["second"], df["first"])}),
        method="firth")
    np.testing.assert_allclose(joint.fit.table["score"], plain.table["score"], atol=0.03)
    assert abs(joint.position.estimate) < 0.25  # truth 0, se ≈ 0.06


def test_the_order_term_removes_the_shrinkage_of_balanced_designs() -> None:
    """Every pair in both orders, β = 1: the model without β shrinks scores (slope ~0.8)."""
    rng = np.random.default_rng(5)
    n, slopes_joint, slopes_plain = 20, [], []
    pairs = np.array([(a, b) for a in range(n) for b in range(a + 1, n)])
    for _ in range(30):
        theta = rng.normal(0, 1, n)
        theta -= theta.mean()
        i = np.concatenate([pairs[:, 0], pairs[:, 1]])
        j = np.concatenate([pairs[:, 1], pairs[:, 0]])
        y = rng.random(len(i)) < special.expit(theta[i] - theta[j] + 1.0)
        df = pd.DataFrame({"first": i, "second": j, "first_won": y})
        s = bradley_terry_order_fit(df).fit.table["score"].to_numpy()
        slopes_joint.append(s @ theta / (theta @ theta))
        plain = bradley_terry_fit(pd.DataFrame({"winner": np.where(y, i, j),
                                                "loser": np.where(y, j, i)}), method="firth")
        sp = plain.table["score"].to_numpy()
        slopes_plain.append(sp @ theta / (theta @ theta))
    assert 0.95 <= np.mean(slopes_joint) <= 1.05
    assert np.mean(slopes_plain) < 0.9


def test_order_fit_checks_its_input() -> None:
    df, _ = _trials(4)
    with pytest.raises(ValueError, match="lack"):
        bradley_terry_order_fit(df.drop(columns="first_won"))
    with pytest.raises(ValueError, match="not in `items`"):
        bradley_terry_order_fit(df, items=[0, 1, 2])
    split = pd.DataFrame({"first": [0, 1, 2, 3], "second": [1, 0, 3, 2],
                          "first_won": [True, False, True, False]})
    with pytest.raises(ValueError):
        bradley_terry_order_fit(split)  # two unlinked pairs of items


def _group_fit(true: np.ndarray, se: float) -> tuple[object, dict[str, list[int]]]:
    """A BTFit-like object with independent scores ŝ = s + N(0, se²)."""
    from welfare.stats.pairwise import BTFit

    rng = np.random.default_rng(9)
    k = len(true)
    s = true + rng.normal(0, se, k)
    table = pd.DataFrame({"score": s, "se": np.full(k, se)}, index=range(k))
    cov = pd.DataFrame(np.eye(k) * se * se, index=range(k), columns=range(k))
    return BTFit(table, cov, 0.0, 0, 0.0, 0.95), {"a": list(range(k // 2)),
                                                   "b": list(range(k // 2, k))}


def test_latent_shares_are_not_pulled_to_half_when_every_score_is_far_from_zero() -> None:
    true = np.concatenate([np.full(20, -2.0), np.full(20, 2.0)]) + np.linspace(-0.3, 0.3, 40)
    fit, groups = _group_fit(true, 0.4)
    out = latent_shares(fit, groups, seed=1).set_index("group")
    assert out.loc["a", "below"] > 0.98 and out.loc["a", "below_ci_high"] == 1.0
    assert out.loc["b", "above"] > 0.98 and out.loc["b", "above_ci_low"] >= 0.95
    assert out.loc["a", "below_count"] == 1.0
    for g in ("a", "b"):
        for side in ("below", "above"):
            assert out.loc[g, f"{side}_ci_low"] <= out.loc[g, side] <= out.loc[g, f"{side}_ci_high"]
    assert out.loc["a", "tau"] < 0.5  # spread 0.17 plus noise, not the noise's 0.4


def test_latent_shares_of_a_null_subject_cover_the_realised_shares() -> None:
    """No systematic preference: true scores scatter around 0; shares near 50% are covered."""
    rng = np.random.default_rng(2)
    hits = []
    for _ in range(60):
        true = rng.normal(0, 0.7, 40)
        fit, groups = _group_fit(true, 0.5)
        fit.table["score"] = true + rng.normal(0, 0.5, 40)
        out = latent_shares(fit, groups, seed=rng, n_draws=1000).set_index("group")
        for g, members in groups.items():
            t = float(np.mean(true[members] < 0))
            hits.append(out.loc[g, "below_ci_low"] <= t <= out.loc[g, "below_ci_high"])
    assert 0.88 <= np.mean(hits) <= 1.0


def test_latent_shares_of_a_union_come_from_the_same_draws() -> None:
    true = np.concatenate([np.full(20, -2.0), np.full(20, 2.0)])
    fit, groups = _group_fit(true, 0.3)
    out = latent_shares(fit, groups, seed=3, unions={"all": ["a", "b"]}).set_index("group")
    assert out.loc["all", "items"] == 40
    assert out.loc["all", "below"] == pytest.approx(
        (out.loc["a", "below"] + out.loc["b", "below"]) / 2)
    assert np.isnan(out.loc["all", "tau"])
    with pytest.raises(ValueError, match="unknown groups"):
        latent_shares(fit, groups, unions={"x": ["a", "z"]})


def test_latent_shares_validate() -> None:
    fit, _groups = _group_fit(np.zeros(6), 0.5)
    with pytest.raises(ValueError, match="not in the fit"):
        latent_shares(fit, {"x": [99]})
    with pytest.raises(ValueError, match="more than one group"):
        latent_shares(fit, {"x": [0, 1], "y": [1, 2]})


def test_confident_items_controls_the_false_discovery_rate() -> None:
    rng = np.random.default_rng(0)
    fdp = []
    for _ in range(200):
        true = np.concatenate([np.full(30, -1.5), np.zeros(70)])
        fit, _ = _group_fit(true, 0.5)
        fit.table["score"] = true + rng.normal(0, 0.5, 100)
        found = confident_items(fit, list(range(100)), "below", fdr=0.1)
        fdp.append(np.mean(found.index >= 30) if len(found) else 0.0)
        assert (found["q"] <= 0.1).all()
    assert np.mean(fdp) <= 0.1 * 0.7 + 0.02  # BH: FDR ≤ m0/m · q = 0.07


def test_tau_posterior_is_the_restricted_likelihood_with_mu_integrated_out() -> None:
    from scipy import integrate, stats

    from welfare.stats.pairwise import _tau_posterior

    rng = np.random.default_rng(7)
    k = 5
    a = rng.normal(0, 0.3, (k, k))
    cov = a @ a.T + 0.2 * np.eye(k)  # correlated sampling errors (a shared anchor)
    s = rng.normal(0.4, 0.8, k)
    grid = np.array([0.05, 0.4, 0.9, 1.6])

    def marginal(t: float) -> float:  # ∫ N(s; μ1, Σ + τ²I) dμ, μ flat
        v = cov + t * t * np.eye(k)
        return integrate.quad(lambda m: stats.multivariate_normal(np.full(k, m), v).pdf(s),
                              -20, 20, points=[s.mean()])[0]

    ref = np.array([marginal(t) for t in grid])
    assert _tau_posterior(s, cov, grid) == pytest.approx(ref / ref.sum(), rel=1e-6)


def test_a_spread_lost_in_noise_does_not_collapse_the_share() -> None:
    """Few comparisons: the noise (se 1.2) hides a true spread of 0.5, the moment estimate of τ
    is 0, and plugging it in puts every item at the group mean, so the share's draws sit on
    0% or 100%. Drawing τ from its posterior keeps the share a share of items."""
    rng = np.random.default_rng(11)
    for _ in range(50):
        true = rng.normal(0, 0.5, 24)
        fit, groups = _group_fit(true, 1.2)
        fit.table["score"] = true + rng.normal(0, 1.2, 24)
        plug = latent_shares(fit, groups, seed=1, tau="moments", interval="equal-tailed")
        if plug["tau"].iloc[0] <= 1e-3:  # the moment estimate hit its floor for group a
            break
    else:
        pytest.fail("no draw with a moment estimate of 0")
    post = latent_shares(fit, groups, seed=1)
    edge = {name: np.isin(out.attrs["draws"][("a", "below")], [0.0, 1.0]).mean()
            for name, out in (("plug", plug), ("post", post))}
    assert edge["plug"] > 0.99 and edge["post"] < 0.5
    assert post["tau"].iloc[0] > 0.1 and "posterior τ" in post.attrs["method"]
    row = post.set_index("group").loc["a"]
    assert row["below_ci_high"] - row["below_ci_low"] < 1.0
    assert row["below_ci_low"] <= np.mean(true[:12] < 0) <= row["below_ci_high"]


def test_mid_p_interval_of_a_discrete_share() -> None:
    from welfare.stats.pairwise import _share_interval

    # 3% of draws at 6/12, 96% at 7/12, 1% at 8/12
    share = np.repeat([6 / 12, 7 / 12, 8 / 12], [60, 1920, 20])
    # equal-tailed quantiles take the whole 3% atom at 6/12 in; mid-p counts half of it (1.5%)
    assert _share_interval(share, 0.95, mid_p=False) == (0.5, pytest.approx(7 / 12))
    assert _share_interval(share, 0.95, mid_p=True) == (pytest.approx(7 / 12),) * 2
    # an atom counted half still counts: 6% at 6/12 (half is 3%, over 2.5%) is in
    share = np.repeat([6 / 12, 7 / 12], [120, 1880])
    assert _share_interval(share, 0.95, mid_p=True)[0] == 0.5
    assert _share_interval(np.full(100, 0.25), 0.95, mid_p=True) == (0.25, 0.25)
