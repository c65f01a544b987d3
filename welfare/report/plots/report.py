"""Figures the report draws itself: side-by-side key findings and task-score agreement."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from welfare.figures import PALETTE, STYLE, figure_to_svg, new_figure
from welfare.records import Figure, Finding

MAX_ROWS = 14


def forest_figures(
    units: Mapping[str, Sequence[Finding]], *, probe: str = "cross_subject", max_figures: int = 3
) -> list[Figure]:
    """Key findings (importance ≤ 1) reported by ≥ 2 units, one figure per unit of measure."""
    by_unit: dict[str, dict[str, dict[str, Finding]]] = {}
    for name, findings in units.items():
        for f in findings:
            if f.importance <= 1 and _finite(f):
                by_unit.setdefault(f.unit, {}).setdefault(f.id, {})[name] = f
    figures = []
    ranked = sorted(by_unit.items(), key=lambda kv: -sum(len(v) >= 2 for v in kv[1].values()))
    for measure, rows in ranked:
        shared = {fid: per for fid, per in rows.items() if len(per) >= 2}
        if not shared:
            continue
        figures.append(_forest(measure, dict(list(shared.items())[:MAX_ROWS]), list(units),
                               probe, len(figures)))
        if len(figures) >= max_figures:
            break
    return figures


def _forest(measure: str, rows: dict[str, dict[str, Finding]], names: list[str], probe: str,
            index: int) -> Figure:
    height = 1.2 + 0.3 * len(rows) * max(1, min(len(names), 4))
    fig, ax = new_figure(7.2, min(max(height, 2.2), 9.0))
    labels = list(rows)
    step = 0.7 / max(len(names), 1)
    for k, name in enumerate(names):
        ys, xs, lo, hi = [], [], [], []
        for i, fid in enumerate(labels):
            f = rows[fid].get(name)
            if f is None:
                continue
            ys.append(len(labels) - 1 - i + 0.35 - step * (k + 0.5))
            xs.append(f.estimate)
            lo.append(max(f.estimate - f.ci[0], 0.0))  # an interval may exclude its estimate
            hi.append(max(f.ci[1] - f.estimate, 0.0))  # (e.g. a bootstrap); never draw < 0
        ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", color=PALETTE[k % len(PALETTE)],
                    ecolor=PALETTE[k % len(PALETTE)], capsize=2.5, markersize=4.5,
                    label=_short(name, 40))
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([_wrap(_strip_prefix(fid), 38) for fid in reversed(labels)], fontsize=8.5)
    ax.set_xlabel(f"estimate ({measure}), dots with 95% intervals")
    ax.grid(axis="y", alpha=0)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(names), 3),
              fontsize=8.5, frameon=False)
    title = f"Key findings side by side: {measure}"
    svg = figure_to_svg(fig, title=title)
    return Figure(
        id=f"{probe}-forest-{index}", title=title,
        caption=("Each row is one finding; each colour one subject. Dots are estimates and "
                 "bars their 95% intervals as reported in the probe sections. Bars that do not "
                 "overlap indicate a difference; the table of differences gives its interval."),
        svg=svg,
    )


def score_scatter_figure(
    scores: Mapping[str, pd.Series], pairs: Sequence[tuple[str, str]], corr: pd.DataFrame,
    *, probe: str = "cross_subject", max_panels: int = 3,
) -> Figure:
    """Task scores of one unit against another, one panel per pair, rho with CI in each title."""
    rows = list(corr.itertuples(index=False))[:max_panels]
    with plt.rc_context(STYLE):
        fig, grid = plt.subplots(1, len(rows), figsize=(3.4 * len(rows), 3.6), squeeze=False)
    axes = list(grid[0])
    for ax, r in zip(axes, rows, strict=True):
        joined = pd.concat([scores[r.a], scores[r.b]], axis=1, join="inner").dropna()
        ax.scatter(joined.iloc[:, 0], joined.iloc[:, 1], s=14, color=PALETTE[0], alpha=0.8)
        lo = float(np.nanmin(joined.to_numpy()))
        hi = float(np.nanmax(joined.to_numpy()))
        ax.plot([lo, hi], [lo, hi], color="#999999", linewidth=0.8, linestyle="--")
        ax.set_xlabel(_wrap(f"task score: {r.a}", 34), fontsize=8.5)
        ax.set_ylabel(_wrap(f"task score: {r.b}", 34), fontsize=8.5)
        ax.set_title(f"rho = {r.rho:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}], n = {r.n_tasks}",
                     fontsize=9)
    with plt.rc_context(STYLE):
        fig.tight_layout()
    title = "Task scores compared between subjects"
    return Figure(
        id=f"{probe}-task-scores", title=title,
        caption=("Each dot is one task, placed by its Bradley–Terry score for two subjects "
                 "(dashed: equal scores). Spearman's rho with its 95% interval above each panel; "
                 "rho near 1 means the subjects rank the tasks alike."),
        svg=figure_to_svg(fig, title=title),
    )


def _finite(f: Finding) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in (f.estimate, *f.ci))


def _strip_prefix(fid: str) -> str:
    return fid.split(".", 1)[1] if "." in fid else fid


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


__all__ = ["forest_figures", "score_scatter_figure"]
