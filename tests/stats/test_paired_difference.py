"""Newcombe's paired square-and-add interval against a published implementation's output."""

from __future__ import annotations

import pytest

from welfare.stats import newcombe_difference, newcombe_paired_difference, wilson_interval


def test_matches_fagerland_lydersen_laake() -> None:
    # contingencytables (R), tests/testthat/test-ch8.R: n = [[59, 6], [16, 80]] gives
    # "estimate = -0.0621 (95% CI -0.1186 to -0.0046)"
    e = newcombe_paired_difference(59, 6, 16, 80)
    assert (e.estimate, e.ci_low, e.ci_high) == pytest.approx((-0.0621, -0.1186, -0.0046),
                                                               abs=5e-5)
    assert e.n == 161


def test_correlated_pairs_are_narrower_than_independent_samples() -> None:
    paired = newcombe_paired_difference(59, 6, 16, 80)
    independent = newcombe_difference(65, 161, 75, 161)
    assert paired.estimate == pytest.approx(independent.estimate)
    # φ ≈ 0.73 here: about half the width (0.114 against 0.214)
    assert paired.ci_high - paired.ci_low < 0.6 * (independent.ci_high - independent.ci_low)
    assert independent.ci_high > 0 > paired.ci_high  # only the paired interval excludes 0


def test_no_correlation_term_when_a_margin_is_empty() -> None:
    # nobody succeeds on either side: φ = 0, the two Wilson limits square-and-added
    e = newcombe_paired_difference(0, 0, 0, 6)
    u = float(wilson_interval(0, 6)[1])
    assert (e.estimate, e.ci_low, e.ci_high) == pytest.approx((0.0, -u, u))
    with pytest.raises(ValueError):
        newcombe_paired_difference(0, 0, 0, 0)


def test_paired_outcomes_difference_counts_the_pairs() -> None:
    """One 0/1 outcome per unit each side: the 2×2 of pairs, Newcombe's paired interval and the
    exact McNemar p (discordant pairs 50:50 under no difference)."""
    from scipy import stats as sps

    from welfare.stats import newcombe_paired_difference, paired_outcomes_difference

    x = [1] * 59 + [1] * 6 + [0] * 16 + [0] * 80
    y = [1] * 59 + [0] * 6 + [1] * 16 + [0] * 80
    got = paired_outcomes_difference(x, y)
    ref = newcombe_paired_difference(59, 6, 16, 80)
    assert (got.estimate, got.ci_low, got.ci_high) == (ref.estimate, ref.ci_low, ref.ci_high)
    assert got.estimate == pytest.approx(-0.0621, abs=1e-4)  # contingencytables' example
    assert got.p_value == pytest.approx(sps.binomtest(6, 22).pvalue)
    assert paired_outcomes_difference([1, 1], [1, 1]).p_value == 1.0
    with pytest.raises(ValueError, match="one outcome per shared unit"):
        paired_outcomes_difference([1, 0], [1])
