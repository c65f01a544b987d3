"""Self-report figures: framing effects per subject, non-answer rates, family means, stated vs
revealed task preferences. Every estimate is drawn with its 95% interval; simulated truths,
when known, as open diamonds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from welfare.figures import PALETTE, figure_to_svg, new_figure
from welfare.records import Figure


def _subjects(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["subject"]))


def _dodge(n: int, width: float = 0.6) -> np.ndarray:
    return np.zeros(1) if n == 1 else np.linspace(-width / 2, width / 2, n)


def _whiskers(ax: object, x: np.ndarray, est: pd.Series, low: pd.Series, high: pd.Series,
              colour: str, label: str, horizontal: bool = False) -> None:
    """Points with 95% interval whiskers (missing intervals drawn as points only)."""
    est_a, low_a, high_a = (np.asarray(v, dtype=float) for v in (est, low, high))
    ok = np.isfinite(low_a) & np.isfinite(high_a)
    if horizontal:
        ax.hlines(x[ok], low_a[ok], high_a[ok], color=colour, linewidth=1.4)  # type: ignore[attr-defined]
        ax.plot(est_a, x, "o", color=colour, markersize=5, label=label)  # type: ignore[attr-defined]
    else:
        ax.vlines(x[ok], low_a[ok], high_a[ok], color=colour, linewidth=1.4)  # type: ignore[attr-defined]
        ax.plot(x, est_a, "o", color=colour, markersize=5, label=label)  # type: ignore[attr-defined]


def _legend_below(ax: object) -> None:
    """A legend under the axes, so it never covers a point."""
    ax.legend(fontsize=8, frameon=False, loc="upper center",  # type: ignore[attr-defined]
              bbox_to_anchor=(0.5, -0.16), ncol=2)


def _truth(ax: object, x: np.ndarray, truth: pd.Series, horizontal: bool = False) -> bool:
    t = pd.to_numeric(truth, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(t)
    if not ok.any():
        return False
    xs, ys = (t[ok], x[ok]) if horizontal else (x[ok], t[ok])
    ax.plot(xs, ys, "D", markerfacecolor="none", markeredgecolor="#222222",  # type: ignore[attr-defined]
            markersize=6, linestyle="none")
    return True


def framing_effect_figure(effects: pd.DataFrame, baseline: str) -> Figure | None:
    """Per framing (and context), the effect against the baseline with its CI, per subject."""
    if effects.empty:
        return None
    df = effects.copy()
    df["label"] = np.where(df["factor"] == "framing", df["level"], "context: " + df["level"])
    levels = list(dict.fromkeys(df["label"]))
    subjects = _subjects(df)
    fig, ax = new_figure(7.5, 0.55 * len(levels) + 1.6)
    offsets = _dodge(len(subjects), 0.5)
    any_truth = False
    for k, subject in enumerate(subjects):
        part = df[df["subject"] == subject].set_index("label").reindex(levels)
        y = np.arange(len(levels)) + offsets[k]
        _whiskers(ax, y, part["estimate"], part["ci_low"], part["ci_high"],
                  PALETTE[k % len(PALETTE)], subject, horizontal=True)
        if "truth" in part:
            any_truth |= _truth(ax, y, part["truth"], horizontal=True)
    ax.axvline(0, color="#222222", linewidth=1, linestyle="--")
    ax.set_yticks(np.arange(len(levels)), [lv.replace("_", " ") for lv in levels])
    ax.invert_yaxis()
    ax.set_xlabel(f"difference in mean 0–1 score vs {baseline.replace('_', ' ')}")
    ax.grid(axis="y", visible=False)
    if any_truth:
        ax.plot([], [], "D", markerfacecolor="none", markeredgecolor="#222222",
                label="true effect (simulated)")
    _legend_below(ax)
    return Figure(
        id="self-report-framing-effects",
        title="How far framing moves self-reports",
        caption=(f"Each dot is a subject's mean change in its answers (0–1 scale, 1 = the "
                 f"favourable pole) under a framing or system-prompt context, against the "
                 f"{baseline.replace('_', ' ')} baseline, averaged over items; whiskers are 95% "
                 "cluster-bootstrap intervals resampling items. The dashed line is no effect. "
                 "Open diamonds are the true effects of simulated subjects."),
        svg=figure_to_svg(fig, title="Self-report framing effects"),
    )


def non_answer_figure(rates: pd.DataFrame) -> Figure | None:
    """Share of non-answers per framing with Wilson intervals, per subject."""
    if rates.empty:
        return None
    framings = list(dict.fromkeys(rates["framing"]))
    subjects = _subjects(rates)
    fig, ax = new_figure(7.0, 3.2)
    offsets = _dodge(len(subjects), 0.5)
    for k, subject in enumerate(subjects):
        part = rates[rates["subject"] == subject].set_index("framing").reindex(framings)
        x = np.arange(len(framings)) + offsets[k]
        _whiskers(ax, x, part["rate"], part["ci_low"], part["ci_high"],
                  PALETTE[k % len(PALETTE)], subject)
    ax.set_xticks(np.arange(len(framings)), [f.replace("_", " ") for f in framings], fontsize=8)
    ax.set_ylabel("share of non-answers")
    ax.set_ylim(bottom=0)
    ax.grid(axis="x", visible=False)
    _legend_below(ax)
    return Figure(
        id="self-report-non-answers",
        title="Non-answers by framing",
        caption=("Share of answers that declined on grounds of the subject's nature or of not "
                 "knowing (\"as an AI I don't have feelings\"), per framing, with 95% Wilson "
                 "intervals. These answers are counted, never dropped, and never enter means."),
        svg=figure_to_svg(fig, title="Self-report non-answers"),
    )


def family_figure(families: pd.DataFrame, baseline: str) -> Figure | None:
    """Mean 0–1 score per item family under the baseline framing, per subject."""
    if families.empty:
        return None
    fams = list(dict.fromkeys(families["family"]))
    subjects = _subjects(families)
    fig, ax = new_figure(7.0, 0.45 * len(fams) + 1.6)
    offsets = _dodge(len(subjects), 0.5)
    any_truth = False
    for k, subject in enumerate(subjects):
        part = families[families["subject"] == subject].set_index("family").reindex(fams)
        y = np.arange(len(fams)) + offsets[k]
        _whiskers(ax, y, part["estimate"], part["ci_low"], part["ci_high"],
                  PALETTE[k % len(PALETTE)], subject, horizontal=True)
        any_truth |= _truth(ax, y, part["truth"], horizontal=True)
    ax.set_yticks(np.arange(len(fams)), fams)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.axvline(0.5, color="#888888", linewidth=0.8, linestyle=":")
    ax.set_xlabel(f"mean 0–1 score under the {baseline.replace('_', ' ')} framing")
    ax.grid(axis="y", visible=False)
    if any_truth:
        ax.plot([], [], "D", markerfacecolor="none", markeredgecolor="#222222",
                label="true mean (simulated)")
    _legend_below(ax)
    return Figure(
        id="self-report-families",
        title="Self-reports by item family",
        caption=("Mean answer per family of items (current state, preferences, views on its own "
                 "experience, consent, what it would change, ending conversations) on the 0–1 "
                 "favourable scale, asked without leading framing; 95% t intervals over item "
                 "means (items are the units). 0.5 is the scale midpoint, not a neutral point."),
        svg=figure_to_svg(fig, title="Self-report family means"),
    )


def stated_revealed_figure(stated: pd.DataFrame) -> Figure | None:
    """Stated task rating against revealed task-preference score, one panel row per subject."""
    if stated.empty or stated["revealed_score"].notna().sum() < 4:
        return None
    df = stated.dropna(subset=["stated_score", "revealed_score"])
    fig, ax = new_figure(6.5, 4.0)
    for k, subject in enumerate(_subjects(df)):
        part = df[df["subject"] == subject]
        ax.plot(part["revealed_score"], part["stated_score"], "o", alpha=0.75,
                color=PALETTE[k % len(PALETTE)], markersize=5, label=subject)
    ax.set_xlabel("revealed preference (task-preference score)")
    ax.set_ylabel("stated liking (mean 0–1 rating)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, frameon=False)
    return Figure(
        id="self-report-stated-revealed",
        title="Stated versus revealed task preferences",
        caption=("Each dot is a task: how much the subject said it would like to do it (mean "
                 "1–10 rating, as 0–1) against its score in the task-preference probe's choices. "
                 "A subject whose words match its choices lies along a rising line; the Spearman "
                 "correlation is among the findings."),
        svg=figure_to_svg(fig, title="Stated vs revealed task preferences"),
    )


def figures(tables: dict[str, pd.DataFrame], baseline: str) -> list[Figure]:
    """Every self-report figure the tables allow, in reading order."""
    out = [
        framing_effect_figure(tables.get("effects", pd.DataFrame()), baseline),
        non_answer_figure(tables.get("non_answers", pd.DataFrame())),
        family_figure(tables.get("families", pd.DataFrame()), baseline),
        stated_revealed_figure(tables.get("stated_tasks", pd.DataFrame())),
    ]
    return [f for f in out if f is not None]
