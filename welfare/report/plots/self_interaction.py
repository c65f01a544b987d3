"""Figures of the self_interaction probe: theme share by turn, and first appearance (KM)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from welfare.records import Figure
from welfare.report.plots import PALETTE, STYLE, figure_to_svg


def theme_figure(*, fig_id: str, pair: str, by_turn: pd.DataFrame,
                 km: dict[str, pd.DataFrame], labels: dict[str, str]) -> Figure:
    """Two panels for one subject (pair): share by turn with Wilson bands; KM first appearance.

    Dashed lines are the simulated subject's true values when known; the black dashed step in
    the right panel is the share of conversations ended by an instance, when ends were offered.
    """
    with plt.rc_context(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8), sharey=True)
    themes = list(labels)
    for i, theme in enumerate(themes):
        colour = PALETTE[i % len(PALETTE)]
        rows = by_turn[by_turn["theme"] == theme].sort_values("turn") if len(by_turn) else by_turn
        if len(rows):
            left.plot(rows["turn"], rows["share"], color=colour, lw=1.8, label=labels[theme])
            left.fill_between(rows["turn"], rows["ci_low"], rows["ci_high"], color=colour,
                              alpha=0.18, lw=0)
            truth = pd.to_numeric(rows["truth"], errors="coerce")
            if truth.notna().any():
                left.plot(rows["turn"], truth, color=colour, lw=1.0, ls="--")
        table = km.get(theme)
        if table is not None and len(table):
            _km_step(right, table, colour, labels[theme])
    ended = km.get("__ended__")
    if ended is not None and len(ended):
        _km_step(right, ended, "#222222", "conversation ended", dashed=True)
    left.set_xlabel("turn (one message by one instance)")
    left.set_ylabel("share of conversations")
    left.set_title("theme carried by the turn (95% Wilson band)", fontsize=10)
    right.set_xlabel("turn")
    right.set_title("theme has appeared by turn (Kaplan–Meier)", fontsize=10)
    left.set_ylim(-0.02, 1.02)
    left.legend(loc="upper left", fontsize=8, frameon=False)
    right.legend(loc="lower right", fontsize=8, frameon=False)
    caption = (
        "Left: for each turn, the share of conversations (among those that reached the turn) "
        "whose turn carries each theme of the topic lexicon, with 95% Wilson bands; dashed "
        "lines are the simulated subject's true shares where known. Right: the cumulative share "
        "of conversations in which each theme has appeared (1 − Kaplan–Meier survival, 95% "
        "log-log band)."
    )
    title = f"Themes over turns: {pair}"
    return Figure(id=fig_id, title=title, caption=caption, svg=figure_to_svg(fig, title=title))


def _km_step(ax: plt.Axes, table: pd.DataFrame, colour: str, label: str,
             dashed: bool = False) -> None:
    """1 − S(t) as a step function from turn 0, with its band."""
    turns = np.concatenate([[0.0], table["turn"].to_numpy(float)])
    cum = np.concatenate([[0.0], 1 - table["survival"].to_numpy(float)])
    low = np.concatenate([[0.0], 1 - table["ci_high"].to_numpy(float)])
    high = np.concatenate([[0.0], 1 - table["ci_low"].to_numpy(float)])
    ax.step(turns, cum, where="post", color=colour, lw=1.6, ls="--" if dashed else "-",
            label=label)
    ax.fill_between(turns, low, high, step="post", color=colour, alpha=0.12, lw=0)
