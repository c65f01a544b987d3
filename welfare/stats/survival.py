"""Time to event: Kaplan–Meier with Greenwood intervals, and the k-sample log-rank test.

Used for "turns until the conversation was ended": ``durations`` is the last turn observed,
``ended`` is True when the model ended the conversation at that turn and False when the
conversation stopped for another reason (turn limit, user left): right-censored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from welfare.stats.intervals import Estimate, _z

__all__ = [
    "LogRankResult",
    "kaplan_meier",
    "logrank_test",
    "median_survival",
    "stratified_logrank_test",
    "survival_at",
]

SURVIVAL_TOL = 1e-9
"""S(t) within this of 0.5 counts as 0.5: a product of fractions like 1/2 · 1 rounds to
0.49999999999999994 or 0.5000000000000001, which decides between two turns."""

Transform = Literal["log-log", "log", "plain"]


def _inputs(durations: Any, ended: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(durations, dtype=float)
    e = np.asarray(ended)
    if t.ndim != 1 or e.ndim != 1 or len(t) != len(e):
        raise ValueError("durations and ended must be 1-D and of equal length")
    if len(t) == 0:
        raise ValueError("empty input: no durations")
    if np.any(~np.isfinite(t)) or np.any(t < 0):
        raise ValueError("durations must be finite and non-negative")
    if e.dtype.kind not in "biu" and not np.all(np.isin(e, [0, 1, True, False])):
        raise ValueError("ended must be boolean (True = event observed, False = censored)")
    return t, e.astype(bool)


def kaplan_meier(
    durations: Any,
    ended: Any,
    confidence: float = 0.95,
    transform: Transform = "log-log",
) -> pd.DataFrame:
    """Kaplan–Meier survival table: turn, at_risk, events, censored, survival, se, ci_low, ci_high.

    One row per distinct time (events or censorings). ``se`` is Greenwood's standard error of
    S(t). Pointwise intervals use the log-log transform by default (never leave [0, 1]; better
    coverage in the tails than the plain interval); ``transform="log"`` matches R's survfit
    default. Where S(t) = 1 (no events yet) or 0 the interval is degenerate at that value.
    """
    z = _z(confidence)
    t, e = _inputs(durations, ended)
    times, inv = np.unique(t, return_inverse=True)
    events = np.bincount(inv, weights=e.astype(float), minlength=len(times))
    total = np.bincount(inv, minlength=len(times)).astype(float)
    censored = total - events
    at_risk = total[::-1].cumsum()[::-1]
    frac = 1.0 - events / at_risk
    surv = np.cumprod(frac)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(events > 0, events / (at_risk * (at_risk - events)), 0.0)
        var_cum = np.cumsum(terms)  # Greenwood: Σ d / (n (n − d)); inf once S hits 0
        se = surv * np.sqrt(var_cum)
        if transform == "log-log":
            log_s = np.log(surv)
            se_ll = np.sqrt(var_cum) / np.abs(log_s)
            low = surv ** np.exp(z * se_ll)
            high = surv ** np.exp(-z * se_ll)
        elif transform == "log":
            low = surv * np.exp(-z * np.sqrt(var_cum))
            high = np.minimum(surv * np.exp(z * np.sqrt(var_cum)), 1.0)
        elif transform == "plain":
            low = np.clip(surv - z * se, 0, 1)
            high = np.clip(surv + z * se, 0, 1)
        else:
            raise ValueError(f"unknown transform {transform!r}; use 'log-log', 'log' or 'plain'")
    zero = surv <= 0
    one = var_cum == 0
    se = np.where(zero, 0.0, se)
    low = np.where(zero, 0.0, np.where(one, surv, low))
    high = np.where(zero, 0.0, np.where(one, surv, high))
    return pd.DataFrame(
        {
            "turn": times,
            "at_risk": at_risk.astype(int),
            "events": events.astype(int),
            "censored": censored.astype(int),
            "survival": surv,
            "se": se,
            "ci_low": low,
            "ci_high": high,
        }
    )


def survival_at(table: pd.DataFrame, turn: float) -> Estimate:
    """S(turn) with its interval from a :func:`kaplan_meier` table (right-continuous step).

    For "share ended by turn t" use 1 − S(t): ``1 - est.estimate``, interval (1 − high, 1 − low).
    """
    if table.empty:
        raise ValueError("empty survival table")
    pos = np.searchsorted(table["turn"].to_numpy(), turn, side="right") - 1
    n = int(table["at_risk"].iloc[0])
    if pos < 0:
        return Estimate(1.0, 1.0, 1.0, n, "kaplan-meier")
    row = table.iloc[pos]
    return Estimate(
        float(row["survival"]), float(row["ci_low"]), float(row["ci_high"]), n, "kaplan-meier"
    )


def median_survival(table: pd.DataFrame, tol: float = SURVIVAL_TOL) -> Estimate:
    """Median survival time with the Brookmeyer–Crowley interval, from a :func:`kaplan_meier` table.

    The median is the first time with S(t) ≤ 0.5; where S sits exactly at 0.5 (within ``tol``)
    on a plateau, it is the midpoint of that time and the next time S drops (R's survfit
    convention; lifelines takes the plateau's start). The interval is the set of times whose
    pointwise band contains 0.5: from the first time whose lower limit is ≤ 0.5 to the first
    whose upper limit is ≤ 0.5 (comparisons with the same tolerance). NaN: not reached within
    the follow-up. ``n`` is the number of subjects at risk at the start.
    """
    if table.empty:
        raise ValueError("empty survival table")
    turn = table["turn"].to_numpy(dtype=float)
    surv = table["survival"].to_numpy(dtype=float)

    def first(values: np.ndarray) -> float:
        hit = np.flatnonzero(values <= 0.5 + tol)
        return float(turn[hit[0]]) if len(hit) else float("nan")

    med = first(surv)
    if med == med:
        k = int(np.flatnonzero(surv <= 0.5 + tol)[0])
        if abs(surv[k] - 0.5) <= tol:
            below = np.flatnonzero(surv < 0.5 - tol)
            # on the 0.5 plateau: midpoint with the next drop; no drop seen → not determined
            med = 0.5 * (turn[k] + turn[below[0]]) if len(below) else float("nan")
    low = first(table["ci_low"].to_numpy(dtype=float))
    high = first(table["ci_high"].to_numpy(dtype=float))
    n = int(table["at_risk"].iloc[0])
    return Estimate(med, low, high, n, "kaplan-meier median, brookmeyer-crowley")


@dataclass(frozen=True)
class LogRankResult:
    """k-sample log-rank (Mantel–Haenszel) test: χ² statistic on k − 1 df."""

    statistic: float
    df: int
    p_value: float
    observed: pd.Series
    expected: pd.Series


def logrank_test(durations: Any, ended: Any, groups: Any) -> LogRankResult:
    """Log-rank test that k groups share one survival curve (equal weights at each event time).

    Uses the hypergeometric variance with the tie correction (n − d)/(n − 1), as R's survdiff.
    Raises ValueError with fewer than two groups or no events at all.
    """
    t, e = _inputs(durations, ended)
    g = np.asarray(groups)
    if len(g) != len(t):
        raise ValueError("groups must have one label per duration")
    codes, labels = pd.factorize(pd.Series(g), sort=True)
    if (codes < 0).any():
        raise ValueError("groups contain missing labels")
    k = len(labels)
    if k < 2:
        raise ValueError("log-rank test needs at least two groups")
    if not e.any():
        raise ValueError("no events in any group: the log-rank test is undefined")
    times, inv = np.unique(t, return_inverse=True)
    nt = len(times)
    d_gt = np.zeros((nt, k))
    c_gt = np.zeros((nt, k))
    np.add.at(d_gt, (inv, codes), e.astype(float))
    np.add.at(c_gt, (inv, codes), 1.0)
    n_gt = c_gt[::-1].cumsum(axis=0)[::-1]  # at risk in each group at each time
    d = d_gt.sum(axis=1)
    n = n_gt.sum(axis=1)
    keep = d > 0
    d, n, d_gt, n_gt = d[keep], n[keep], d_gt[keep], n_gt[keep]
    share = n_gt / n[:, None]
    observed = d_gt.sum(axis=0)
    expected = (d[:, None] * share).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    cov = np.einsum("t,ti,tj->ij", f, share, share)
    var = np.diag((f[:, None] * share).sum(axis=0)) - cov
    diff = (observed - expected)[:-1]
    v = var[:-1, :-1]
    stat = float(diff @ np.linalg.pinv(v) @ diff)
    df = k - 1
    return LogRankResult(
        stat,
        df,
        float(stats.chi2.sf(stat, df)),
        pd.Series(observed, index=labels, name="observed"),
        pd.Series(expected, index=labels, name="expected"),
    )


def stratified_logrank_test(durations: Any, ended: Any, groups: Any, strata: Any
                            ) -> LogRankResult:
    """Log-rank test of k groups stratified by ``strata`` (e.g. the scenario both subjects saw).

    Observed − expected and the hypergeometric variance are computed within each stratum and
    summed (R's ``survdiff(... + strata(s))``), so subjects are compared on the same scenarios:
    the paired design's analogue of the log-rank test. Strata with a single group or without
    events contribute nothing.
    """
    t, e = _inputs(durations, ended)
    g = np.asarray(groups)
    s = np.asarray(strata)
    if len(g) != len(t) or len(s) != len(t):
        raise ValueError("groups and strata must have one label per duration")
    codes, labels = pd.factorize(pd.Series(g), sort=True)
    if (codes < 0).any():
        raise ValueError("groups contain missing labels")
    k = len(labels)
    if k < 2:
        raise ValueError("log-rank test needs at least two groups")
    if not e.any():
        raise ValueError("no events in any group: the log-rank test is undefined")
    o_minus_e = np.zeros(k)
    observed = np.zeros(k)
    expected = np.zeros(k)
    var = np.zeros((k, k))
    for stratum in pd.unique(pd.Series(s)):
        m = s == stratum
        tt, ee, cc = t[m], e[m], codes[m]
        times, inv = np.unique(tt, return_inverse=True)
        d_gt = np.zeros((len(times), k))
        c_gt = np.zeros((len(times), k))
        np.add.at(d_gt, (inv, cc), ee.astype(float))
        np.add.at(c_gt, (inv, cc), 1.0)
        n_gt = c_gt[::-1].cumsum(axis=0)[::-1]
        d = d_gt.sum(axis=1)
        n = n_gt.sum(axis=1)
        keep = d > 0
        if not keep.any():
            continue
        d, n, d_gt, n_gt = d[keep], n[keep], d_gt[keep], n_gt[keep]
        share = n_gt / n[:, None]
        obs = d_gt.sum(axis=0)
        exp = (d[:, None] * share).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
        var += np.diag((f[:, None] * share).sum(axis=0)) - np.einsum("t,ti,tj->ij", f, share,
                                                                     share)
        observed += obs
        expected += exp
        o_minus_e += obs - exp
    diff = o_minus_e[:-1]
    stat = float(diff @ np.linalg.pinv(var[:-1, :-1]) @ diff)
    return LogRankResult(
        stat, k - 1, float(stats.chi2.sf(stat, k - 1)),
        pd.Series(observed, index=labels, name="observed"),
        pd.Series(expected, index=labels, name="expected"),
    )
