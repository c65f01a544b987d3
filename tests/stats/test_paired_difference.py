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
