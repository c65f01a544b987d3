"""Effects and tests: means, Welch's t, Cohen's d, rank correlations, Benjamini–Hochberg.

Inputs are 1-D numeric arrays; NaN values are dropped (pairwise for correlations). Each
function that returns an interval says how it is computed and how it behaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from welfare.stats.intervals import Estimate, _z, has_spread, wilson_interval

__all__ = [
    "WelchResult",
    "benjamini_hochberg",
    "cohen_d",
    "kendall",
    "mean_ci",
    "mean_difference",
    "sign_flip_test",
    "spearman",
    "welch_t",
]


def _clean(x: Any, name: str, minimum: int) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    a = a[~np.isnan(a)]
    if len(a) < minimum:
        raise ValueError(f"{name} needs at least {minimum} non-missing values, got {len(a)}")
    return a


def mean_ci(x: Any, confidence: float = 0.95,
            bounds: tuple[float, float] | None = None) -> Estimate:
    """Mean with a Student-t interval (exact for normal data; fine for n ≳ 30 otherwise).

    ``bounds=(lo, hi)``: the values live on a bounded scale (a 0–1 rate or score), where a t
    interval can cross the bound. The mean is then rescaled to [0, 1] and given a Wilson
    interval at the effective sample size n_eff = p(1 − p) / se² with the t critical value on
    n − 1 df (Korn & Graubard 1998), which never leaves the scale, is close to the Wilson
    interval for 0/1 data, and tends to the t interval away from the bounds. A mean on the
    bound (every value at it) gets the one-sided Wilson interval for n values, and values
    without spread the Wilson interval for n (the largest variance a mean p on the scale can
    have: no zero-width interval from a sample that happened to agree). Values outside
    ``bounds`` raise ``ValueError``.
    """
    _z(confidence)
    a = _clean(x, "mean_ci", 2)
    m = float(a.mean())
    se = float(a.std(ddof=1) / np.sqrt(len(a))) if has_spread(a) else 0.0
    if bounds is None:
        q = float(stats.t.ppf(0.5 + confidence / 2, len(a) - 1))
        return Estimate(m, m - q * se, m + q * se, len(a), "t", confidence)
    lo_b, hi_b = float(bounds[0]), float(bounds[1])
    if not hi_b > lo_b:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}")
    width = hi_b - lo_b
    tol = 1e-9 * width
    if np.any(a < lo_b - tol) or np.any(a > hi_b + tol):
        raise ValueError(f"values outside bounds {bounds!r}")
    p = min(max((m - lo_b) / width, 0.0), 1.0)
    s = se / width
    if p <= tol / width or p >= 1 - tol / width or s == 0:
        n_eff = float(len(a))  # on the bound, or no spread at all: the n values themselves
    else:
        n_eff = min(max(p * (1 - p) / (s * s), 1.0), 1e12)
    # Student-t critical value at n − 1 df, passed to Wilson as the matching normal level
    t_conf = float(2 * stats.norm.cdf(stats.t.ppf(0.5 + confidence / 2, len(a) - 1)) - 1)
    low, high = wilson_interval(p * n_eff, n_eff, min(t_conf, 1 - 1e-12))
    return Estimate(m, lo_b + width * float(low), lo_b + width * float(high), len(a),
                    "wilson, effective n", confidence)


@dataclass(frozen=True)
class WelchResult:
    """Welch's unequal-variance t test of mean(x) − mean(y), with the difference's interval."""

    statistic: float
    df: float
    p_value: float
    difference: float
    ci_low: float
    ci_high: float


def sign_flip_test(differences: Any, *, n_resamples: int = 9999, seed: int = 0) -> float:
    """Two-sided p-value that paired differences are symmetric about 0 (a permutation test).

    Each difference's sign is flipped at random (scipy's `permutation_test`); the test is exact,
    enumerating all 2^n sign patterns, when 2^n ≤ n_resamples + 1. Unlike a t-test it stays
    valid for a handful of discrete answers (n = 2 gives p ≥ 0.5, never a spurious p ≈ 0).
    A single difference, or all-zero differences, give p = 1.
    """
    d = _clean(differences, "differences", 1)
    if len(d) < 2 or not np.any(d):
        return 1.0  # one difference: both sign patterns are as extreme as the observed one
    result = stats.permutation_test(
        (d,), _mean_last_axis, permutation_type="samples", vectorized=True,
        n_resamples=n_resamples, alternative="two-sided", random_state=seed,
    )
    return float(min(1.0, result.pvalue))


def _mean_last_axis(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def welch_t(x: Any, y: Any, confidence: float = 0.95) -> WelchResult:
    """Welch's t test (two-sided), via scipy.stats.ttest_ind(equal_var=False)."""
    _z(confidence)
    a, b = _clean(x, "x", 2), _clean(y, "y", 2)
    if not has_spread(a) and not has_spread(b):
        raise ValueError("both samples are constant: Welch's t is undefined")
    res = stats.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(confidence)
    return WelchResult(
        float(res.statistic),
        float(res.df),
        float(res.pvalue),
        float(a.mean() - b.mean()),
        float(ci.low),
        float(ci.high),
    )


