"""Kaplan–Meier and log-rank: against statsmodels on randomised censored data with ties."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from welfare.stats import kaplan_meier, logrank_test, survival_at


def random_turns(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 12, n).astype(float)  # turns: many ties
    e = rng.random(n) < 0.6
    return t, e


@pytest.mark.parametrize("seed", range(10))
def test_km_matches_statsmodels(seed: int) -> None:
    t, e = random_turns(seed, int(np.random.default_rng(seed).integers(3, 80)))
    if not e.any():
        e[0] = True
    km = kaplan_meier(t, e)
    sf = SurvfuncRight(t, e.astype(int))
    ev = km[km["events"] > 0]
    np.testing.assert_allclose(ev["turn"], sf.surv_times)
    np.testing.assert_allclose(ev["survival"], sf.surv_prob, atol=1e-12)
    np.testing.assert_allclose(ev["at_risk"], sf.n_risk)
    ok = ev["survival"] > 0
    np.testing.assert_allclose(ev["se"][ok], sf.surv_prob_se[ok.to_numpy()], atol=1e-12)
    assert km["at_risk"].iloc[0] == len(t)
    assert km["events"].sum() == e.sum() and km["censored"].sum() == (~e).sum()


def test_km_loglog_interval_formula_and_bounds() -> None:
    t, e = random_turns(3, 60)
    km = kaplan_meier(t, e, confidence=0.9)
    z = stats.norm.ppf(0.95)
    row = km[(km["survival"] < 1) & (km["survival"] > 0)].iloc[2]
    v = (row["se"] / row["survival"]) ** 2
    se_ll = np.sqrt(v) / abs(np.log(row["survival"]))
    assert row["ci_low"] == pytest.approx(row["survival"] ** np.exp(z * se_ll))
    assert row["ci_high"] == pytest.approx(row["survival"] ** np.exp(-z * se_ll))
    assert ((km["ci_low"] >= 0) & (km["ci_high"] <= 1) & (km["ci_low"] <= km["survival"])).all()
    plain = kaplan_meier(t, e, transform="plain")
    assert plain["ci_high"].max() <= 1


def test_km_edge_cases_and_survival_at() -> None:
    with pytest.raises(ValueError, match="empty"):
        kaplan_meier([], [])
    with pytest.raises(ValueError, match="equal length"):
        kaplan_meier([1, 2], [True])
    with pytest.raises(ValueError, match="non-negative"):
        kaplan_meier([-1], [True])
    with pytest.raises(ValueError, match="transform"):
        kaplan_meier([1, 2], [True, False], transform="arcsine")  # type: ignore[arg-type]
    # nobody ended the chat: survival stays 1, degenerate interval (documented)
    none = kaplan_meier([3, 5, 7], [False, False, False])
    assert (none["survival"] == 1).all() and (none["ci_low"] == 1).all()
    # everyone ended at turn 2: survival drops to 0 with a degenerate interval
    all_end = kaplan_meier([2, 2, 2], [True, True, True])
    assert all_end["survival"].iloc[0] == 0 and all_end["ci_high"].iloc[0] == 0
    km = kaplan_meier([1, 2, 2, 4, 6], [True, True, False, True, False])
    assert survival_at(km, 0.5).estimate == 1.0
    assert survival_at(km, 3).estimate == pytest.approx(km["survival"].iloc[1])
    assert survival_at(km, 100).estimate == pytest.approx(km["survival"].iloc[-1])


@pytest.mark.parametrize("seed", range(8))
def test_logrank_matches_statsmodels_k_groups(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    n = int(rng.integers(10, 120))
    t, e = random_turns(seed, n)
    g = rng.integers(0, k, n)
    g[:k] = np.arange(k)
    e[:k] = True
    ours = logrank_test(t, e, g)
    stat, p = survdiff(t, e.astype(int), g)
    assert ours.statistic == pytest.approx(stat, rel=1e-9)
    assert ours.p_value == pytest.approx(p, rel=1e-7)
    assert ours.df == k - 1
    assert ours.observed.sum() == pytest.approx(ours.expected.sum())


def test_logrank_edges() -> None:
    with pytest.raises(ValueError, match="two groups"):
        logrank_test([1, 2], [True, True], ["a", "a"])
    with pytest.raises(ValueError, match="no events"):
        logrank_test([1, 2], [False, False], ["a", "b"])
    with pytest.raises(ValueError, match="one label"):
        logrank_test([1, 2], [True, True], ["a"])
