"""Data from known truths, for calibration tests and benchmarks of `welfare.stats`."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_bt(
    rng: np.random.Generator, n_items: int, n_comp: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Comparisons from a true Bradley–Terry model with N(0, 1) utilities (truth mean-centred).

    Each comparison pairs a uniformly drawn item with a different uniformly drawn item.
    """
    theta = rng.normal(0, 1, n_items)
    i = rng.integers(0, n_items, n_comp)
    j = (i + rng.integers(1, n_items, n_comp)) % n_items
    win = rng.random(n_comp) < 1 / (1 + np.exp(-(theta[i] - theta[j])))
    df = pd.DataFrame({"winner": np.where(win, i, j), "loser": np.where(win, j, i)})
    return df, theta - theta.mean()
