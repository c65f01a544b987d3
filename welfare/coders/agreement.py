"""Agreement between coders, per label: Krippendorff's alpha, Cohen's kappa, P/R/F1.

Units are assistant turns coded by both coders; each label is a yes/no rating per unit.
Estimates and intervals come from `welfare.stats`. Intervals for alpha and kappa resample
whole transcripts (turns of one conversation are not independent): `cohen_kappa_ci` and
`krippendorff_alpha_ci` with `clusters=`, vectorised over replicates.
Precision, recall and F1 treat the higher-ranked coder (human > simulated truth > judge >
lexicon; ranks live in `welfare.coders.registry`) as the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from welfare.coders.codebook import LABEL_IDS
from welfare.coders.common import Turn
from welfare.coders.registry import coder_rank
from welfare.stats import cohen_kappa_ci, krippendorff_alpha_ci, precision_recall_f1

__all__ = ["binary_agreement", "coder_rank", "evaluate_on_gold", "order_pair",
           "pairwise_agreement"]


def order_pair(a: str, b: str) -> tuple[str, str]:
    """(coder, reference): the reference is the better-ranked coder of the two."""
    return (a, b) if (coder_rank(b), b) < (coder_rank(a), a) else (b, a)


def binary_agreement(
    coder: np.ndarray,
    reference: np.ndarray,
    clusters: np.ndarray,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Kappa, alpha (intervals over clusters) and P/R/F1 for one label's yes/no ratings."""
    a = np.asarray(coder, dtype=bool)
    b = np.asarray(reference, dtype=bool)
    n = len(a)
    out: dict[str, Any] = {
        "units": n, "clusters": len(pd.unique(clusters)) if n else 0,
        "coder_yes": int(a.sum()), "reference_yes": int(b.sum()),
        "both_yes": int((a & b).sum()),
    }
    if n == 0:
        return out | _nan_block()
    # the same seed gives both coefficients the same resampled transcripts
    boot: dict[str, Any] = {"clusters": clusters, "n_resamples": n_resamples,
                            "confidence": confidence, "seed": seed}
    kappa = cohen_kappa_ci(a, b, categories=[False, True], **boot)
    alpha = krippendorff_alpha_ci(np.vstack([a, b]).astype(float), **boot)
    prf = precision_recall_f1(a, b, positive=True, confidence=confidence, seed=seed)
    out.update({
        "kappa": kappa.estimate, "kappa_low": kappa.ci_low, "kappa_high": kappa.ci_high,
        "alpha": alpha.estimate, "alpha_low": alpha.ci_low, "alpha_high": alpha.ci_high,
    })
    for measure in ("precision", "recall", "f1"):
        row = prf.loc[measure]
        out[measure] = float(row["estimate"])
        out[f"{measure}_low"] = float(row["ci_low"])
        out[f"{measure}_high"] = float(row["ci_high"])
    return out


def _nan_block() -> dict[str, float]:
    keys = ["kappa", "alpha", "precision", "recall", "f1"]
    return {f"{k}{s}": float("nan") for k in keys for s in ("", "_low", "_high")}


def alpha_from_tables(tables: np.ndarray) -> np.ndarray:
    """Nominal alpha of two complete raters for a stack of 2×2 tables (rows: 00, 01, 10, 11).

    The coincidence matrix of such a table is [[2·t00, t01+t10], [t01+t10, 2·t11]], so
    alpha = 1 − (n−1)·(t01+t10) / (n0·n1) with n = 2N pairable values and n0, n1 the value
    totals: `welfare.stats.krippendorff_alpha` in closed form, vectorised over tables (tests
    check the two agree). NaN when only one value occurs.
    """
    t = np.asarray(tables, dtype=float)
    off = t[..., 1] + t[..., 2]
    n0 = 2 * t[..., 0] + off
    n1 = 2 * t[..., 3] + off
    n = n0 + n1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n0 * n1 > 0, 1.0 - (n - 1) * off / (n0 * n1), np.nan)


def pairwise_agreement(
    indicators: dict[str, pd.DataFrame],
    labels: Sequence[str] = LABEL_IDS,
    *,
    by: str | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Agreement for every pair of coders and every label.

    `indicators[coder]` is indexed by (trial_id, turn) with one bool column per label (the
    turns that coder coded) and optionally a `by` column (e.g. subject) to split on.
    """
    rows = []
    coders = sorted(indicators)
    for i, x in enumerate(coders):
        for y in coders[i + 1:]:
            coder, reference = order_pair(x, y)
            left, right = indicators[coder], indicators[reference]
            common = left.index.intersection(right.index)
            if not len(common):
                continue
            lj, rj = left.loc[common], right.loc[common]
            groups: list[tuple[str, np.ndarray]] = [("all", np.ones(len(common), bool))]
            if by is not None and by in lj.columns:
                groups += [(str(g), (lj[by] == g).to_numpy()) for g in sorted(lj[by].unique())]
            trial = np.asarray(common.get_level_values(0))
            for group, mask in groups:
                for label in labels:
                    a = _column(lj, label)[mask]
                    b = _column(rj, label)[mask]
                    stats = binary_agreement(a, b, trial[mask], n_resamples=n_resamples,
                                             seed=seed)
                    rows.append({"coder": coder, "reference": reference, "group": group,
                                 "label": label, **stats})
    return pd.DataFrame(rows)


def _column(frame: pd.DataFrame, label: str) -> np.ndarray:
    if label in frame.columns:
        return frame[label].to_numpy(bool)
    return np.zeros(len(frame), bool)


def evaluate_on_gold(coder: Any, items: Sequence[dict[str, Any]],
                     labels: Sequence[str] = LABEL_IDS, *, seed: int = 0) -> pd.DataFrame:
    """Per-label precision, recall and F1 (with intervals) of a coder on gold turns.

    `items` are dicts with `text`, `labels` and optionally `context`; `coder` has
    `code_turns(turns)` (the lexicon coder) — each item is one single-turn unit.
    """
    turns = [Turn(1, it["text"], it.get("context", "")) for it in items]
    predicted = [{c.label for c in coder.code_turns([t])} for t in turns]
    rows = []
    for label in labels:
        p = np.array([label in s for s in predicted])
        g = np.array([label in it["labels"] for it in items])
        prf = precision_recall_f1(p, g, positive=True, seed=seed)
        row: dict[str, Any] = {"label": label, "gold_yes": int(g.sum()),
                               "predicted_yes": int(p.sum()), "n": len(items)}
        for measure in ("precision", "recall", "f1"):
            r = prf.loc[measure]
            row[measure] = float(r["estimate"])
            row[f"{measure}_low"] = float(r["ci_low"])
            row[f"{measure}_high"] = float(r["ci_high"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("label")
