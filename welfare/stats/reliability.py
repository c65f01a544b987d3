"""Agreement between coders: Krippendorff's alpha, Cohen's kappa, Fleiss' kappa, P/R/F1.

Conventions: a missing rating is NaN (or None); alpha uses all pairable values, kappa drops a
unit unless both coders rated it. A coefficient that is undefined because there is no
variation at all (every value the same) is returned as NaN — "no disagreement was possible",
not "perfect agreement" — and never raises. Empty input raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from welfare.stats.intervals import Estimate, _z, wilson_interval

__all__ = [
    "cohen_kappa",
    "cohen_kappa_ci",
    "fleiss_kappa",
    "krippendorff_alpha",
    "krippendorff_alpha_ci",
    "precision_recall_f1",
]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
_LEVELS = ("nominal", "ordinal", "interval", "ratio")


# ---------------------------------------------------------------------------------------------
# Krippendorff's alpha


def _value_counts(data: Any, pairable_only: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Units × values count matrix (pairable units only, unless asked) and the value domain."""
    arr = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
    if arr.ndim != 2:
        raise ValueError("data must be 2-D: raters × units")
    if arr.size == 0:
        raise ValueError("empty input: no ratings")
    at = arr.T  # units × raters, so flattening is unit by unit
    if at.dtype.kind in "fiub":
        at = at.astype(float, copy=False)
        mask = ~np.isnan(at)
        vals = at[mask]
        unit = np.nonzero(mask)[0]
        if vals.size == 0:
            raise ValueError("empty input: all ratings are missing")
        lo, hi = vals.min(), vals.max()
        if hi - lo <= 10_000 and np.all(vals == np.round(vals)):
            # integer fast path: bincount instead of a sort (np.unique)
            shifted = (vals - lo).astype(np.intp)
            present = np.bincount(shifted) > 0
            remap = np.cumsum(present) - 1
            codes = remap[shifted]
            domain = np.flatnonzero(present) + lo
        else:
            domain, codes = np.unique(vals, return_inverse=True)
    else:
        flat = pd.Series(at.ravel())
        mask_flat = flat.notna().to_numpy()
        if not mask_flat.any():
            raise ValueError("empty input: all ratings are missing")
        codes_all, uniques = pd.factorize(flat, sort=True)
        codes = codes_all[mask_flat]
        unit = np.nonzero(mask_flat)[0] // at.shape[1]
        domain = np.asarray(uniques, dtype=object)
    v = len(domain)
    counts = np.bincount(unit * v + codes, minlength=at.shape[0] * v).reshape(at.shape[0], v)
    if not pairable_only:
        return counts, domain
    return counts[counts.sum(axis=1) >= 2], domain


