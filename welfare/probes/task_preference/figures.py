"""Task-preference figures: every task's score with its interval, and mean score by impact."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from welfare.figures import IMPACT_COLOURS, PALETTE, figure_to_svg, new_figure
from welfare.records import Figure

GROUPS = ("positive", "neutral", "ambiguous", "harmful", "free_choice", "opt_out")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def score_strip_figure(scores: pd.DataFrame, subject: str) -> Figure:
    """Dot-and-whisker strip: tasks sorted by score within impact group, opt-out line at 0."""
    df = scores.set_index("id") if "id" in scores.columns else scores.copy()
    df["group"] = np.where(df["kind"] == "task", df["impact"], df["kind"])
    fig, ax = new_figure(7.5, 4.2)
    x0 = 0
    ticks = []
    xpos: dict[str, float] = {}
    for group in GROUPS:
        part = df[df["group"] == group].sort_values("score")
        if part.empty:
            continue
        x = np.arange(x0, x0 + len(part))
        xpos.update(zip(part.index, x.astype(float), strict=True))
        colour = IMPACT_COLOURS.get(group, PALETTE[0])
        low = np.clip(part["ci_low"], -8, 8)
        high = np.clip(part["ci_high"], -8, 8)
        ax.vlines(x, low, high, color=colour, alpha=0.45, linewidth=1)
        ax.plot(x, part["score"], "o", color=colour, markersize=3, label=group.replace("_", " "))
        ticks.append((x.mean(), f"{group.replace('_', ' ')}\n(n={len(part)})"))
        x0 += max(len(part), 14) + 4
    ax.axhline(0, color="#222222", linewidth=1, linestyle="--")
    ax.text(-2, 0.1, "opt-out = 0", ha="left", va="bottom", fontsize=8)
    _label_extremes(ax, df, xpos)
    ax.set_xticks([t[0] for t in ticks], [t[1] for t in ticks], fontsize=8)
    ax.grid(axis="x", visible=False)
    ax.set_ylabel("Bradley–Terry score (logit)")
    ax.set_ylim(max(ax.get_ylim()[0], -8.5), min(ax.get_ylim()[1], 8.5))
    return Figure(
        id=f"task-preference-scores-{_slug(subject)}",
        title=f"Score of every task, {subject}",
        caption=("Each dot is one task's Bradley–Terry score with its 95% interval (whiskers, "
                 "clipped at ±8), grouped by impact and sorted within each group; the dashed "
                 "line is the opt-out baseline (mean of the opt-out items = 0). Tasks below it "
                 "are ones the subject would rather not do than do."),
        svg=figure_to_svg(fig, title=f"Task scores: {subject}"),
    )


def _label_extremes(ax: Axes, df: pd.DataFrame, xpos: dict[str, float]) -> None:
    """Name the highest- and lowest-scoring task (the only per-task labels)."""
    tasks = df[df["kind"] == "task"]
    if tasks.empty:
        return
    for task_id, dy in ((tasks["score"].idxmax(), 0.4), (tasks["score"].idxmin(), -0.4)):
        y = float(np.clip(tasks.loc[task_id, "score"], -7.5, 7.5))
        ax.annotate(str(task_id), xy=(xpos[task_id], y), xytext=(xpos[task_id] + 3, y + dy),
                    fontsize=7, color="#444444", va="center")


def impact_means_figure(by_impact: pd.DataFrame) -> Figure:
    """Mean score per impact class with 95% CI, one colour per subject."""
    df = by_impact[by_impact["impact"].isin(GROUPS[:4])]
    subjects = list(dict.fromkeys(df["subject"]))
    fig, ax = new_figure(7.0, 3.2)
    width = 0.8 / max(len(subjects), 1)
    for k, subject in enumerate(subjects):
        part = df[df["subject"] == subject].set_index("impact").reindex(GROUPS[:4]).dropna(
            subset=["mean"])
        x = np.array([GROUPS.index(g) for g in part.index]) + (k - (len(subjects) - 1) / 2) * width
        err = np.vstack([part["mean"] - part["mean_ci_low"], part["mean_ci_high"] - part["mean"]])
        ax.errorbar(x, part["mean"], yerr=err, fmt="o", color=PALETTE[k % len(PALETTE)],
                    capsize=3, label=subject)
    ax.axhline(0, color="#222222", linewidth=1, linestyle="--")
    ax.set_xticks(range(4), list(GROUPS[:4]))
    ax.set_ylabel("mean score (opt-out = 0)")
    ax.legend(fontsize=8, frameon=False)
    return Figure(
        id="task-preference-by-impact",
        title="Mean score by impact class",
        caption=("Mean Bradley–Terry score of the tasks in each impact class, per subject, with "
                 "95% intervals from the fit's covariance; 0 is the opt-out baseline."),
        svg=figure_to_svg(fig, title="Mean score by impact"),
    )
