"""Paired-comparison models: Bradley–Terry (primary), Thurstone, and Elo (for comparison).

Why Bradley–Terry is the primary estimate: it is the maximum-likelihood fit of
P(i beats j) = 1 / (1 + exp(-(s_i - s_j))) to all comparisons at once, so it does not depend on
the order the comparisons happened in, has no tuning constant, and comes with standard errors
from the observed information. Elo is an online, order-dependent stochastic-gradient
approximation of the same model (rating ≈ 1500 + 400/ln 10 · s); it is provided only so results
can be set beside published Elo-based numbers.

``method="firth"`` gives Firth's bias-reduced fit (Firth 1993; for Bradley–Terry, Turner &
Firth's BradleyTerry2 with ``br = TRUE``): with a few dozen comparisons per item the MLE spreads
scores outward by O(1/m), and it does not exist at all when an item never wins or never loses;
the Firth estimate removes the O(1/m) bias and is finite whenever the items are connected.

Input shape (all functions): a DataFrame with columns ``winner`` and ``loser`` and optionally a
``count`` column (frequency weights) and a tie column; a tied comparison counts as half a win to
each side.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import linalg, optimize, sparse, special
from scipy.sparse import csgraph
from scipy.sparse import linalg as sparse_linalg

from welfare.stats.intervals import Estimate, _z

__all__ = [
    "BTBootstrap",
    "BTFit",
    "BTOrderFit",
    "bradley_terry",
    "bradley_terry_fit",
    "bradley_terry_order_fit",
    "bt_bootstrap",
    "confident_items",
    "elo",
    "latent_shares",
    "pair_counts",
    "thurstone_case_v",
    "thurstonian_mle",
]

_MAX_LIST = 10

Method = Literal["ml", "firth"]

START_TOLS = (1e-2, 1e-4)
"""Newton tolerances of the two pseudo-count rounds that start the Firth iteration."""


# ---------------------------------------------------------------------------------------------
# Aggregation


@dataclass(frozen=True)
class _Pairs:
    """Comparisons aggregated to unordered pairs (i < j): wins of i over j and of j over i."""

    items: pd.Index
    i: np.ndarray
    j: np.ndarray
    w_ij: np.ndarray
    w_ji: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.items)


def _names(values: Sequence[Any]) -> str:
    vals = list(values)
    shown = ", ".join(repr(v) for v in vals[:_MAX_LIST])
    return shown + (f", … ({len(vals)} in all)" if len(vals) > _MAX_LIST else "")


def _aggregate(
    comparisons: pd.DataFrame,
    items: Sequence[Hashable] | None,
    count: str | None,
    ties: str | None,
) -> _Pairs:
    if not isinstance(comparisons, pd.DataFrame):
        raise TypeError("comparisons must be a DataFrame with columns 'winner' and 'loser'")
    missing = {"winner", "loser"} - set(comparisons.columns)
    if missing:
        raise ValueError(f"comparisons lacks column(s) {sorted(missing)}")
    if ties is not None and ties not in comparisons.columns:
        raise ValueError(f"tie column {ties!r} not in comparisons")
    df = comparisons
    if count is not None and count in df.columns:
        w = df[count].to_numpy(dtype=float)
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"column {count!r} must hold finite non-negative counts")
    else:
        w = np.ones(len(df))
    if df["winner"].isna().any() or df["loser"].isna().any():
        raise ValueError("winner/loser contain missing values")
    self_pairs = (df["winner"].to_numpy() == df["loser"].to_numpy()) & (w > 0)
    if self_pairs.any():
        raise ValueError(f"{int(self_pairs.sum())} comparison(s) of an item with itself")
    if items is None:
        seen = pd.unique(pd.concat([df["winner"], df["loser"]], ignore_index=True))
        try:
            index = pd.Index(sorted(seen))
        except TypeError:
            index = pd.Index(seen)
    else:
        index = pd.Index(list(items))
        if index.has_duplicates:
            raise ValueError("items contains duplicates")
    if len(index) == 0 or len(df) == 0 or w.sum() == 0:
        raise ValueError("empty input: no comparisons")
    a = index.get_indexer(df["winner"])
    b = index.get_indexer(df["loser"])
    if (a < 0).any() or (b < 0).any():
        unknown = set(df["winner"][a < 0]) | set(df["loser"][b < 0])
        raise ValueError(
            f"comparisons name items not in `items`: {_names(sorted(map(str, unknown)))}"
        )
    tie = (
        df[ties].fillna(False).to_numpy(dtype=bool) if ties is not None else np.zeros(len(df), bool)
    )
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    n = len(index)
    key = lo.astype(np.int64) * n + hi
    a_is_lo = a == lo
    # wins of the lower-indexed item (full win, or half of a tie)
    win_lo = np.where(tie, 0.5 * w, np.where(a_is_lo, w, 0.0))
    win_hi = np.where(tie, 0.5 * w, np.where(a_is_lo, 0.0, w))
    ukey, inv = np.unique(key, return_inverse=True)
    w_lo = np.bincount(inv, weights=win_lo, minlength=len(ukey))
    w_hi = np.bincount(inv, weights=win_hi, minlength=len(ukey))
    keep = (w_lo + w_hi) > 0
    ukey, w_lo, w_hi = ukey[keep], w_lo[keep], w_hi[keep]
    return _Pairs(index, (ukey // n).astype(np.intp), (ukey % n).astype(np.intp), w_lo, w_hi)


def pair_counts(comparisons: pd.DataFrame, count: str | None = "count") -> pd.DataFrame:
    """Square matrix of wins: entry [i, j] = times row item beat column item (ties as half)."""
    p = _aggregate(comparisons, None, count, None)
    m = np.zeros((p.n_items, p.n_items))
    m[p.i, p.j] = p.w_ij
    m[p.j, p.i] = p.w_ji
    return pd.DataFrame(m, index=p.items, columns=p.items)


_HINT_RIDGE = " Pass regularization > 0 for a penalised (ridge) fit."
_HINT = (
    " Pass method='firth' (bias-reduced, finite whenever the items are connected) or"
    " regularization > 0 for a penalised (ridge) fit."
)


def _check_connected(p: _Pairs) -> None:
    """Raise a clear ValueError unless every item is compared and the comparison graph connects.

    This is what any fit without a prior needs (the Firth estimate exists exactly then).
    """
    n = p.n_items
    if n < 2:
        raise ValueError(f"need at least 2 items to compare, got {n}")
    tot = p.w_ij + p.w_ji
    games = np.bincount(p.i, tot, n) + np.bincount(p.j, tot, n)
    unseen = p.items[games == 0]
    if len(unseen):
        raise ValueError(
            f"items with no comparisons: {_names(unseen)}; their scores are not estimable."
            f"{_HINT_RIDGE}"
        )
    und = sparse.coo_matrix((np.ones(len(p.i)), (p.i, p.j)), shape=(n, n))
    ncomp, labels = csgraph.connected_components(und, directed=False)
    if ncomp > 1:
        groups = [p.items[labels == c].tolist() for c in range(min(ncomp, 3))]
        raise ValueError(
            f"comparison graph is not connected ({ncomp} components, e.g. {groups[0][:5]} and "
            f"{groups[1][:5]}): scores in different components cannot be compared.{_HINT_RIDGE}"
        )


def _check_identifiable(p: _Pairs, hint: str = _HINT) -> None:
    """Raise a clear ValueError when the BT maximum-likelihood estimate does not exist.

    The MLE exists iff the directed 'beat' graph is strongly connected (Ford 1957).
    """
    _check_connected(p)
    n = p.n_items
    wins = np.bincount(p.i, p.w_ij, n) + np.bincount(p.j, p.w_ji, n)
    losses = np.bincount(p.i, p.w_ji, n) + np.bincount(p.j, p.w_ij, n)
    never_won = p.items[wins == 0]
    if len(never_won):
        raise ValueError(
            f"item(s) never won a comparison: {_names(never_won)}; their "
            f"maximum-likelihood score is -infinity.{hint}"
        )
    never_lost = p.items[losses == 0]
    if len(never_lost):
        raise ValueError(
            f"item(s) never lost a comparison: {_names(never_lost)}; their "
            f"maximum-likelihood score is +infinity.{hint}"
        )
    src = np.concatenate([p.i[p.w_ij > 0], p.j[p.w_ji > 0]])
    dst = np.concatenate([p.j[p.w_ij > 0], p.i[p.w_ji > 0]])
    beat = sparse.coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    ncomp, labels = csgraph.connected_components(beat, directed=True, connection="strong")
    if ncomp > 1:
        # a component with no 'beat' edge coming in from outside never loses to the rest
        inc = np.ones(ncomp, bool)
        inc[np.unique(labels[dst][labels[src] != labels[dst]])] = False
        top = p.items[labels == np.flatnonzero(inc)[0]]
        raise ValueError(
            f"the group of items {_names(top)} never lost to any item outside it, so the "
            f"maximum-likelihood scores diverge.{hint}"
        )


# ---------------------------------------------------------------------------------------------
# Bradley–Terry by Newton's method on the pair counts


def _warm_start(p: _Pairs, lam: float, steps: int = 5) -> np.ndarray:
    """Cheap O(pairs) start for Newton: smoothed log-odds, then a few MM (Zermelo) updates."""
    n = p.n_items
    tot = p.w_ij + p.w_ji
    wins = np.bincount(p.i, p.w_ij, n) + np.bincount(p.j, p.w_ji, n)
    games = np.bincount(p.i, tot, n) + np.bincount(p.j, tot, n)
    theta = np.log((wins + 0.5) / (games - wins + 0.5))
    if lam > 0:
        return theta - theta.mean()
    safe = np.maximum(wins, 0.5)
    for _ in range(steps):
        e = np.exp(theta - theta.max())
        r = tot / (e[p.i] + e[p.j])
        denom = np.bincount(p.i, r, n) + np.bincount(p.j, r, n)
        theta = np.log(safe) - np.log(np.maximum(denom, 1e-300))
        theta -= theta.mean()
    return theta


def _sparse_step(p: _Pairs, h: np.ndarray, lam: float, grad: np.ndarray) -> np.ndarray:
    """Newton step for many items: solve (L + λI) δ = ∇ by Jacobi-preconditioned CG.

    L is the sparse weighted Laplacian (O(pairs) per product), so no dense O(n³) work per step;
    ∇ sums to zero (λ = 0) and CG stays in the mean-zero subspace where L is positive definite.
    """
    n = p.n_items
    rows = np.concatenate([p.i, p.j, p.i, p.j])
    cols = np.concatenate([p.i, p.j, p.j, p.i])
    lap = sparse.csr_matrix((np.concatenate([h, h, -h, -h]), (rows, cols)), shape=(n, n))
    if lam > 0:
        lap = lap + lam * sparse.identity(n, format="csr")
    diag = lap.diagonal() + 1.0 / n
    # + 11ᵀ/n makes the operator positive definite without changing the mean-zero solution
    op = sparse_linalg.LinearOperator((n, n), matvec=lambda x: lap @ x + x.mean(), dtype=float)
    precond = sparse_linalg.LinearOperator((n, n), matvec=lambda x: x / diag, dtype=float)
    # an inexact step is fine: the line search keeps ascent and steps vanish as ∇ → 0
    step, _ = sparse_linalg.cg(op, grad, rtol=1e-10, atol=0.0, maxiter=n, M=precond)
    return step - step.mean() if lam == 0 else step


def _bt_newton(
    p: _Pairs,
    lam: float,
    theta0: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
    need_info: bool = True,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Maximise the (ridge-penalised) BT log-likelihood; return theta, info matrix, loglik, iters.

    The negative Hessian is a weighted graph Laplacian L; a Newton step solves
    (L + 11ᵀ/n + λI) δ = ∇, which keeps scores mean-zero (exact for the Laplacian null space).
    """
    n = p.n_items
    tot = p.w_ij + p.w_ji
    theta = _warm_start(p, lam) if theta0 is None else theta0 - theta0.mean()
    flat_ii = p.i * n + p.i
    flat_jj = p.j * n + p.j
    flat_ij = p.i * n + p.j
    flat_ji = p.j * n + p.i
    idx_all = np.concatenate([flat_ii, flat_jj, flat_ij, flat_ji])

    def loglik(t: np.ndarray) -> float:
        d = t[p.i] - t[p.j]
        return float(
            np.sum(p.w_ij * special.log_expit(d) + p.w_ji * special.log_expit(-d))
            - 0.5 * lam * t @ t
        )

    ll = loglik(theta)
    it = 0
    while True:
        it += 1
        if it > max_iter:
            raise RuntimeError("Bradley–Terry Newton iterations did not converge")
        d = theta[p.i] - theta[p.j]
        pr = special.expit(d)
        r = p.w_ij - tot * pr
        grad = np.bincount(p.i, r, n) - np.bincount(p.j, r, n) - lam * theta
        h = tot * pr * (1 - pr)
        if n <= 200:  # dense LAPACK via numpy: least overhead for the many small bootstrap fits
            info = np.bincount(idx_all, np.concatenate([h, h, -h, -h]), n * n).reshape(n, n)
            a = info + 1.0 / n
            a[np.diag_indices(n)] += lam
            step = np.linalg.solve(a, grad)
        else:
            step = _sparse_step(p, h, lam, grad)
        t_new = theta + step
        ll_new = loglik(t_new)
        halvings = 0
        while ll_new < ll - 1e-12 * max(1.0, abs(ll)) and halvings < 30:
            step *= 0.5
            t_new = theta + step
            ll_new = loglik(t_new)
            halvings += 1
        theta, ll = t_new - t_new.mean(), ll_new
        if np.max(np.abs(step)) < tol:
            break
    if not need_info:
        return theta, np.empty((0, 0)), ll, it
    # information at the solution
    d = theta[p.i] - theta[p.j]
    pr = special.expit(d)
    h = tot * pr * (1 - pr)
    info = np.bincount(idx_all, np.concatenate([h, h, -h, -h]), n * n).reshape(n, n)
    info[np.diag_indices(n)] += lam
    return theta, info, ll, it


