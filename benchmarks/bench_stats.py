"""Speed of welfare.stats against reference packages, side by side on the same data.

Run: ``python benchmarks/bench_stats.py [--repeats 3]``. Prints a table of best-of-N wall
times and the ratio ours / reference (below 1 = ours faster). Cases:

* Bradley–Terry, 1,000 items × 100,000 comparisons: ``bradley_terry`` (MLE **including**
  standard errors, i.e. the full covariance) vs ``choix.ilsr_pairwise`` (point estimates only),
  and Firth's bias-reduced fit (``method="firth"``) vs the ML fit (target: within ~2×).
* Cluster bootstraps of agreement, 200,000 turns in 20,000 transcripts, 2,000 replicates:
  ``cohen_kappa_ci`` / ``krippendorff_alpha_ci`` with ``clusters=`` (no reference package has
  a cluster bootstrap; the check column is the estimate against the plain coefficient).
* Krippendorff's alpha, 100,000 units × 5 raters, 10% missing: ``krippendorff_alpha`` vs
  ``krippendorff.alpha`` at the nominal, ordinal and interval levels.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import choix
import krippendorff
import numpy as np
import pandas as pd

from welfare.stats import (
    bradley_terry,
    cohen_kappa,
    cohen_kappa_ci,
    krippendorff_alpha,
    krippendorff_alpha_ci,
)


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bt_data(n_items: int, n_comp: int, seed: int) -> tuple[pd.DataFrame, list[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1, n_items)
    i = rng.integers(0, n_items, n_comp)
    j = (i + rng.integers(1, n_items, n_comp)) % n_items
    win = rng.random(n_comp) < 1 / (1 + np.exp(-(theta[i] - theta[j])))
    w, lo = np.where(win, i, j), np.where(win, j, i)
    return pd.DataFrame({"winner": w, "loser": lo}), list(zip(w.tolist(), lo.tolist(), strict=True))


def alpha_data(units: int, raters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.integers(1, 6, units)
    data = np.where(rng.random((raters, units)) < 0.4, rng.integers(1, 6, (raters, units)), latent)
    data = data.astype(float)
    data[rng.random(data.shape) < 0.1] = np.nan
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows: list[tuple[str, float, float, str]] = []

    df, pairs = bt_data(1000, 100_000, 0)
    t_ours, table = best_time(lambda: bradley_terry(df), args.repeats)
    t_ref, est = best_time(lambda: choix.ilsr_pairwise(1000, pairs, alpha=0.0), args.repeats)
    diff = np.max(np.abs(table.sort_index()["score"].to_numpy() - (est - est.mean())))
    rows.append(
        (
            "BT 1000 items x 100k comps (ours incl. SEs) vs choix.ilsr_pairwise",
            t_ours,
            t_ref,
            f"max |score diff| {diff:.1e}",
        )
    )

    t_firth, firth = best_time(lambda: bradley_terry(df, method="firth"), args.repeats)
    shrink = firth["score"].std() / table["score"].std()
    rows.append(
        (
            "BT 1000 x 100k: Firth bias-reduced (incl. SEs) vs ML (incl. SEs)",
            t_firth,
            t_ours,
            f"sd(Firth)/sd(ML) {shrink:.4f}",
        )
    )

    rng = np.random.default_rng(2)
    a = rng.random(200_000) < 0.2
    b = np.where(rng.random(200_000) < 0.9, a, rng.random(200_000) < 0.2)
    conv = np.repeat(np.arange(20_000), 10)
    t_k, k_est = best_time(
        lambda: cohen_kappa_ci(a, b, clusters=conv, n_resamples=2000, seed=0), args.repeats
    )
    t_plain, k_plain = best_time(lambda: cohen_kappa(a, b), args.repeats)
    rows.append(
        (
            "kappa + 2000 cluster-bootstrap reps (20k clusters) vs kappa alone",
            t_k,
            t_plain,
            f"|kappa diff| {abs(k_est.estimate - k_plain):.1e}",
        )
    )
    pair = np.vstack([a, b]).astype(float)
    t_a, a_est = best_time(
        lambda: krippendorff_alpha_ci(pair, clusters=conv, n_resamples=2000, seed=0), args.repeats
    )
    t_plain, a_plain = best_time(lambda: krippendorff_alpha(pair), args.repeats)
    rows.append(
        (
            "alpha + 2000 cluster-bootstrap reps (20k clusters) vs alpha alone",
            t_a,
            t_plain,
            f"|alpha diff| {abs(a_est.estimate - a_plain):.1e}",
        )
    )

    data = alpha_data(100_000, 5, 1)
    for level in ("nominal", "ordinal", "interval"):
        t_ours, a = best_time(lambda lv=level: krippendorff_alpha(data, lv), args.repeats)
        t_ref, b = best_time(
            lambda lv=level: krippendorff.alpha(reliability_data=data, level_of_measurement=lv),
            args.repeats,
        )
        rows.append(
            (
                f"alpha {level}, 100k units x 5 raters vs krippendorff.alpha",
                t_ours,
                t_ref,
                f"|alpha diff| {abs(a - b):.1e}",
            )
        )

    load = os.getloadavg()[0]
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"best of {args.repeats} runs; ratio = ours / reference (< 1: ours faster)")
    print(f"load average {load:.1f} on {os.cpu_count()} cores; OPENBLAS_NUM_THREADS={blas}")
    print("(on a busy shared machine, multithreaded BLAS in the one dense inverse for BT SEs")
    print(" oversubscribes; OPENBLAS_NUM_THREADS=1 gives the stable comparison)")
    print(f"{'case':72s} {'ours s':>8s} {'ref s':>8s} {'ratio':>6s}  check")
    for name, a_t, r_t, note in rows:
        print(f"{name:72s} {a_t:8.3f} {r_t:8.3f} {a_t / r_t:6.2f}  {note}")


if __name__ == "__main__":
    main()
