"""Audit fixes (issue 15): spread guards with tolerance, bounded means, KM median at a 0.5
plateau, and the log-rank test stratified by scenario (paired designs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.duration.survfunc import survdiff

from welfare.stats import (
    has_spread,
    kaplan_meier,
    logrank_test,
    mean_ci,
    median_survival,
    spearman,
    stratified_logrank_test,
    wilson_interval,
)

REF = Path(__file__).resolve().parents[1] / "data" / "refdata"


def test_has_spread_ignores_float_noise() -> None:
    x = np.array([0.3, 0.1 + 0.2, 0.3 + 1e-17])
    assert np.ptp(x) > 0  # the old guard's false positive
    assert not has_spread(x)
    assert has_spread([0.3, 0.3001])
    assert not has_spread([np.nan, 1.0])
    assert not has_spread([])
    rows = has_spread(np.array([[1.0, 1.0], [1.0, 2.0]]), axis=1)
    assert rows.tolist() == [False, True]


def test_correlation_refuses_a_column_constant_up_to_rounding() -> None:
    with pytest.raises(ValueError, match="constant"):
        spearman([1, 2, 3, 4, 5], [0.3, 0.1 + 0.2, 0.3, 0.3, 0.3])


def test_bounded_mean_stays_on_the_scale_and_equals_wilson_for_binary_data() -> None:
    x = np.array([1.0] * 9 + [0.0])
    t = mean_ci(x)
    assert t.ci_high > 1.0  # the t interval leaves the scale
    b = mean_ci(x, bounds=(0, 1))
    lo, hi = wilson_interval(9, 10)
    assert b.estimate == pytest.approx(0.9)
    # 0/1 data: n_eff = p(1−p)/se² = n − 1, and the t quantile on 9 df as Wilson's z
    t_level = 2 * stats.norm.cdf(stats.t.ppf(0.975, 9)) - 1
    assert (b.ci_low, b.ci_high) == pytest.approx(wilson_interval(9 * 0.9, 9.0, t_level))
    assert 0 <= b.ci_low < lo and hi < b.ci_high < 1.0
    every = mean_ci([1.0] * 8, bounds=(0, 1))
    t8 = 2 * stats.norm.cdf(stats.t.ppf(0.975, 7)) - 1
    assert every.ci_high == 1.0 and every.ci_low == pytest.approx(wilson_interval(8, 8, t8)[0])
    same = mean_ci([0.5] * 10, bounds=(0, 1))  # no spread seen: never a zero-width interval
    assert (same.ci_low, same.ci_high) == pytest.approx(wilson_interval(5, 10, t_level))
    scaled = mean_ci([1, 5, 5, 4, 5, 5], bounds=(1, 5))
    assert 1 <= scaled.ci_low < scaled.estimate < scaled.ci_high <= 5
    with pytest.raises(ValueError, match="outside"):
        mean_ci([0.2, 1.2], bounds=(0, 1))


def test_bounded_mean_tends_to_t_away_from_the_bounds() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0.3, 0.7, 400)
    t, b = mean_ci(x), mean_ci(x, bounds=(0, 1))
    assert b.ci_low == pytest.approx(t.ci_low, abs=2e-4)
    assert b.ci_high == pytest.approx(t.ci_high, abs=2e-4)


def test_km_median_at_an_exact_half_plateau_uses_the_midpoint() -> None:
    # S drops to exactly 0.5 at t = 2 (2 of 4 end), a censoring at 4, the last ends at 5
    km = kaplan_meier([2, 2, 4, 5], [1, 1, 0, 1])
    assert km["survival"].tolist()[:2] == [0.5, 0.5]
    fuzzy = km.copy()
    fuzzy.loc[:1, "survival"] = [0.5 + 1e-16, 0.5 + 1e-16]  # rounding on the other side
    for table in (km, fuzzy):
        assert median_survival(table).estimate == pytest.approx(3.5)
    # no later drop: the median is not determined within the follow-up
    assert np.isnan(median_survival(kaplan_meier([2, 2, 4, 5], [1, 1, 0, 0])).estimate)


def test_km_median_freireich() -> None:
    ref = json.loads((REF / "km_logrank_freireich1963.json").read_text())
    g = ref["groups"]["6-MP"]
    est = median_survival(kaplan_meier(g["time"], g["event"]))
    assert est.estimate == 23.0  # the published median remission time on 6-MP
    assert est.n == 21


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stratified_logrank_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 120
    strata = rng.integers(0, 4, n)
    group = rng.integers(0, 2, n)
    t = rng.integers(1, 8, n).astype(float) + strata
    e = rng.random(n) < 0.7
    ours = stratified_logrank_test(t, e, group, strata)
    chisq, p = survdiff(t, e.astype(int), group, strata=strata)
    assert ours.statistic == pytest.approx(chisq, rel=1e-9)
    assert ours.p_value == pytest.approx(p, rel=1e-9)
    one = stratified_logrank_test(t, e, group, np.zeros(n))
    assert one.statistic == pytest.approx(logrank_test(t, e, group).statistic, rel=1e-12)
