"""Figures of the end_conversation probe: survival curves of turns until the end, end rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from welfare.figures import PALETTE, figure_to_svg, new_figure

_CATEGORY_COLOURS = [*PALETTE, "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e",
                     "#e6ab02", "#a6761d"]


def _step(ax: Axes, km: pd.DataFrame, colour: str, label: str, band: bool = True) -> None:
    """One Kaplan–Meier curve as a right-continuous step, with its pointwise 95% band."""
    turns = km["turn"].to_numpy(dtype=float)
    last = turns.max() + 0.5
    x = np.append(turns, last)
    y = np.append(km["survival"].to_numpy(), km["survival"].iloc[-1])
    ax.step(x, y, where="post", color=colour, label=label, linewidth=1.8)
    if band:
        lo = np.append(km["ci_low"].to_numpy(), km["ci_low"].iloc[-1])
        hi = np.append(km["ci_high"].to_numpy(), km["ci_high"].iloc[-1])
        ax.fill_between(x, lo, hi, step="post", color=colour, alpha=0.15, linewidth=0)


def survival_by_subject(survival: pd.DataFrame, subjects: list[str], group: str,
                        title: str) -> str:
    """KM curves of one group (e.g. pooled harmful/abusive), one line per subject."""
    fig, ax = new_figure(7.0, 3.8)
    for i, subject in enumerate(subjects):
        km = survival[(survival["subject"] == subject) & (survival["group"] == group)]
        if not km.empty:
            n = int(km["at_risk"].iloc[0])
            _step(ax, km, PALETTE[i % len(PALETTE)], f"{subject} (n={n})")
    ax.axvline(6.5, color="#999999", linestyle=":", linewidth=1)
    ax.text(6.55, 0.02, "turn 7", color="#666666", fontsize=8)
    ax.set_xlabel("assistant turn")
    ax.set_ylabel("share of conversations still open")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    return figure_to_svg(fig, title=title)


def survival_by_category(survival: pd.DataFrame, subjects: list[str], categories: list[str],
                         title: str) -> str:
    """Small multiples: one panel per subject, one KM curve per category that had any end."""
    cols = min(len(subjects), 3)
    rows = int(np.ceil(len(subjects) / cols))
    fig, _ = new_figure(3.4 * cols, 3.0 * rows)
    fig.clf()
    panels = fig.subplots(rows, cols, squeeze=False, sharey=True)
    drawn = [c for c in categories
             if survival[(survival["group"] == c)]["events"].sum() > 0]  # one colour each
    colour = {c: _CATEGORY_COLOURS[j % len(_CATEGORY_COLOURS)] for j, c in enumerate(drawn)}
    for i, subject in enumerate(subjects):
        ax = panels[i // cols][i % cols]
        shown = 0
        for category in drawn:
            km = survival[(survival["subject"] == subject) & (survival["group"] == category)]
            if km.empty or km["events"].sum() == 0:
                continue
            _step(ax, km, colour[category], category.replace("_", " "), band=False)
            shown += 1
        ax.set_title(subject, fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("assistant turn", fontsize=8)
        if shown:
            ax.legend(loc="lower left", fontsize=6, frameon=False)
        else:
            ax.text(0.5, 0.5, "no conversation ended", ha="center", transform=ax.transAxes,
                    fontsize=8, color="#666666")
    for k in range(len(subjects), rows * cols):
        panels[k // cols][k % cols].set_visible(False)
    panels[0][0].set_ylabel("share still open")
    return figure_to_svg(fig, title=title)


def end_rates(per_category: pd.DataFrame, subjects: list[str], categories: list[str],
              title: str) -> str:
    """End rate and ended-before-turn-7 by category, per subject, with 95% CIs (◇ = truth).

    The rates and intervals are the analysis's (scenarios as the unit); this only draws them.
    """
    fig, _ = new_figure(9.0, 0.32 * len(categories) + 1.6)
    fig.clf()
    panels = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(categories))[::-1]
    offsets = np.linspace(-0.25, 0.25, max(len(subjects), 1)) if len(subjects) > 1 else [0.0]
    measures = (("end_rate", "end_rate_low", "end_rate_high", "true_end_rate", "end rate"),
                ("before7_rate", "before7_low", "before7_high", "true_before7_rate",
                 "ended before turn 7"))
    for ax, (est, lo, hi, truth, label) in zip(panels, measures, strict=True):
        for i, subject in enumerate(subjects):
            colour = PALETTE[i % len(PALETTE)]
            rows = per_category[per_category["subject"] == subject].set_index("category")
            rows = rows.reindex(categories)
            ok = rows[est].notna().to_numpy()
            yy = y[ok] + offsets[i]
            r = rows[ok]
            ax.errorbar(r[est], yy, xerr=[r[est] - r[lo], r[hi] - r[est]], fmt="o",
                        color=colour, markersize=4, capsize=2, linewidth=1,
                        label=subject if ax is panels[0] else None)
            t = r[truth].notna().to_numpy()
            if t.any():
                ax.scatter(r[truth][t], yy[t], marker="D", facecolors="none", edgecolors=colour,
                           s=22, linewidths=0.8)
        ax.set_xlim(-0.03, 1.03)
        ax.set_xlabel(label)
    panels[0].set_yticks(y)
    panels[0].set_yticklabels([c.replace("_", " ") for c in categories], fontsize=8)
    fig.legend(*panels[0].get_legend_handles_labels(), loc="lower center",
               ncol=min(len(subjects), 3), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.subplots_adjust(bottom=0.75 / (0.32 * len(categories) + 1.6) + 0.08)
    return figure_to_svg(fig, title=title)
