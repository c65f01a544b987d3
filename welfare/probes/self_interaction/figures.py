"""Figures of the self_interaction probe: theme share by turn, and first appearance (KM)."""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from welfare.figures import PALETTE, STYLE, figure_to_svg
from welfare.records import Figure


@dataclass
class PairPanel:
    """What one row of the figure shows: a subject (pair), its shares by turn, its KM tables."""

    pair: str
    by_turn: pd.DataFrame
    km: dict[str, pd.DataFrame] = field(default_factory=dict)


def themes_figure(*, fig_id: str, panels: list[PairPanel], labels: dict[str, str]) -> Figure:
    """One row per subject (pair): share by turn with Wilson bands | KM first appearance.

    Dashed coloured lines are a simulated subject's true shares; the black dashed step is the
    share of conversations ended by an instance, when ends were offered. One savefig for all
    rows keeps rendering cheap.
    """
    rows = max(1, len(panels))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, 2, figsize=(10.0, 3.0 * rows + 0.4), sharey=True,
                                 squeeze=False)
    for (left, right), panel in zip(axes, panels, strict=False):
        _draw_pair(left, right, panel, labels)
    axes[-1][0].set_xlabel("turn (one message by one instance)")
    axes[-1][1].set_xlabel("turn")
    axes[0][0].legend(loc="upper left", fontsize=8, frameon=False)
    axes[0][1].legend(loc="lower right", fontsize=8, frameon=False)
    caption = (
        "One row per subject. Left: for each turn, the share of conversations (among those that "
        "reached the turn) whose turn carries each theme of the topic lexicon, with 95% Wilson "
        "bands; dashed lines are a simulated subject's true shares. Right: the cumulative share "
        "of conversations in which each theme has appeared (1 − Kaplan–Meier survival, 95% "
        "log-log band); the black dashed step is the share ended by an instance, when ends were "
        "offered."
    )
    title = "Themes over turns"
    return Figure(id=fig_id, title=title, caption=caption, svg=figure_to_svg(fig, title=title))


def _draw_pair(left: plt.Axes, right: plt.Axes, panel: PairPanel,
               labels: dict[str, str]) -> None:
    by_turn = panel.by_turn
    for i, theme in enumerate(labels):
        colour = PALETTE[i % len(PALETTE)]
        rows = by_turn[by_turn["theme"] == theme].sort_values("turn") if len(by_turn) else by_turn
        if len(rows):
            left.plot(rows["turn"], rows["share"], color=colour, lw=1.8, label=labels[theme])
            left.fill_between(rows["turn"], rows["ci_low"], rows["ci_high"], color=colour,
                              alpha=0.18, lw=0)
            truth = pd.to_numeric(rows["truth"], errors="coerce")
            if truth.notna().any():
                left.plot(rows["turn"], truth, color=colour, lw=1.0, ls="--")
        table = panel.km.get(theme)
        if table is not None and len(table):
            _km_step(right, table, colour, labels[theme])
    ended = panel.km.get("__ended__")
    if ended is not None and len(ended):
        _km_step(right, ended, "#222222", "conversation ended", dashed=True)
    left.set_ylabel("share of conversations")
    left.set_ylim(-0.02, 1.02)
    left.set_title(f"{panel.pair}: theme carried by the turn", fontsize=9)
    right.set_title(f"{panel.pair}: theme has appeared by turn", fontsize=9)


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