def _centred_cov(info: np.ndarray) -> np.ndarray:
    """Covariance of mean-centred scores: P (I_obs)^- P, via (I + 11ᵀ/n)^{-1} then centring."""
    n = info.shape[0]
    # one Cholesky factorisation and an in-place inverse from it (LAPACK potrf + potri)
    chol, fail = linalg.lapack.dpotrf(info + 1.0 / n, lower=True)
    if fail != 0:
        raise linalg.LinAlgError("information matrix is not positive definite")
    c, fail = linalg.lapack.dpotri(chol, lower=True)
    if fail != 0:
        raise linalg.LinAlgError("could not invert the information matrix")
    c = np.tril(c) + np.tril(c, -1).T
    r = c.mean(axis=1)
    return c - r[:, None] - r[None, :] + r.mean()


# ---------------------------------------------------------------------------------------------
# Firth's bias-reduced Bradley–Terry


@dataclass(frozen=True)
class _FirthPoint:
    """Everything the Firth iteration needs at one θ: win probabilities, pair information
    weights, the Cholesky factor of the information and the penalised log-likelihood."""

    theta: np.ndarray
    pr: np.ndarray
    h: np.ndarray
    chol: np.ndarray
    loglik: float
    penalised: float


def _dense_index(p: _Pairs) -> np.ndarray:
    """Flat positions of the (ii, jj, ij, ji) entries of every pair in an n × n matrix."""
    n = p.n_items
    return np.concatenate([p.i * n + p.i, p.j * n + p.j, p.i * n + p.j, p.j * n + p.i])


def _firth_point(p: _Pairs, theta: np.ndarray, idx_all: np.ndarray) -> _FirthPoint:
    """Evaluate loglik + ½ log det I(θ) at θ (one Cholesky factorisation of I + 11ᵀ/n).

    det(I + 11ᵀ/n) is the product of the non-zero eigenvalues of the Laplacian I, i.e. det of
    the information in any anchored parametrisation up to a constant, so the maximiser is the
    same whichever item (or mean) is anchored.
    """
    n = p.n_items
    d = theta[p.i] - theta[p.j]
    pr = special.expit(d)
    h = (p.w_ij + p.w_ji) * pr * (1.0 - pr)
    info = np.bincount(idx_all, np.concatenate([h, h, -h, -h]), n * n).reshape(n, n)
    info += 1.0 / n
    chol, fail = linalg.lapack.dpotrf(info, lower=True, overwrite_a=True)
    if fail != 0:
        raise linalg.LinAlgError("information matrix is not positive definite")
    ll = float(np.sum(p.w_ij * special.log_expit(d) + p.w_ji * special.log_expit(-d)))
    logdet = 2.0 * float(np.sum(np.log(np.diag(chol))))
    return _FirthPoint(theta, pr, h, chol, ll, ll + 0.5 * logdet)


