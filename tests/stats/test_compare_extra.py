"""The sign-flip permutation test against exact enumeration of all sign patterns."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from welfare.stats import sign_flip_test


def _exact(d: np.ndarray) -> float:
    observed = abs(d.mean())
    flips = np.array(list(itertools.product([-1, 1], repeat=len(d))))
    means = np.abs((flips * d).mean(axis=1))
    return float(np.mean(means >= observed - 1e-12))


@pytest.mark.parametrize("seed", range(6))
def test_sign_flip_matches_exact_enumeration(seed):
    rng = np.random.default_rng(seed)
    d = np.round(rng.normal(0.1, 0.2, size=int(rng.integers(2, 11))), 1)
    assert sign_flip_test(d) == pytest.approx(_exact(d), abs=1e-9)


def test_two_near_equal_differences_are_not_significant():
    # A one-sample t-test gives p ≈ 0.03 here; two answers cannot show anything at 5%.
    assert sign_flip_test([0.10, 0.11]) == 0.5
    assert sign_flip_test([0.0, 0.0, 0.0]) == 1.0