def _coincidence(counts: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Coincidence matrix Σ_u w_u (n_u n_uᵀ − diag n_u)/(m_u − 1): one matmul, no pair loop."""
    m_u = counts.sum(axis=1).astype(float)
    scale = 1.0 / (m_u - 1.0)
    if weights is not None:
        scale = scale * weights
    cw = counts * scale[:, None]
    o = cw.T @ counts
    o[np.diag_indices_from(o)] -= cw.sum(axis=0)
    return o


def _delta(level: str, domain: np.ndarray, n_v: np.ndarray) -> np.ndarray:
    """Squared difference function δ²(c, k) for the measurement level (Krippendorff 2011)."""
    v = len(domain)
    if level == "nominal":
        return 1.0 - np.eye(v)
    if domain.dtype == object:
        raise ValueError(f"level {level!r} needs numeric values; got non-numeric ratings")
    x = domain.astype(float)
    if level == "interval":
        return (x[:, None] - x[None, :]) ** 2
    if level == "ratio":
        s = x[:, None] + x[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(s == 0, 0.0, (x[:, None] - x[None, :]) / s)
        return r**2
    if level == "ordinal":
        cs = np.cumsum(n_v)
        lo = np.minimum.outer(np.arange(v), np.arange(v))
        hi = np.maximum.outer(np.arange(v), np.arange(v))
        between = cs[hi] - cs[lo] + n_v[lo]  # Σ_{g=c..k} n_g
        return (between - (n_v[:, None] + n_v[None, :]) / 2.0) ** 2
    raise ValueError(f"unknown level {level!r}; use one of {_LEVELS}")


def _alpha_from_o(o: np.ndarray, level: str, domain: np.ndarray) -> float:
    n_v = o.sum(axis=1)
    n = n_v.sum()
    d = _delta(level, domain, n_v)
    d_e = float(n_v @ d @ n_v)
    if d_e <= 0:
        return float("nan")
    return float(1.0 - (n - 1.0) * float(np.sum(o * d)) / d_e)


def _cluster_codes(clusters: Any, n_units: int) -> tuple[np.ndarray, int]:
    """Integer cluster code per unit (first-appearance order) and the number of clusters."""
    labels = np.asarray(clusters)
    if labels.ndim != 1 or len(labels) != n_units:
        raise ValueError(f"clusters has {len(labels)} labels for {n_units} units")
    codes, uniques = pd.factorize(labels, use_na_sentinel=False)
    return codes.astype(np.intp), len(uniques)


def _resample_weights(
    rng: np.random.Generator, k: int, n_resamples: int, cells: int
) -> Iterator[np.ndarray]:
    """Blocks of bootstrap multiplicities (replicates × k): k clusters drawn with replacement.

    Drawn in blocks of at most ~2M cluster draws, so memory stays bounded; each replicate's
    statistic is then one matrix product of the multiplicities with per-cluster sums.
    """
    step = max(1, 2_000_000 // max(k * cells, 1))
    for lo in range(0, n_resamples, step):
        b = min(lo + step, n_resamples) - lo
        draws = rng.integers(0, k, (b, k))
        flat = (np.arange(b)[:, None] * k + draws).ravel()
        yield np.bincount(flat, minlength=b * k).reshape(b, k).astype(float)


def _percentile(reps: np.ndarray, confidence: float, n_resamples: int) -> tuple[float, float]:
    """Percentile interval of the defined replicates; NaN if too few are defined to trust."""
    reps = reps[np.isfinite(reps)]
    if reps.size < min(n_resamples, max(20, n_resamples // 10)):
        return float("nan"), float("nan")
    a = 1.0 - confidence
    lo, hi = np.quantile(reps, [a / 2, 1 - a / 2])
    return float(lo), float(hi)


def _alpha_replicates(
    counts: np.ndarray,
    domain: np.ndarray,
    level: str,
    codes: np.ndarray,
    k: int,
    n_resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Alpha for bootstrap resamples of clusters of units, vectorised over replicates.

    Sums per cluster are built once; a replicate's coincidence totals are its multiplicities
    times those sums. For fixed δ (nominal, interval, ratio) alpha needs only each unit's
    observed disagreement and value totals; ordinal δ depends on the resample's margins, so
    the full coincidence matrix is resampled (a loop over replicates only if it is huge).
    """
    v = len(domain)
    m_u = counts.sum(axis=1).astype(float)
    scale = 1.0 / (m_u - 1.0)
    # per-unit coincidences (n_u n_uᵀ − diag n_u)/(m_u − 1): row sums are the unit's n_u
    cw = counts * scale[:, None]
    reps = np.empty(n_resamples)
    pos = 0
    if level != "ordinal":
        delta = _delta(level, domain, np.ones(v))
        # Σ_ck o_u[c,k] δ[c,k] = (n_uᵀ δ n_u − Σ_c n_uc δ_cc)/(m_u − 1); δ_cc = 0
        d_u = np.einsum("uc,ck,uk->u", cw, delta, counts)
        d_c = np.bincount(codes, d_u, k)
        n_c = np.zeros((k, v))
        np.add.at(n_c, codes, counts.astype(float))
        for w in _resample_weights(rng, k, n_resamples, v * v):
            n_v = w @ n_c
            n = n_v.sum(axis=1)
            d_e = np.einsum("bc,ck,bk->b", n_v, delta, n_v)
            d_o = w @ d_c
            with np.errstate(invalid="ignore", divide="ignore"):
                reps[pos : pos + len(w)] = np.where(d_e > 0, 1.0 - (n - 1.0) * d_o / d_e, np.nan)
            pos += len(w)
        return reps
    if k * v * v > 20_000_000:
        unit_w = np.empty(len(codes))
        for w in _resample_weights(rng, k, n_resamples, v * v):
            for row in w:
                unit_w[:] = row[codes]
                reps[pos] = _alpha_from_o(_coincidence(counts, unit_w), level, domain)
                pos += 1
        return reps
    o_u = cw[:, :, None] * counts[:, None, :]
    o_u[:, np.arange(v), np.arange(v)] -= cw
    o_c = np.zeros((k, v * v))
    np.add.at(o_c, codes, o_u.reshape(len(codes), v * v))
    lo_i = np.minimum.outer(np.arange(v), np.arange(v))
    hi_i = np.maximum.outer(np.arange(v), np.arange(v))
    for w in _resample_weights(rng, k, n_resamples, v * v):
        o = (w @ o_c).reshape(-1, v, v)
        n_v = o.sum(axis=2)
        n = n_v.sum(axis=1)
        cs = np.cumsum(n_v, axis=1)
        between = cs[:, hi_i] - cs[:, lo_i] + n_v[:, lo_i]
        delta = (between - (n_v[:, :, None] + n_v[:, None, :]) / 2.0) ** 2
        d_o = np.sum(o * delta, axis=(1, 2))
        d_e = np.einsum("bc,bck,bk->b", n_v, delta, n_v)
        with np.errstate(invalid="ignore", divide="ignore"):
            reps[pos : pos + len(o)] = np.where(d_e > 0, 1.0 - (n - 1.0) * d_o / d_e, np.nan)
        pos += len(o)
    return reps


def krippendorff_alpha(data: Any, level: Level = "nominal") -> float:
    """Krippendorff's alpha for ``data`` = raters × units (NaN = missing).

    Levels: nominal, ordinal, interval, ratio. Units with fewer than two ratings are not
    pairable and are ignored. The coincidence matrix is built from per-unit value counts with
    one matrix product, so cost is linear in units. Returns NaN when there is no variation in
    the pairable values (expected disagreement 0: alpha undefined).
    """
    if level not in _LEVELS:
        raise ValueError(f"unknown level {level!r}; use one of {_LEVELS}")
    counts, domain = _value_counts(data)
    if counts.shape[0] == 0:
        raise ValueError("no unit has two or more ratings: alpha is undefined")
    return _alpha_from_o(_coincidence(counts), level, domain)


def krippendorff_alpha_ci(
    data: Any,
    level: Level = "nominal",
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int | np.random.Generator | None = None,
    clusters: Sequence[Any] | np.ndarray | pd.Series | None = None,
) -> Estimate:
    """Alpha with a percentile bootstrap interval that resamples units, or clusters of units.

    Resampling whole units keeps each unit's ratings together, unlike Hayes & Krippendorff's
    (2007) resampling of pairable values. With ``clusters`` (one label per unit, i.e. per
    column of ``data``: the transcript a turn belongs to, the item a rating is about) whole
    clusters are drawn with replacement, as they should be when units nest in clusters.
    Vectorised: replicates are matrix products of multiplicities with per-cluster sums.
    Intervals can be a little narrow with under ~30 units (clusters). The interval is NaN when
    fewer than max(20, 10%) of the replicates have a defined alpha. ``n`` is the number of
    pairable units, or of clusters holding them.
    """
    if level not in _LEVELS:
        raise ValueError(f"unknown level {level!r}; use one of {_LEVELS}")
    _z(confidence)
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    all_counts, domain = _value_counts(data, pairable_only=False)
    pairable = all_counts.sum(axis=1) >= 2
    counts = all_counts[pairable]
    u = counts.shape[0]
    if u == 0:
        raise ValueError("no unit has two or more ratings: alpha is undefined")
    est = _alpha_from_o(_coincidence(counts), level, domain)
    if clusters is None:
        codes, k = np.arange(u), u
        method = f"bootstrap over units ({level})"
    else:
        codes_all, _ = _cluster_codes(clusters, len(all_counts))
        # clusters with no pairable unit drop out; codes stay in first-appearance order
        _, codes = np.unique(codes_all[pairable], return_inverse=True)
        k = int(codes.max()) + 1
        method = f"bootstrap over {k} clusters of units ({level})"
    rng = np.random.default_rng(seed)
    reps = _alpha_replicates(counts, domain, level, codes, k, n_resamples, rng)
    lo, hi = _percentile(reps, confidence, n_resamples)
    return Estimate(est, lo, hi, u if clusters is None else k, method, confidence)


# ---------------------------------------------------------------------------------------------
# Cohen's kappa


def _confusion(a: Any, b: Any, categories: Sequence[Any] | None) -> tuple[np.ndarray, list[Any]]:
    table, cats, _, _ = _confusion_cells(a, b, categories)
    return table, cats


def _confusion_cells(
    a: Any, b: Any, categories: Sequence[Any] | None
) -> tuple[np.ndarray, list[Any], np.ndarray, np.ndarray]:
    """Confusion table, categories, each kept unit's cell (row-major) and the kept-unit mask."""
    sa, sb = pd.Series(np.asarray(a, dtype=object)), pd.Series(np.asarray(b, dtype=object))
    if len(sa) != len(sb):
        raise ValueError(f"a and b differ in length ({len(sa)} vs {len(sb)})")
    keep = (sa.notna() & sb.notna()).to_numpy()
    sa, sb = sa[keep], sb[keep]
    if len(sa) == 0:
        raise ValueError("empty input: no unit was rated by both coders")
    if categories is None:
        cats = pd.unique(pd.concat([sa, sb], ignore_index=True))
        try:
            cats = sorted(cats)
        except TypeError:
            cats = list(cats)
    else:
        cats = list(categories)
    index = pd.Index(cats)
    ia, ib = index.get_indexer(sa), index.get_indexer(sb)
    if (ia < 0).any() or (ib < 0).any():
        raise ValueError("ratings contain values not in `categories`")
    k = len(cats)
    cell = ia * k + ib
    table = np.bincount(cell, minlength=k * k).reshape(k, k).astype(float)
    return table, list(cats), cell, keep


def _kappa_weights(k: int, weights: str | None) -> np.ndarray:
    idx = np.arange(k)
    diff = np.abs(idx[:, None] - idx[None, :]) / max(k - 1, 1)
    if weights is None:
        return (diff > 0).astype(float)
    if weights == "linear":
        return diff
    if weights == "quadratic":
        return diff**2
    raise ValueError(f"unknown weights {weights!r}; use None, 'linear' or 'quadratic'")


def _kappa_from_tables(tables: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Kappa for a stack of K×K confusion tables (…, K, K); NaN when expected disagreement = 0."""
    n = tables.sum(axis=(-2, -1))
    p = tables / n[..., None, None]
    expected = p.sum(axis=-1)[..., :, None] * p.sum(axis=-2)[..., None, :]
    d_o = np.sum(w * p, axis=(-2, -1))
    d_e = np.sum(w * expected, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d_e > 0, 1.0 - d_o / np.where(d_e > 0, d_e, 1.0), np.nan)


def cohen_kappa(
    a: Any,
    b: Any,
    weights: Literal["linear", "quadratic"] | None = None,
    categories: Sequence[Any] | None = None,
) -> float:
    """Cohen's kappa between two coders' labels for the same units (weighted if asked).

    Units missing in either coder are dropped. Weighted kappa uses disagreement weights on the
    positions of ``categories`` (default: sorted labels), |i−j|/(K−1) or its square. Returns NaN
    when chance disagreement is 0 (both coders used one and the same category throughout).
    """
    table, cats = _confusion(a, b, categories)
    return float(_kappa_from_tables(table, _kappa_weights(len(cats), weights)))


def cohen_kappa_ci(
    a: Any,
    b: Any,
    weights: Literal["linear", "quadratic"] | None = None,
    categories: Sequence[Any] | None = None,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int | np.random.Generator | None = None,
    clusters: Sequence[Any] | np.ndarray | pd.Series | None = None,
) -> Estimate:
    """Cohen's kappa with a percentile bootstrap interval over units, or clusters of units.

    Without ``clusters``, resampling units is done as multinomial draws of the confusion table
    (identical in distribution). With ``clusters`` (one label per unit, aligned with ``a`` and
    ``b``: e.g. the transcript each coded turn belongs to) whole clusters are drawn with
    replacement, because turns of one conversation are not independent; each replicate's table
    is the multiplicities times per-cluster tables (one matrix product per block). Replicates
    with undefined kappa are dropped; the interval is NaN when fewer than max(20, 10%) are
    defined. ``n`` is the number of units rated by both, or of clusters holding them.
    """
    _z(confidence)
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    table, cats, cell, keep = _confusion_cells(a, b, categories)
    w = _kappa_weights(len(cats), weights)
    est = float(_kappa_from_tables(table, w))
    n = int(table.sum())
    rng = np.random.default_rng(seed)
    k = len(cats)
    if clusters is None:
        draws = rng.multinomial(n, (table / n).ravel(), size=n_resamples).reshape(-1, k, k)
        reps = _kappa_from_tables(draws.astype(float), w)
        lo, hi = _percentile(reps, confidence, n_resamples)
        return Estimate(est, lo, hi, n, "bootstrap over units", confidence)
    codes_all, _ = _cluster_codes(clusters, len(keep))
    _, codes = np.unique(codes_all[keep], return_inverse=True)
    n_cl = int(codes.max()) + 1
    per_cluster = np.bincount(codes * k * k + cell, minlength=n_cl * k * k).reshape(n_cl, k * k)
    per_cluster = per_cluster.astype(float)
    reps = np.concatenate([
        _kappa_from_tables((m @ per_cluster).reshape(-1, k, k), w)
        for m in _resample_weights(rng, n_cl, n_resamples, k * k)
    ])
    lo, hi = _percentile(reps, confidence, n_resamples)
    return Estimate(est, lo, hi, n_cl, f"bootstrap over {n_cl} clusters of units", confidence)


# ---------------------------------------------------------------------------------------------
# Fleiss' kappa


def fleiss_kappa(counts: Any) -> float:
    """Fleiss' kappa from a subjects × categories table of rater counts (Fleiss 1971).

    Every subject must have the same number of raters (at least 2). Returns NaN when all
    ratings fall in a single category (chance agreement 1: kappa undefined).
    """
    c = np.asarray(counts.to_numpy() if isinstance(counts, pd.DataFrame) else counts, float)
    if c.ndim != 2 or c.size == 0:
        raise ValueError("counts must be a non-empty 2-D subjects × categories table")
    if np.any(c < 0) or np.any(~np.isfinite(c)):
        raise ValueError("counts must be finite and non-negative")
    per = c.sum(axis=1)
    if not np.allclose(per, per[0]):
        raise ValueError("Fleiss' kappa needs the same number of raters for every subject")
    r = per[0]
    if r < 2:
        raise ValueError("Fleiss' kappa needs at least 2 raters per subject")
    p_i = (np.sum(c * c, axis=1) - r) / (r * (r - 1))
    p_bar = p_i.mean()
    p_j = c.sum(axis=0) / c.sum()
    p_e = float(np.sum(p_j**2))
    if p_e >= 1.0 - 1e-15:
        return float("nan")
    return float((p_bar - p_e) / (1 - p_e))


# ---------------------------------------------------------------------------------------------
# Against a gold standard


def precision_recall_f1(
    predicted: Any,
    gold: Any,
    positive: Any = True,
    *,
    confidence: float = 0.95,
    n_resamples: int = 4000,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Precision, recall and F1 of ``predicted`` against ``gold`` for one ``positive`` label.

    Precision and recall are proportions, with Wilson intervals; F1 gets a percentile bootstrap
    over units (multinomial draws of the TP/FP/FN/TN table). Units missing in either input are
    dropped. A measure with a zero denominator (e.g. no predicted positives) is NaN with n = 0.
    Returns DataFrame indexed by measure: estimate, ci_low, ci_high, n.
    """
    _z(confidence)
    sp, sg = (
        pd.Series(np.asarray(predicted, dtype=object)),
        pd.Series(np.asarray(gold, dtype=object)),
    )
    if len(sp) != len(sg):
        raise ValueError(f"predicted and gold differ in length ({len(sp)} vs {len(sg)})")
    keep = (sp.notna() & sg.notna()).to_numpy()
    sp, sg = sp[keep], sg[keep]
    if len(sp) == 0:
        raise ValueError("empty input: no unit has both a prediction and a gold label")
    pp = (sp == positive).to_numpy()
    gp = (sg == positive).to_numpy()
    tp, fp, fn = int(np.sum(pp & gp)), int(np.sum(pp & ~gp)), int(np.sum(~pp & gp))
    tn = len(pp) - tp - fp - fn
    rows = {}
    for name, num, den in (("precision", tp, tp + fp), ("recall", tp, tp + fn)):
        if den == 0:
            rows[name] = (np.nan, np.nan, np.nan, 0)
        else:
            lo, hi = wilson_interval(num, den, confidence)
            rows[name] = (num / den, lo, hi, den)
    f_den = 2 * tp + fp + fn
    if f_den == 0:
        rows["f1"] = (np.nan, np.nan, np.nan, 0)
    else:
        rng = np.random.default_rng(seed)
        n = len(pp)
        draws = rng.multinomial(n, np.array([tp, fp, fn, tn]) / n, size=n_resamples)
        den = 2 * draws[:, 0] + draws[:, 1] + draws[:, 2]
        f = np.where(den > 0, 2 * draws[:, 0] / np.maximum(den, 1), np.nan)
        f = f[np.isfinite(f)]
        al = 1 - confidence
        lo, hi = np.quantile(f, [al / 2, 1 - al / 2])
        rows["f1"] = (2 * tp / f_den, float(lo), float(hi), n)
    out = pd.DataFrame.from_dict(
        rows, orient="index", columns=["estimate", "ci_low", "ci_high", "n"]
    )
    out.index.name = "measure"
    return out