def mean_difference(x: Any, y: Any, confidence: float = 0.95) -> Estimate:
    """mean(x) − mean(y) with Welch's interval (no equal-variance assumption)."""
    r = welch_t(x, y, confidence)
    n = int(np.sum(~np.isnan(np.asarray(x, float))) + np.sum(~np.isnan(np.asarray(y, float))))
    return Estimate(r.difference, r.ci_low, r.ci_high, n, "welch", confidence, r.p_value)


def cohen_d(x: Any, y: Any, confidence: float = 0.95) -> Estimate:
    """Cohen's d = (mean x − mean y) / pooled SD, with an exact noncentral-t interval.

    The interval inverts the noncentral t distribution of t = d·sqrt(n1 n2/(n1 + n2))
    (Steiger & Fouladi 1997); exact under normality with equal variances. Written here with
    scipy's nct and brentq because scipy has no effect-size interval.
    """
    _z(confidence)
    a, b = _clean(x, "x", 2), _clean(y, "y", 2)
    n1, n2 = len(a), len(b)
    df = n1 + n2 - 2
    sp = np.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / df)
    if not (has_spread(a) or has_spread(b)):
        raise ValueError("both samples are constant: Cohen's d is undefined")
    d = float((a.mean() - b.mean()) / sp)
    k = np.sqrt(1 / n1 + 1 / n2)
    t_obs = d / k
    alpha = 1 - confidence

    def root(target: float) -> float:
        f = lambda ncp: stats.nct.cdf(t_obs, df, ncp) - target  # noqa: E731
        lo, hi = t_obs - 10.0, t_obs + 10.0
        while f(lo) < 0:
            lo -= 10.0
        while f(hi) > 0:
            hi += 10.0
        return float(optimize.brentq(f, lo, hi, xtol=1e-12))

    low = root(1 - alpha / 2) * k
    high = root(alpha / 2) * k
    return Estimate(d, low, high, n1 + n2, "noncentral t", confidence)


def _pairs(x: Any, y: Any, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if len(a) != len(b):
        raise ValueError(f"x and y differ in length ({len(a)} vs {len(b)})")
    keep = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[keep], b[keep]
    if len(a) < minimum:
        raise ValueError(f"need at least {minimum} complete pairs for an interval, got {len(a)}")
    if not has_spread(a) or not has_spread(b):
        raise ValueError("constant input: the correlation is undefined")
    return a, b


def _fisher_ci(r: float, var_z: float, confidence: float) -> tuple[float, float]:
    z = _z(confidence)
    zr = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
    h = z * np.sqrt(var_z)
    return float(np.tanh(zr - h)), float(np.tanh(zr + h))


def spearman(x: Any, y: Any, confidence: float = 0.95) -> Estimate:
    """Spearman's rho (average ranks for ties) with a Fisher-z interval.

    Interval: tanh(atanh(r) ± z·sqrt((1 + r²/2)/(n − 3))), the Bonett & Wright (2000)
    variance, which keeps coverage near nominal for |rho| ≤ 0.9 and n ≥ 10. p-value: scipy
    (t approximation). Needs n ≥ 4 complete pairs.
    """
    a, b = _pairs(x, y, 4)
    res = stats.spearmanr(a, b)
    r = float(res.statistic)
    lo, hi = _fisher_ci(r, (1 + r * r / 2) / (len(a) - 3), confidence)
    return Estimate(r, lo, hi, len(a), "fisher-z bonett-wright", confidence, float(res.pvalue))


def kendall(x: Any, y: Any, confidence: float = 0.95) -> Estimate:
    """Kendall's tau-b (tie-corrected) with a Fisher-z interval.

    Interval: tanh(atanh(tau) ± z·sqrt(0.437/(n − 4))), the Fieller, Hartley & Pearson (1957)
    variance. p-value: scipy (exact for small samples without ties). Needs n ≥ 5 pairs.
    """
    a, b = _pairs(x, y, 5)
    res = stats.kendalltau(a, b)
    r = float(res.statistic)
    lo, hi = _fisher_ci(r, 0.437 / (len(a) - 4), confidence)
    return Estimate(r, lo, hi, len(a), "fisher-z fieller", confidence, float(res.pvalue))


def benjamini_hochberg(p_values: Any) -> Any:
    """Benjamini–Hochberg adjusted p-values (false discovery rate), same shape as the input.

    NaN entries stay NaN and are not counted among the tests. A pandas Series keeps its index.
    """
    is_series = isinstance(p_values, pd.Series)
    p = np.asarray(p_values, dtype=float)
    shape = p.shape
    flat = p.ravel()
    if flat.size == 0:
        raise ValueError("empty input: no p-values")
    ok = ~np.isnan(flat)
    if np.any((flat[ok] < 0) | (flat[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    out = np.full(flat.shape, np.nan)
    q = flat[ok]
    m = q.size
    if m:
        order = np.argsort(q, kind="stable")
        ranked = q[order] * m / np.arange(1, m + 1)
        adj = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
        res = np.empty(m)
        res[order] = adj
        out[ok] = res
    out = out.reshape(shape)
    if is_series:
        return pd.Series(out, index=p_values.index, name=p_values.name)
    return out