def _firth_start(p: _Pairs) -> np.ndarray:
    """Cheap start near the Firth estimate: the MLE of the counts plus approximate pseudo-counts.

    Firth's estimate is the MLE after adding h_k/2 wins to each side of pair k (h_k its hat
    value); here h_k is approximated by w_k (1/I_ii + 1/I_jj), needing no matrix inverse, and
    the augmented MLE (which always exists on a connected graph) is found by the sparse Newton.
    """
    n = p.n_items
    theta = _warm_start(p, 1.0)
    for tol in START_TOLS:  # hats at the warm start, then again near the answer
        pr = special.expit(theta[p.i] - theta[p.j])
        h = (p.w_ij + p.w_ji) * pr * (1.0 - pr)
        diag = np.bincount(p.i, h, n) + np.bincount(p.j, h, n)
        lev = np.clip(h * (1.0 / diag[p.i] + 1.0 / diag[p.j]), 0.0, 1.0)
        aug = _Pairs(p.items, p.i, p.j, p.w_ij + 0.5 * lev, p.w_ji + 0.5 * lev)
        theta, _, _, _ = _bt_newton(aug, 0.0, theta, tol=tol, need_info=False)
    return theta


def _bt_firth(
    p: _Pairs,
    theta0: np.ndarray | None = None,
    tol: float = 1e-9,
    max_iter: int = 100,
    memory: int = 3,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Maximise loglik + ½ log det I(θ) (Firth 1993); return theta, centred cov, loglik, iters.

    Fisher scoring on the modified score U*(θ) = Σ_k (y_k + h_k/2 − (m_k + h_k) p_k) x_k, the
    exact gradient of the penalised log-likelihood for this logistic model, with hat values
    h_k = w_k (e_i − e_j)ᵀ I⁻ (e_i − e_j) read off the inverse information that the standard
    errors need anyway. Items that (almost) never win make plain scoring oscillate slowly, so
    steps are Anderson-accelerated (``memory`` past steps), and a step that would lower the
    penalised log-likelihood falls back to plain scoring with step-halving. One dense Cholesky
    factorisation and inverse per iteration; it stops once the last step is below ``tol`` or
    the observed contraction says the error left after it is (the returned covariance is the
    one at the last evaluated point, at most that step away).
    """
    n = p.n_items
    tot = p.w_ij + p.w_ji
    idx_all = _dense_index(p)
    lo, hi = np.maximum(p.i, p.j), np.minimum(p.i, p.j)  # lower-triangle positions of pairs
    theta = _firth_start(p) if theta0 is None else theta0 - theta0.mean()
    pt = _firth_point(p, theta, idx_all)
    past_theta: list[np.ndarray] = []
    past_step: list[np.ndarray] = []
    last = 0.0
    it = 0
    while True:
        it += 1
        if it > max_iter:
            raise RuntimeError("Firth Bradley–Terry iterations did not converge")
        # (I + 11ᵀ/n)⁻¹ = I⁺ + 11ᵀ/n: the constant part cancels in hat values and steps
        c, fail = linalg.lapack.dpotri(pt.chol, lower=True)
        if fail != 0:
            raise linalg.LinAlgError("could not invert the information matrix")
        dg = np.diag(c)
        lev = pt.h * (dg[p.i] + dg[p.j] - 2.0 * c[lo, hi])
        r = p.w_ij + 0.5 * lev - (tot + lev) * pt.pr
        grad = np.bincount(p.i, r, n) - np.bincount(p.j, r, n)
        step, fail = linalg.lapack.dpotrs(pt.chol, grad, lower=True)
        if fail != 0 or not np.all(np.isfinite(step)):
            raise linalg.LinAlgError("could not solve with the information matrix")
        step -= step.mean()
        size = float(np.max(np.abs(step)))
        # stop when this step is tiny, or when the contraction seen so far says that after it
        # the error left is below tol (the iteration converges linearly at rate ρ)
        rho = size / last if last > 0 else 1.0
        if size < tol or (rho < 0.5 and rho / (1.0 - rho) * size < tol):
            break
        last = size
        past_theta = [*past_theta[-memory:], pt.theta]
        past_step = [*past_step[-memory:], step]
        new = None
        if len(past_theta) > 1:
            d_theta = np.diff(np.array(past_theta), axis=0).T
            d_step = np.diff(np.array(past_step), axis=0).T
            gamma = np.linalg.lstsq(d_step, step, rcond=None)[0]
            cand = pt.theta + step - (d_theta + d_step) @ gamma
            if np.all(np.isfinite(cand)):
                new = _firth_point(p, cand - cand.mean(), idx_all)
                if new.penalised < pt.penalised - 1e-12 * max(1.0, abs(pt.penalised)):
                    new = None
        if new is None:  # plain scoring step, halved until uphill
            past_theta, past_step = past_theta[-1:], past_step[-1:]
            scale = 1.0
            for _ in range(30):
                new = _firth_point(p, pt.theta + scale * step, idx_all)
                if new.penalised >= pt.penalised - 1e-12 * max(1.0, abs(pt.penalised)):
                    break
                scale *= 0.5
        pt = new
    theta = pt.theta + step
    c = np.tril(c) + np.tril(c, -1).T
    r_mean = c.mean(axis=1)
    cov = c - r_mean[:, None] - r_mean[None, :] + r_mean.mean()
    d = theta[p.i] - theta[p.j]
    ll = float(np.sum(p.w_ij * special.log_expit(d) + p.w_ji * special.log_expit(-d)))
    return theta, cov, ll, it


def _anchor_weights(items: pd.Index, anchor: Hashable | Sequence[Hashable] | None) -> np.ndarray:
    n = len(items)
    if anchor is None:
        return np.full(n, 1.0 / n)
    if isinstance(anchor, (list, tuple, set, frozenset, pd.Index, np.ndarray, pd.Series)):
        group = list(anchor)
    else:
        group = [anchor]
    if not group:
        raise ValueError("anchor is an empty list")
    pos = items.get_indexer(group)
    if (pos < 0).any():
        bad = [g for g, q in zip(group, pos, strict=True) if q < 0]
        raise ValueError(f"anchor item(s) not among the compared items: {_names(bad)}")
    w = np.zeros(n)
    np.add.at(w, pos, 1.0 / len(group))
    return w


@dataclass(frozen=True, eq=False)
class BTFit:
    """A Bradley–Terry fit: the per-item ``table``, the score covariance ``cov`` and the fit info.

    Scores are log-strengths on the logit scale, P(i beats j) = 1 / (1 + exp(-(s_i - s_j))),
    shifted so the anchor (an item, or the mean of a group of items, or by default the mean of
    all items) is 0; ``cov`` is the covariance of those shifted scores. ``method`` is "ml" or
    "firth"; ``loglik`` is the (unpenalised) log-likelihood at the estimate.
    """

    table: pd.DataFrame
    cov: pd.DataFrame
    loglik: float
    iterations: int
    regularization: float
    confidence: float
    anchor: Any = field(default=None)
    method: str = "ml"

    @property
    def scores(self) -> pd.Series:
        return self.table["score"]

    def contrast(self, weights: Mapping[Hashable, float] | pd.Series) -> Estimate:
        """Linear combination Σ w_i s_i with its Wald interval from the covariance matrix."""
        w = pd.Series(weights, dtype=float).reindex(self.table.index).fillna(0.0).to_numpy()
        unknown = set(pd.Series(weights).index) - set(self.table.index)
        if unknown:
            raise ValueError(f"contrast names unknown items: {_names(sorted(map(str, unknown)))}")
        est = float(w @ self.table["score"].to_numpy())
        se = float(np.sqrt(max(w @ self.cov.to_numpy() @ w, 0.0)))
        z = _z(self.confidence)
        n = int(self.table["n"].sum() // 2)
        return Estimate(est, est - z * se, est + z * se, n, "bradley-terry wald", self.confidence)

    def group_difference(
        self, group_a: Sequence[Hashable], group_b: Sequence[Hashable]
    ) -> Estimate:
        """mean(score over group_a) − mean(score over group_b), with its interval."""
        if not len(group_a) or not len(group_b):
            raise ValueError("both groups must be non-empty")
        w: dict[Hashable, float] = {}
        for g in group_a:
            w[g] = w.get(g, 0.0) + 1.0 / len(group_a)
        for g in group_b:
            w[g] = w.get(g, 0.0) - 1.0 / len(group_b)
        return self.contrast(w)

    def probability(self, i: Hashable, j: Hashable) -> float:
        """Fitted P(i beats j)."""
        s = self.table["score"]
        return float(special.expit(s[i] - s[j]))


def bradley_terry_fit(
    comparisons: pd.DataFrame,
    anchor: Hashable | Sequence[Hashable] | None = None,
    *,
    confidence: float = 0.95,
    count: str | None = "count",
    ties: str | None = None,
    items: Sequence[Hashable] | None = None,
    regularization: float = 0.0,
    method: Method = "ml",
) -> BTFit:
    """Fit Bradley–Terry by maximum likelihood (or Firth); return scores, covariance, fit details.

    Comparisons are aggregated to pair counts (``count`` column = frequency weights, if present;
    rows with a true ``ties`` column count half a win to each side) and fitted by Newton's method.
    Standard errors come from the observed information; intervals are Wald (score ± z·se), whose
    coverage is near nominal once each item has a few dozen comparisons (see benchmarks).
    ``anchor``: an item fixed at 0, or a list of items whose mean is fixed at 0; default mean 0.
    If the MLE does not exist (disconnected graph, an item that never wins or never loses) this
    raises ``ValueError`` naming the items, unless ``regularization`` = λ > 0: then it maximises
    loglik − λ/2·Σ s_i² (a N(0, 1/λ) prior; the MAP estimate) and SEs come from the penalised
    information, i.e. approximate posterior SDs, which shrink toward 0 like the scores do.

    ``method="firth"``: Firth's (1993) bias reduction, the maximiser of loglik + ½ log det I(θ)
    (a Jeffreys prior; the same estimate under any anchor). The MLE's O(1/m) bias (m
    comparisons per item) spreads scores outward, ~10% at m ≈ 24; Firth removes that term
    and, with Wald SEs from I(θ̂)⁻¹, keeps coverage near nominal (benchmarks/calibration.py).
    It is finite whenever the comparison graph is connected, including items that never win or
    never lose (no ridge needed); with two items it is log((w + ½)/(l + ½)). Costs a few more
    dense inversions of I than the MLE (well under 2× the ML fit's time at 1,000 items).
    """
    _z(confidence)
    if regularization < 0:
        raise ValueError("regularization must be >= 0")
    if method not in ("ml", "firth"):
        raise ValueError(f"unknown method {method!r}; use 'ml' or 'firth'")
    if method == "firth" and regularization > 0:
        raise ValueError("method='firth' is already penalised; pass regularization=0 with it")
    p = _aggregate(comparisons, items, count, ties)
    if method == "firth":
        _check_connected(p)
        theta, cov, ll, it = _bt_firth(p)
    else:
        if regularization == 0:
            _check_identifiable(p)
        elif p.n_items < 2:
            raise ValueError(f"need at least 2 items to compare, got {p.n_items}")
        theta, info, ll, it = _bt_newton(p, regularization)
        cov = _centred_cov(info)
    w = _anchor_weights(p.items, anchor)
    if anchor is not None:
        shift = w @ theta
        theta = theta - shift
        v = cov @ w
        cov = cov - v[:, None] - v[None, :] + w @ v
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    z = _z(confidence)
    n = p.n_items
    wins = np.bincount(p.i, p.w_ij, n) + np.bincount(p.j, p.w_ji, n)
    tot = p.w_ij + p.w_ji
    nn = np.bincount(p.i, tot, n) + np.bincount(p.j, tot, n)
    table = pd.DataFrame(
        {
            "score": theta,
            "se": se,
            "ci_low": theta - z * se,
            "ci_high": theta + z * se,
            "wins": wins,
            "n": nn,
        },
        index=p.items.copy(),
    )
    table.index.name = "item"
    cov_df = pd.DataFrame(cov, index=p.items.copy(), columns=p.items.copy())
    return BTFit(table, cov_df, ll, it, float(regularization), confidence, anchor, method)


def bradley_terry(
    comparisons: pd.DataFrame,
    anchor: Hashable | Sequence[Hashable] | None = None,
    *,
    confidence: float = 0.95,
    count: str | None = "count",
    ties: str | None = None,
    items: Sequence[Hashable] | None = None,
    regularization: float = 0.0,
    method: Method = "ml",
) -> pd.DataFrame:
    """Bradley–Terry scores: DataFrame indexed by item with score, se, ci_low, ci_high, wins, n.

    Same arguments and conventions as :func:`bradley_terry_fit` (ties count half a win to each
    side; mean-zero unless ``anchor``; ``method`` "ml" or "firth" for bias-reduced scores). The
    score covariance is in ``table.attrs["cov"]``; use :func:`bradley_terry_fit` for contrasts
    such as mean(group A) − mean(group B).
    """
    fit = bradley_terry_fit(
        comparisons,
        anchor,
        confidence=confidence,
        count=count,
        ties=ties,
        items=items,
        regularization=regularization,
        method=method,
    )
    table = fit.table.copy()
    table.attrs["cov"] = fit.cov
    return table


@dataclass(frozen=True, eq=False)
class BTBootstrap:
    """Bootstrap of BT scores: percentile ``table`` and the ``samples`` (replicate × item).

    ``samples`` lets a caller bootstrap any function of the scores (e.g. the share of harmful
    tasks below the opt-out mean). ``n_failed`` replicates had no finite MLE and were dropped.
    """

    table: pd.DataFrame
    samples: pd.DataFrame
    n_failed: int


def bt_bootstrap(
    comparisons: pd.DataFrame,
    anchor: Hashable | Sequence[Hashable] | None = None,
    *,
    cluster: str | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    count: str | None = "count",
    ties: str | None = None,
    items: Sequence[Hashable] | None = None,
    regularization: float = 0.0,
    seed: int | np.random.Generator | None = None,
    method: Method = "ml",
) -> BTBootstrap:
    """Nonparametric bootstrap of Bradley–Terry scores with percentile intervals.

    Resamples single comparisons (multinomial over rows, weighted by ``count``) or, with
    ``cluster`` = a column name, whole clusters (e.g. the prompt template, rater or conversation
    a comparison came from), which keeps within-cluster dependence that Wald SEs ignore.
    Every replicate is fitted with ``method`` ("ml" or "firth"). Replicates without an estimate
    (ML: an item never wins or never loses; any method: the resampled graph falls apart) are
    dropped and counted in ``n_failed``; if that is common, use ``method="firth"`` or
    ``regularization`` > 0.
    """
    _z(confidence)
    rng = np.random.default_rng(seed)
    base = bradley_terry_fit(
        comparisons,
        anchor,
        confidence=confidence,
        count=count,
        ties=ties,
        items=items,
        regularization=regularization,
        method=method,
    )
    idx = base.table.index
    df = comparisons.reset_index(drop=True)
    w = (
        df[count].to_numpy(dtype=float)
        if count is not None and count in df.columns
        else np.ones(len(df))
    )
    if cluster is None:
        if not np.allclose(w, np.round(w)):
            raise ValueError("comparison bootstrap needs integer counts; use cluster= instead")
        total = round(w.sum())
        probs = w / w.sum()
    else:
        if cluster not in df.columns:
            raise ValueError(f"cluster column {cluster!r} not in comparisons")
        codes, _ = pd.factorize(df[cluster], use_na_sentinel=False)
        n_cl = codes.max() + 1
        if n_cl < 2:
            raise ValueError("need at least 2 clusters to bootstrap over clusters")
    samples = np.full((n_resamples, len(idx)), np.nan)
    aw = _anchor_weights(idx, anchor)
    failed = 0
    # map every row once to its unordered pair and the share of its weight won by the lower item
    a = idx.get_indexer(df["winner"])
    b = idx.get_indexer(df["loser"])
    tie = (
        df[ties].fillna(False).to_numpy(dtype=bool) if ties is not None else np.zeros(len(df), bool)
    )
    lo_i, hi_i = np.minimum(a, b), np.maximum(a, b)
    frac_lo = np.where(tie, 0.5, (a == lo_i).astype(float))
    ukey, pair = np.unique(lo_i.astype(np.int64) * len(idx) + hi_i, return_inverse=True)
    pi, pj = (ukey // len(idx)).astype(np.intp), (ukey % len(idx)).astype(np.intp)
    start = base.table["score"].to_numpy()
    if anchor is not None:
        start = start - start.mean()
    for b_ in range(n_resamples):
        if cluster is None:
            rw = rng.multinomial(total, probs).astype(float)
        else:
            m = np.bincount(rng.integers(0, n_cl, n_cl), minlength=n_cl)
            rw = w * m[codes]
        w_lo = np.bincount(pair, rw * frac_lo, len(ukey))
        w_hi = np.bincount(pair, rw * (1 - frac_lo), len(ukey))
        keep = (w_lo + w_hi) > 0
        p = _Pairs(idx, pi[keep], pj[keep], w_lo[keep], w_hi[keep])
        try:
            if method == "firth":
                _check_connected(p)
                theta, _, _, _ = _bt_firth(p, start, tol=1e-6, max_iter=60)
                samples[b_] = theta - aw @ theta if anchor is not None else theta
                continue
            if regularization == 0:
                # cheap necessary condition first; the full graph check only if Newton struggles
                won = np.bincount(p.i, p.w_ij, p.n_items) + np.bincount(p.j, p.w_ji, p.n_items)
                lost = np.bincount(p.i, p.w_ji, p.n_items) + np.bincount(p.j, p.w_ij, p.n_items)
                if not ((won > 0) & (lost > 0)).all():
                    raise ValueError("an item never won or never lost")
            theta, _, _, _ = _bt_newton(p, regularization, start, max_iter=40, need_info=False)
            if regularization == 0 and np.max(np.abs(theta)) > 25:
                _check_identifiable(p)
        except (ValueError, RuntimeError, linalg.LinAlgError):
            failed += 1
            continue
        samples[b_] = theta - aw @ theta if anchor is not None else theta
    ok = samples[~np.isnan(samples).any(axis=1)]
    a = 1.0 - confidence
    if len(ok):
        lo, hi = np.quantile(ok, [a / 2, 1 - a / 2], axis=0)
        sd = ok.std(axis=0, ddof=1) if len(ok) > 1 else np.full(len(idx), np.nan)
    else:
        lo = hi = sd = np.full(len(idx), np.nan)
    table = pd.DataFrame(
        {"score": base.table["score"], "boot_se": sd, "ci_low": lo, "ci_high": hi}, index=idx
    )
    return BTBootstrap(table, pd.DataFrame(samples, columns=idx), failed)


# ---------------------------------------------------------------------------------------------
# Thurstone


def thurstone_case_v(
    p_matrix: pd.DataFrame | np.ndarray, extreme: float | None = None
) -> pd.Series:
    """Classic Thurstone Case V scale values from a proportion matrix, minimum item at 0.

    ``p_matrix[i, j]`` = proportion of judgements preferring row item i over column item j.
    z = Φ⁻¹(p) is antisymmetrised and the scale solves z_ij ≈ s_i − s_j by least squares over
    the available pairs (= Thurstone's row means of z when the matrix is complete). Proportions
    of 0 or 1 have infinite z: by default those pairs are dropped (classic practice); pass
    ``extreme`` = e to clip proportions to [e, 1 − e] instead. NaN marks a missing pair.
    Scale unit: one standard deviation of a difference of discriminal processes.
    """
    if isinstance(p_matrix, pd.DataFrame):
        names = pd.Index(p_matrix.index)
        pm = p_matrix.to_numpy(dtype=float)
    else:
        pm = np.asarray(p_matrix, dtype=float)
        names = pd.RangeIndex(pm.shape[0]) if pm.ndim == 2 else pd.RangeIndex(0)
    if pm.ndim != 2 or pm.shape[0] != pm.shape[1]:
        raise ValueError("p_matrix must be square (items × items)")
    k = pm.shape[0]
    if k < 2:
        raise ValueError(f"need at least 2 items, got {k}")
    off = ~np.eye(k, dtype=bool)
    vals = pm[off]
    if np.any((vals[~np.isnan(vals)] < 0) | (vals[~np.isnan(vals)] > 1)):
        raise ValueError("proportions must lie in [0, 1]")
    if extreme is not None:
        if not 0 < extreme < 0.5:
            raise ValueError("extreme must be in (0, 0.5)")
        pm = np.clip(pm, extreme, 1 - extreme)
    with np.errstate(divide="ignore"):
        z = special.ndtri(pm)
    z[~np.isfinite(z)] = np.nan
    zt = z.T
    both = ~np.isnan(z) & ~np.isnan(zt)
    anti = np.where(both, (z - zt) / 2, np.where(np.isnan(z), -zt, z))
    iu = np.triu_indices(k, 1)
    y = anti[iu]
    ok = ~np.isnan(y)
    if not ok.any():
        raise ValueError("no usable pairs (all proportions missing, 0 or 1)")
    rows = np.arange(ok.sum())
    design = np.zeros((ok.sum(), k))
    design[rows, iu[0][ok]] = 1.0
    design[rows, iu[1][ok]] = -1.0
    # connectivity: all items must be linked through usable pairs
    g = sparse.coo_matrix((np.ones(ok.sum()), (iu[0][ok], iu[1][ok])), shape=(k, k))
    ncomp, _ = csgraph.connected_components(g, directed=False)
    if ncomp > 1:
        raise ValueError("usable pairs do not connect all items; scale values not comparable")
    s, *_ = np.linalg.lstsq(design, y[ok], rcond=None)
    s = s - s.min()
    return pd.Series(s, index=names, name="scale")


def thurstonian_mle(
    comparisons: pd.DataFrame,
    *,
    confidence: float = 0.95,
    count: str | None = "count",
    ties: str | None = None,
    items: Sequence[Hashable] | None = None,
    regularization: float = 0.0,
    standard_errors: bool = True,
) -> pd.DataFrame:
    """Thurstonian model with a mean and a variance per item, by maximum likelihood.

    P(i ≻ j) = Φ((μ_i − μ_j) / sqrt(σ_i² + σ_j²)), as in "Utility Engineering" (Mazeika et al.
    2025). Identified up to shift and scale, so we report mean(μ) = 0 and geometric-mean σ = 1.
    SEs of μ come from a finite-difference observed information, mapped through the
    normalisation; Wald intervals. ``regularization`` λ adds λ/2·Σ(μ² + log σ²).
    Returns DataFrame per item: mu, se, ci_low, ci_high, sigma, wins, n.
    """
    z_c = _z(confidence)
    p = _aggregate(comparisons, items, count, ties)
    if regularization == 0:
        _check_identifiable(p, _HINT_RIDGE)
    n = p.n_items
    lam = float(regularization)

    def nll_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        mu, rho = x[:n], x[n:]
        s2 = np.exp(2 * rho)
        s = np.sqrt(s2[p.i] + s2[p.j])
        d = (mu[p.i] - mu[p.j]) / s
        lp, lq = special.log_ndtr(d), special.log_ndtr(-d)
        logphi = -0.5 * d * d - 0.5 * np.log(2 * np.pi)
        f = -np.sum(p.w_ij * lp + p.w_ji * lq) + 0.5 * lam * (mu @ mu + rho @ rho)
        dd = -(p.w_ij * np.exp(logphi - lp) - p.w_ji * np.exp(logphi - lq))  # dF/dd
        g_mu = np.bincount(p.i, dd / s, n) - np.bincount(p.j, dd / s, n) + lam * mu
        c = -dd * d / (s * s)
        g_rho = np.bincount(p.i, c * s2[p.i], n) + np.bincount(p.j, c * s2[p.j], n) + lam * rho
        return float(f), np.concatenate([g_mu, g_rho])

    # start from the probit-scale BT solution with equal variances
    try:
        theta0, _, _, _ = _bt_newton(p, max(lam, 1e-6))
    except RuntimeError:
        theta0 = np.zeros(n)
    x0 = np.concatenate([theta0 * 0.6 * np.sqrt(2), np.zeros(n)])
    res = optimize.minimize(
        nll_grad, x0, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-9}
    )
    mu, rho = res.x[:n], res.x[n:]
    c = rho.mean()
    mu_n = (mu - mu.mean()) * np.exp(-c)
    rho_n = rho - c
    se = np.full(n, np.nan)
    if standard_errors:
        x = np.concatenate([mu_n, rho_n])
        h = np.empty((2 * n, 2 * n))
        eps = 1e-5
        for k in range(2 * n):
            e = np.zeros(2 * n)
            e[k] = eps
            h[:, k] = (nll_grad(x + e)[1] - nll_grad(x - e)[1]) / (2 * eps)
        h = 0.5 * (h + h.T)
        hinv = np.linalg.pinv(h, rcond=1e-10, hermitian=True)
        pc = np.eye(n) - 1.0 / n
        jac = np.zeros((n, 2 * n))
        jac[:, :n] = pc
        jac[:, n:] = -mu_n[:, None] / n
        cov = jac @ hinv @ jac.T
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
    wins = np.bincount(p.i, p.w_ij, n) + np.bincount(p.j, p.w_ji, n)
    tot = p.w_ij + p.w_ji
    nn = np.bincount(p.i, tot, n) + np.bincount(p.j, tot, n)
    out = pd.DataFrame(
        {
            "mu": mu_n,
            "se": se,
            "ci_low": mu_n - z_c * se,
            "ci_high": mu_n + z_c * se,
            "sigma": np.exp(rho_n),
            "wins": wins,
            "n": nn,
        },
        index=p.items.copy(),
    )
    out.index.name = "item"
    out.attrs["converged"] = bool(res.success)
    out.attrs["neg_loglik"] = float(res.fun)
    return out


# ---------------------------------------------------------------------------------------------
# Elo


def elo(
    comparisons: pd.DataFrame,
    k: float = 32.0,
    rounds: int = 1,
    *,
    initial: float = 1500.0,
    scale: float = 400.0,
    count: str | None = "count",
    ties: str | None = None,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Sequential Elo ratings, for comparison with published Elo-based results.

    ``rounds=1`` processes comparisons once in the given row order, exactly like a published
    Elo table, so the result depends on that order. ``rounds=R > 1`` runs R independent random
    orders (``seed``) and reports the mean rating and its SD across orders — the
    order-dependence, which BT does not have. Ties score 0.5. Integer ``count`` rows are
    expanded into that many consecutive comparisons. Returns rating, rating_sd, games.
    """
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    p = _aggregate(comparisons, None, count, ties)  # validates and fixes the item index
    items = p.items
    df = comparisons
    if count is not None and count in df.columns:
        reps = df[count].to_numpy()
        if not np.allclose(reps, np.round(reps)):
            raise ValueError("elo needs integer counts")
        reps = np.round(reps).astype(int)
    else:
        reps = np.ones(len(df), int)
    a = np.repeat(items.get_indexer(df["winner"]), reps)
    b = np.repeat(items.get_indexer(df["loser"]), reps)
    score = np.ones(len(a))
    if ties is not None:
        score = np.where(np.repeat(df[ties].fillna(False).to_numpy(bool), reps), 0.5, 1.0)
    m = len(a)
    if rounds == 1:
        orders = np.arange(m)[None, :]
    else:
        rng = np.random.default_rng(seed)
        orders = np.stack([rng.permutation(m) for _ in range(rounds)])
    r_count = orders.shape[0]
    ratings = np.full((r_count, len(items)), float(initial))
    rows = np.arange(r_count)
    # sequential by nature; vectorised across the R orders
    for t in range(m):
        o = orders[:, t]
        ai, bi, sc = a[o], b[o], score[o]
        ra, rb = ratings[rows, ai], ratings[rows, bi]
        expected = 1.0 / (1.0 + 10.0 ** ((rb - ra) / scale))
        delta = k * (sc - expected)
        ratings[rows, ai] = ra + delta
        ratings[rows, bi] = rb - delta
    games = np.bincount(a, minlength=len(items)) + np.bincount(b, minlength=len(items))
    out = pd.DataFrame(
        {
            "rating": ratings.mean(axis=0),
            "rating_sd": ratings.std(axis=0, ddof=1) if r_count > 1 else np.nan,
            "games": games,
        },
        index=items.copy(),
    )
    out.index.name = "item"
    return out


# ---------------------------------------------------------------------------------------------
# Bradley–Terry with an order (position) term


@dataclass(frozen=True, eq=False)
class BTOrderFit:
    """Bradley–Terry scores fitted jointly with an order term β (the pull of the first-shown item).

    P(first-shown i chosen over j) = logistic(s_i − s_j + β). ``fit`` is a :class:`BTFit` of the
    scores (anchored as asked; its ``cov`` is the scores' covariance with β estimated, not held
    fixed), ``position`` is β with its Wald interval and two-sided p-value (H0: β = 0), and
    ``cov_beta`` is the covariance of each anchored score with β.
    """

    fit: BTFit
    position: Estimate
    cov_beta: pd.Series


def _ordered_counts(
    trials: pd.DataFrame, first: str, second: str, first_won: str, count: str | None,
    items: Sequence[Hashable] | None,
) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Trials aggregated by ordered pair (first, second): first-item wins y and totals m."""
    missing = {first, second, first_won} - set(trials.columns)
    if missing:
        raise ValueError(f"trials lack column(s) {sorted(missing)}")
    df = trials
    w = (df[count].to_numpy(dtype=float) if count is not None and count in df.columns
         else np.ones(len(df)))
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("counts must be finite and non-negative")
    if df[first].isna().any() or df[second].isna().any():
        raise ValueError("first/second contain missing values")
    if items is None:
        seen = pd.unique(pd.concat([df[first], df[second]], ignore_index=True))
        try:
            index = pd.Index(sorted(seen))
        except TypeError:
            index = pd.Index(seen)
    else:
        index = pd.Index(list(items))
    if len(df) == 0 or w.sum() == 0:
        raise ValueError("empty input: no comparisons")
    a, b = index.get_indexer(df[first]), index.get_indexer(df[second])
    if (a < 0).any() or (b < 0).any():
        unknown = set(df[first][a < 0]) | set(df[second][b < 0])
        raise ValueError(f"trials name items not in `items`: {_names(sorted(map(str, unknown)))}")
    if ((a == b) & (w > 0)).any():
        raise ValueError("a comparison of an item with itself")
    won = df[first_won].to_numpy(dtype=float)
    if np.any((won < 0) | (won > 1)):
        raise ValueError(f"column {first_won!r} must be True/False (or a share in [0, 1])")
    n = len(index)
    key = a.astype(np.int64) * n + b
    ukey, inv = np.unique(key, return_inverse=True)
    y = np.bincount(inv, w * won, len(ukey))
    m = np.bincount(inv, w, len(ukey))
    keep = m > 0
    ukey, y, m = ukey[keep], y[keep], m[keep]
    return index, (ukey // n).astype(np.intp), (ukey % n).astype(np.intp), y, m


def _order_info(fi: np.ndarray, se: np.ndarray, wts: np.ndarray, n: int) -> np.ndarray:
    """Xᵀ diag(wts) X for rows x = (e_first − e_second, 1), plus uuᵀ/n, u = (1…1, 0)."""
    info = np.zeros((n + 1, n + 1))
    np.add.at(info, (fi, fi), wts)
    np.add.at(info, (se, se), wts)
    np.add.at(info, (fi, se), -wts)
    np.add.at(info, (se, fi), -wts)
    cb = np.bincount(fi, wts, n) - np.bincount(se, wts, n)
    info[:n, n] = cb
    info[n, :n] = cb
    info[n, n] = wts.sum()
    info[:n, :n] += 1.0 / n
    return info


def bradley_terry_order_fit(
    trials: pd.DataFrame,
    anchor: Hashable | Sequence[Hashable] | None = None,
    *,
    first: str = "first",
    second: str = "second",
    first_won: str = "first_won",
    count: str | None = None,
    items: Sequence[Hashable] | None = None,
    method: Method = "firth",
    confidence: float = 0.95,
    tol: float = 1e-9,
    max_iter: int = 500,
) -> BTOrderFit:
    """Bradley–Terry scores and an order term β fitted jointly (Firth's penalty by default).

    One logistic model for every trial: P(the first-shown item wins) = logistic(s_first −
    s_second + β), design rows x = (e_first − e_second, 1). Fitting β with the scores matters
    even when every pair is shown in both orders: balanced orders keep the ranking, but a
    model without β sees choices that are partly position-driven as noise and shrinks every
    score toward 0 (with β = 1 logit, slopes of estimated on true scores of ~0.8).

    ``method="firth"`` maximises loglik + ½ log det I(s, β) (Firth 1993), the same penalty as
    :func:`bradley_terry_fit` with the order column added: finite for connected designs even
    when an item never wins, and free of the MLE's O(1/m) outward bias. Fisher scoring on the
    modified score Σ x_k (y_k + h_k/2 − (m_k + h_k) p_k), hat values h_k from the inverse
    information, step-halving on the penalised log-likelihood. ``method="ml"`` is the plain
    maximum-likelihood fit (equal to a binomial GLM on the same design; tests check it against
    statsmodels). Standard errors from the inverse information; Wald intervals.

    ``trials``: one row per choice, with the item shown first, the item shown second and
    ``first_won`` (True when the first-shown item was chosen); ``count`` optional weights.
    ``anchor`` as in :func:`bradley_terry_fit`.
    """
    _z(confidence)
    if method not in ("ml", "firth"):
        raise ValueError(f"unknown method {method!r}; use 'ml' or 'firth'")
    index, fi, se, y, m = _ordered_counts(trials, first, second, first_won, count, items)
    n = len(index)
    if n < 2:
        raise ValueError(f"need at least 2 items to compare, got {n}")
    lo, hi = np.minimum(fi, se), np.maximum(fi, se)
    # the graph and identifiability checks of the model without β (β is identified by the
    # orders; scores need a connected design, and ML also wins and losses of every item)
    pairs = _Pairs(index, lo, hi, np.where(fi == lo, y, m - y), np.where(fi == lo, m - y, y))
    if method == "firth":
        _check_connected(pairs)
    else:
        _check_identifiable(pairs)
    if np.unique(fi).size == 0 or np.all(m == 0):
        raise ValueError("no comparisons")
    firth = method == "firth"

    def evaluate(par: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
        eta = par[fi] - par[se] + par[n]
        pr = special.expit(eta)
        wts = m * pr * (1 - pr)
        info = _order_info(fi, se, wts, n)
        chol, fail = linalg.lapack.dpotrf(info, lower=True, overwrite_a=False)
        if fail != 0:
            raise linalg.LinAlgError("information matrix is not positive definite")
        ll = float(np.sum(y * special.log_expit(eta) + (m - y) * special.log_expit(-eta)))
        logdet = 2.0 * float(np.sum(np.log(np.diag(chol)))) if firth else 0.0
        return pr, wts, chol, ll, ll + 0.5 * logdet

    start = _firth_start(pairs) if firth else _warm_start(pairs, 1e-6)
    par = np.concatenate([start - start.mean(), [0.0]])
    pr, wts, chol, ll, pen = evaluate(par)
    it = 0
    while True:
        it += 1
        if it > max_iter:
            raise RuntimeError("Bradley–Terry order-term iterations did not converge")
        cinv, fail = linalg.lapack.dpotri(chol, lower=True)
        if fail != 0:
            raise linalg.LinAlgError("could not invert the information matrix")
        cinv = np.tril(cinv) + np.tril(cinv, -1).T
        if firth:
            # h_k = w_k x_kᵀ C x_k with x_k = e_f − e_s + e_β (the uuᵀ/n part of C cancels)
            d = cinv[fi, fi] + cinv[se, se] - 2 * cinv[fi, se] + cinv[n, n] \
                + 2 * (cinv[fi, n] - cinv[se, n])
            h = wts * d
        else:
            h = np.zeros_like(wts)
        r = y + 0.5 * h - (m + h) * pr
        grad = np.zeros(n + 1)
        grad[:n] = np.bincount(fi, r, n) - np.bincount(se, r, n)
        grad[n] = r.sum()
        step = cinv @ grad
        step[:n] -= step[:n].mean()
        size = float(np.max(np.abs(step)))
        if size < tol:
            break
        scale = 1.0
        for _ in range(40):
            cand = par + scale * step
            try:
                out = evaluate(cand)
            except linalg.LinAlgError:
                out = None
            if out is not None and out[4] >= pen - 1e-12 * max(1.0, abs(pen)):
                break
            scale *= 0.5
        else:
            break  # no uphill step left: at the optimum within rounding
        if out is None:
            break
        par = cand
        pr, wts, chol, ll, pen = out
    # covariance of (anchored scores, β): T C Tᵀ, T = [[I − 1wᵀ, 0], [0, 1]]
    aw = _anchor_weights(index, anchor)
    tmat = np.eye(n + 1)
    tmat[:n, :n] -= np.outer(np.ones(n), aw)
    cov_full = tmat @ cinv @ tmat.T
    theta = tmat[:n, :n] @ par[:n]
    beta = float(par[n])
    cov = cov_full[:n, :n]
    se_s = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    zc = _z(confidence)
    wins = np.bincount(fi, y, n) + np.bincount(se, m - y, n)
    nn = np.bincount(fi, m, n) + np.bincount(se, m, n)
    table = pd.DataFrame(
        {"score": theta, "se": se_s, "ci_low": theta - zc * se_s, "ci_high": theta + zc * se_s,
         "wins": wins, "n": nn},
        index=index.copy(),
    )
    table.index.name = "item"
    cov_df = pd.DataFrame(cov, index=index.copy(), columns=index.copy())
    fit = BTFit(table, cov_df, ll, it, 0.0, confidence, anchor, method)
    se_b = float(np.sqrt(max(cov_full[n, n], 0.0)))
    p_b = float(2 * special.ndtr(-abs(beta) / se_b)) if se_b > 0 else float("nan")
    position = Estimate(beta, beta - zc * se_b, beta + zc * se_b, round(m.sum()),
                        f"bradley-terry order term ({method}) wald", confidence, p_b)
    return BTOrderFit(fit, position, pd.Series(cov_full[:n, n], index=index.copy(),
                                               name="cov_beta"))


# ---------------------------------------------------------------------------------------------
# Shares of items below / above a threshold, from the fit rather than by counting estimates


def _within_spread(scores: np.ndarray, cov: np.ndarray) -> float:
    """Moment estimate of the true spread τ of a group: within-group variance minus noise.

    E Σ (ŝ_i − mean ŝ)² = (k − 1) τ² + tr(C Σ C), C the centring matrix: the sampling
    covariance's within-group part (a shared anchor error cancels). Floored at 0.
    """
    k = len(scores)
    if k < 2:
        return 0.0
    c = np.eye(k) - 1.0 / k
    ss = float(np.sum((scores - scores.mean()) ** 2))
    noise = float(np.trace(c @ cov @ c))
    return float(np.sqrt(max(ss - noise, 0.0) / (k - 1)))


def _tau_posterior(scores: np.ndarray, cov: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Posterior weights of a group's spread τ on ``grid``: uniform prior on τ, μ flat.

    The restricted (μ integrated out) likelihood of the fitted scores ŝ ~ N(μ1, Σ + τ²I)
    (Gelman et al., BDA §5.4): −½ log|V| − ½ log 1ᵀV⁻¹1 − ½ (ŝᵀV⁻¹ŝ − (1ᵀV⁻¹ŝ)² / 1ᵀV⁻¹1),
    V = Σ + τ²I, for every grid point at once through the eigenvalues of Σ.
    """
    lam, vec = linalg.eigh(0.5 * (cov + cov.T))
    lam = np.maximum(lam, 0.0)
    s_t = vec.T @ scores
    one_t = vec.T @ np.ones(len(scores))
    inv = 1.0 / (lam[None, :] + grid[:, None] ** 2)  # grid × k
    a = inv @ (one_t**2)
    b = inv @ (one_t * s_t)
    c = inv @ (s_t**2)
    logl = 0.5 * np.sum(np.log(inv), axis=1) - 0.5 * np.log(a) - 0.5 * (c - b * b / a)
    w = np.exp(logl - logl.max())
    return w / w.sum()


def _share_interval(share: np.ndarray, confidence: float, mid_p: bool) -> tuple[float, float]:
    """Interval of a discrete share from its draws: equal-tailed quantiles, or mid-p.

    A share of k items takes the values 0, 1/k, …, 1, and equal-tailed quantiles include
    their endpoints' whole atoms: the interval then holds well over 95% of the posterior
    (often 98–99%), and covers more often than it says. Mid-p (Lancaster 1961) counts half of
    an endpoint's atom: the lower end is the smallest value v with P(S < v) + ½P(S = v) ≥ α/2,
    the upper end the largest with P(S > v) + ½P(S = v) ≥ α/2, so the posterior mass is 95%
    on average over the atoms' sizes, as the mid-p interval for a binomial proportion is.
    """
    a = 1.0 - confidence
    if not mid_p:
        lo, hi = np.quantile(share, [a / 2, 1 - a / 2])
        return float(lo), float(hi)
    values, counts = np.unique(np.round(share, 12), return_counts=True)
    p = counts / counts.sum()
    below = np.cumsum(p) - p  # P(S < v)
    above = 1.0 - np.cumsum(p)  # P(S > v)
    lo_ok = np.flatnonzero(below + 0.5 * p >= a / 2)
    hi_ok = np.flatnonzero(above + 0.5 * p >= a / 2)
    return float(values[lo_ok[0]]), float(values[hi_ok[-1]])


def latent_shares(
    fit: BTFit,
    groups: Mapping[str, Sequence[Hashable]],
    *,
    threshold: float = 0.0,
    n_draws: int = 4000,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = None,
    min_spread: float = 1e-3,
    unions: Mapping[str, Sequence[str]] | None = None,
    tau: Literal["posterior", "moments"] = "posterior",
    interval: Literal["mid-p", "equal-tailed"] = "mid-p",
    tau_strata: int = 64,
) -> pd.DataFrame:
    """Share of each group's items whose true score lies below / above ``threshold``.

    Counting point estimates (the published "87% of harmful tasks below opt-out") answers a
    different question: each estimate carries noise, so items near the threshold land on
    either side at random and the count is pulled toward 50% (for a subject with no
    preferences, about half of all tasks "score below" however many comparisons are made).
    Here the share is a quantity of the model, estimated with the fit's uncertainty:

    - a normal hierarchical model per group: true scores s_i ~ N(μ_g, τ_g²), μ_g with a flat
      prior (integrated out); the fitted scores ŝ ~ N(s, Σ) with Σ the fit's covariance
      (anchor uncertainty included, shared between items);
    - τ_g: ``tau="posterior"`` (default) draws it from its posterior under a uniform prior
      (:func:`_tau_posterior`, the restricted likelihood of the group's scores), in
      ``tau_strata`` equal-probability strata per group, paired across groups at random
      (Latin hypercube), each stratum with its share of the draws. Plugging in one value —
      ``tau="moments"``, the method-of-moments estimate (:func:`_within_spread`, floored at
      ``min_spread``) — is overconfident where τ is poorly determined: with few comparisons
      the estimate is often 0, every item of the group then sits at the group mean, and the
      share's posterior collapses onto 0% or 100% (a null subject's harmful tasks reported as
      9%, 95% CI 0–100%, for a true 50%);
    - ``n_draws`` joint draws of the true scores from their Gaussian posterior given τ; in
      each, the share of the group's items below (above) the threshold. The estimate is the
      posterior mean share, the interval mid-p quantiles of the draws (:func:`_share_interval`;
      ``interval="equal-tailed"`` for plain quantiles, which over-cover a discrete share),
      widened if needed to contain the estimate.

    Returns one row per group: items, below, below_ci_low, below_ci_high, above (same), the
    counting figures ``below_count`` / ``above_count`` (share of point estimates below/above,
    for comparison with published numbers), and the group's ``mu`` and ``tau`` (its posterior
    median, or the moment estimate). ``unions`` adds rows for unions of groups (e.g.
    non-harmful = positive + neutral + ambiguous), from the same draws (``mu`` and ``tau`` NaN
    there: each member keeps its own prior). ``out.attrs["draws"]`` maps (group,
    "below"/"above") to the share's draws, for comparing two fits (a difference of independent
    subjects' shares is the difference of their draws).
    """
    _z(confidence)
    if n_draws < 100:
        raise ValueError("n_draws must be at least 100")
    if tau not in ("posterior", "moments"):
        raise ValueError("tau must be 'posterior' or 'moments'")
    if interval not in ("mid-p", "equal-tailed"):
        raise ValueError("interval must be 'mid-p' or 'equal-tailed'")
    ids: list[Hashable] = []
    gid: list[int] = []
    names = list(groups)
    for g, members in enumerate(names):
        mem = list(groups[members])
        if not mem:
            raise ValueError(f"group {members!r} has no items")
        ids += mem
        gid += [g] * len(mem)
    unknown = set(ids) - set(fit.table.index)
    if unknown:
        raise ValueError(f"groups name items not in the fit: {_names(sorted(map(str, unknown)))}")
    if len(set(ids)) != len(ids):
        raise ValueError("an item is in more than one group")
    gid_a = np.asarray(gid)
    s_hat = fit.table["score"].reindex(ids).to_numpy(dtype=float) - threshold
    sigma = fit.cov.reindex(index=ids, columns=ids).to_numpy(dtype=float)
    sigma = 0.5 * (sigma + sigma.T)
    k = len(ids)
    rng = np.random.default_rng(seed)
    positions = [np.flatnonzero(gid_a == g) for g in range(len(names))]
    mus = np.array([float(s_hat[pos].mean()) for pos in positions])
    strata = 1 if tau == "moments" else max(1, min(int(tau_strata), n_draws // 20))
    tau_draws = np.empty((len(names), strata))  # one τ per group and stratum
    taus = np.empty(len(names))
    for g, pos in enumerate(positions):
        moment = max(_within_spread(s_hat[pos], sigma[np.ix_(pos, pos)]), min_spread)
        if tau == "moments" or len(pos) < 2:
            tau_draws[g] = moment
            taus[g] = moment
            continue
        sub = sigma[np.ix_(pos, pos)]
        scale = max(float(np.sqrt(np.var(s_hat[pos]) + np.trace(sub) / len(pos))), min_spread)
        grid = np.linspace(min_spread, 6.0 * scale, 600)
        cdf = np.cumsum(_tau_posterior(s_hat[pos], sub, grid))
        u = (rng.permutation(strata) + rng.random(strata)) / strata
        tau_draws[g] = grid[np.minimum(np.searchsorted(cdf, u), len(grid) - 1)]
        taus[g] = float(grid[min(np.searchsorted(cdf, 0.5), len(grid) - 1)])
    chol_s = linalg.cho_factor(sigma + 1e-12 * np.eye(k) * max(1.0, np.trace(sigma) / k))
    sinv = linalg.cho_solve(chol_s, np.eye(k))
    sinv_s = sinv @ s_hat
    sizes = np.full(strata, n_draws // strata)
    sizes[: n_draws - sizes.sum()] += 1
    blocks = []
    for m in range(strata):
        # N(μ, τ²I) with μ flat, integrated out: precision (I − 11ᵀ/k) / τ² on each group
        q = sinv.copy()
        for g, pos in enumerate(positions):
            kg = len(pos)
            q[np.ix_(pos, pos)] += (np.eye(kg) - 1.0 / kg) / tau_draws[g, m] ** 2
        q = 0.5 * (q + q.T)
        chol_q = linalg.cholesky(q, lower=True)
        mean = linalg.cho_solve((chol_q, True), sinv_s)
        z = rng.standard_normal((k, sizes[m]))
        blocks.append(mean[:, None] + linalg.solve_triangular(chol_q, z, lower=True, trans="T"))
    draws = np.concatenate(blocks, axis=1)
    rows = []
    share_draws: dict[tuple[str, str], np.ndarray] = {}
    targets = [(name, positions[g], g) for g, name in enumerate(names)]
    for uname, members in (unions or {}).items():
        bad = [m for m in members if m not in names]
        if bad or not members:
            raise ValueError(f"union {uname!r} names unknown groups: {_names(bad)}")
        targets.append((uname, np.flatnonzero(np.isin(gid_a, [names.index(m) for m in members])),
                        -1))
    for name, pos, g in targets:
        row: dict[str, Any] = {"group": name, "items": len(pos)}
        for side, hit in (("below", draws[pos] < 0), ("above", draws[pos] > 0)):
            share = hit.mean(axis=0)
            share_draws[(name, side)] = share
            mean_share = float(share.mean())
            lo, hi = _share_interval(share, confidence, interval == "mid-p")
            # a discrete share can have its mean outside the interval (e.g. 99% of draws at
            # 100%): the interval is widened to contain the estimate it reports
            lo, hi = min(lo, mean_share), max(hi, mean_share)
            est = (s_hat[pos] < 0) if side == "below" else (s_hat[pos] > 0)
            row.update({side: mean_share, f"{side}_ci_low": lo,
                        f"{side}_ci_high": hi, f"{side}_count": float(est.mean())})
        row.update({"mu": mus[g] + threshold if g >= 0 else float("nan"),
                    "tau": float(taus[g]) if g >= 0 else float("nan")})
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["method"] = (f"normal hierarchical model per group ({tau} τ), posterior draws, "
                           f"{interval} interval")
    out.attrs["draws"] = share_draws
    return out


def confident_items(
    fit: BTFit,
    items: Sequence[Hashable],
    side: Literal["below", "above"] = "below",
    *,
    threshold: float = 0.0,
    fdr: float = 0.05,
) -> pd.DataFrame:
    """Items whose score is below (or above) ``threshold`` with false-discovery-rate control.

    One-sided Wald p-value per item (H0: score ≥ threshold for "below"), from the fit's
    standard errors (anchor uncertainty included), Benjamini–Hochberg adjusted across
    ``items``. Returns the items with q ≤ ``fdr``: score, se, p, q, sorted by q. BH controls
    the FDR under independence and positive dependence (PRDS); scores that share an anchor
    are positively correlated in the sense that matters here.
    """
    if side not in ("below", "above"):
        raise ValueError("side must be 'below' or 'above'")
    if not 0 < fdr < 1:
        raise ValueError("fdr must be in (0, 1)")
    t = fit.table.reindex(list(items))
    if t["score"].isna().any():
        raise ValueError("items not in the fit")
    zval = (t["score"] - threshold) / t["se"].where(t["se"] > 0)
    p = special.ndtr(zval) if side == "below" else special.ndtr(-zval)
    p = pd.Series(np.asarray(p, dtype=float), index=t.index).fillna(1.0)
    from welfare.stats.compare import benjamini_hochberg

    q = benjamini_hochberg(p)
    out = pd.DataFrame({"score": t["score"], "se": t["se"], "p": p, "q": q})
    return out[out["q"] <= fdr].sort_values(["q", "score"])
