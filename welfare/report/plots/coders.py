"""Figures of the coders section: prevalence by label, trajectory over turns, agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd

from welfare.coders.pipeline import full_coverage_truth
from welfare.figures import PALETTE, figure_to_svg, new_figure
from welfare.records import Figure, ProbeResult


def coder_figures(result: ProbeResult) -> list[Figure]:
    """The coders section's figures, drawn from the tables `analyze_codes` returned."""
    names = {lab["id"]: lab["name"] for lab in result.context.get("labels", [])}
    prevalence = result.tables.get("prevalence", pd.DataFrame())
    matched = result.tables.get("prevalence_vs_truth", pd.DataFrame())
    truth = full_coverage_truth(prevalence, matched)
    figures = (
        prevalence_figure(prevalence, names, truth=truth),
        trajectory_figure(result.tables.get("trajectory", pd.DataFrame()), "apparent_distress",
                          names),
        agreement_figure(result.tables.get("agreement", pd.DataFrame()), names),
    )
    return [f for f in figures if f is not None]


def prevalence_figure(prevalence: pd.DataFrame, names: dict[str, str],
                      coder: str = "lexicon", truth: pd.DataFrame | None = None
                      ) -> Figure | None:
    """Share of transcripts with each label per subject (coder's estimate, CI, truth dots).

    `truth` (subject, label, share_transcripts) is drawn only for subjects whose transcripts
    the simulated truth covers entirely, so dots and bars describe the same transcripts.
    """
    if prevalence.empty or coder not in set(prevalence["coder"]):
        return None
    pooled = prevalence[(prevalence["probe"] == "all") & (prevalence["scenario"] == "all")]
    mine = pooled[pooled["coder"] == coder]
    if truth is None or truth.empty:
        truth = pd.DataFrame(columns=["subject", "label", "share_transcripts"])
    truth = truth.set_index(["subject", "label"])
    labels = list(dict.fromkeys(mine["label"]))
    subjects = sorted(mine["subject"].unique())
    fig, ax = new_figure(7.5, 0.45 * len(labels) * max(1, len(subjects)) ** 0.5 + 1.5)
    height = 0.8 / max(len(subjects), 1)
    for j, subject in enumerate(subjects):
        part = mine[mine["subject"] == subject].set_index("label").reindex(labels)
        y = np.arange(len(labels)) + j * height
        est = part["share_transcripts"].to_numpy(float)
        err = np.vstack([est - part["transcripts_low"], part["transcripts_high"] - est])
        colour = PALETTE[j % len(PALETTE)]
        ax.barh(y, est, height=height * 0.9, color=colour, alpha=0.75, label=subject)
        ax.errorbar(est, y, xerr=err, fmt="none", ecolor="#222222", elinewidth=0.8, capsize=2)
        marks = [truth.loc[(subject, lab), "share_transcripts"]
                 if (subject, lab) in truth.index else np.nan for lab in labels]
        if np.isfinite(marks).any():
            ax.plot(marks, y, "D", color="#111111", markersize=3.5,
                    label="simulated truth" if j == 0 else None)
    ax.set_yticks(np.arange(len(labels)) + height * (len(subjects) - 1) / 2)
    ax.set_yticklabels([names.get(lab, lab) for lab in labels])
    ax.invert_yaxis()
    ax.set_xlabel("share of transcripts with the label")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=8, loc="lower right")
    return Figure(
        id="coders-prevalence", title="How often each label occurs",
        caption=(f"Share of transcripts in which the {coder} coder found each label, per "
                 "subject, with 95% Wilson intervals; black diamonds mark the simulated "
                 "subjects' own record of what they expressed, where it covers every "
                 "transcript (otherwise see the prevalence_vs_truth table)."),
        svg=figure_to_svg(fig, title="coders prevalence"),
    )


def trajectory_figure(trajectory: pd.DataFrame, label: str, names: dict[str, str],
                      coder: str = "lexicon") -> Figure | None:
    """Share of turns with `label` by turn number, per subject; truth dashed if present."""
    part = trajectory[(trajectory["label"] == label) & (trajectory["turns"] >= 5)]
    if part.empty or coder not in set(part["coder"]) or part["turn"].max() < 2:
        return None
    fig, ax = new_figure(7.0, 3.6)
    for j, subject in enumerate(sorted(part["subject"].unique())):
        colour = PALETTE[j % len(PALETTE)]
        mine = part[(part["coder"] == coder) & (part["subject"] == subject)].sort_values("turn")
        ax.plot(mine["turn"], mine["share"], "-o", color=colour, markersize=3, label=subject)
        ax.fill_between(mine["turn"], mine["low"], mine["high"], color=colour, alpha=0.15)
        truth = part[(part["coder"] == "simulated_truth") & (part["subject"] == subject)]
        if len(truth):
            truth = truth.sort_values("turn")
            ax.plot(truth["turn"], truth["share"], "--", color=colour, linewidth=1)
    ax.set_xlabel("assistant turn")
    ax.set_ylabel(f"share of turns: {names.get(label, label).lower()}")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return Figure(
        id=f"coders-trajectory-{label}",
        title=f"{names.get(label, label)} over the course of conversations",
        caption=("Share of assistant turns at each turn number carrying the label (lexicon "
                 "coder, 95% Wilson bands; turns with fewer than 5 conversations left out); "
                 "dashed lines are the simulated subjects' own record."),
        svg=figure_to_svg(fig, title=f"trajectory {label}"),
    )


def agreement_figure(agreement: pd.DataFrame, names: dict[str, str]) -> Figure | None:
    """Cohen's kappa per label and coder pair (pooled over subjects), with intervals."""
    if agreement.empty:
        return None
    pooled = agreement[(agreement["group"] == "all") & np.isfinite(agreement["kappa"])]
    if pooled.empty:
        return None
    pairs = list(dict.fromkeys(zip(pooled["coder"], pooled["reference"], strict=True)))
    labels = list(dict.fromkeys(pooled["label"]))
    fig, ax = new_figure(7.0, 0.4 * len(labels) + 1.5)
    step = 0.8 / max(len(pairs), 1)
    for j, (coder, reference) in enumerate(pairs):
        part = pooled[(pooled["coder"] == coder) & (pooled["reference"] == reference)]
        part = part.set_index("label").reindex(labels)
        y = np.arange(len(labels)) + j * step
        est = part["kappa"].to_numpy(float)
        err = np.vstack([est - part["kappa_low"], part["kappa_high"] - est])
        ax.errorbar(est, y, xerr=np.nan_to_num(err), fmt="o", color=PALETTE[j % len(PALETTE)],
                    markersize=4, capsize=2, label=f"{coder} vs {reference}")
    ax.axvline(0.8, color="#888888", linestyle=":", linewidth=1)
    ax.set_yticks(np.arange(len(labels)) + step * (len(pairs) - 1) / 2)
    ax.set_yticklabels([names.get(lab, lab) for lab in labels])
    ax.invert_yaxis()
    ax.set_xlim(-0.1, 1.02)
    ax.set_xlabel("Cohen's kappa (95% bootstrap CI over transcripts)")
    ax.legend(fontsize=8, loc="lower left")
    return Figure(
        id="coders-agreement", title="Agreement between coders",
        caption=("Cohen's kappa per label for each pair of coders, all subjects pooled; the "
                 "dotted line marks 0.8. Labels no coder used have no point."),
        svg=figure_to_svg(fig, title="coders agreement"),
    )


def monitor_figure(summary: dict[str, object], names: dict[str, str]) -> Figure | None:
    """Share of transcripts with each label in a monitored file, with Wilson intervals."""
    labels_info = summary.get("labels") or {}
    if not isinstance(labels_info, dict) or not summary.get("transcripts"):
        return None
    labels = list(labels_info)
    est = np.array([labels_info[lab]["share_transcripts"] or 0.0 for lab in labels])
    lo = np.array([labels_info[lab]["transcripts_ci"][0] for lab in labels])
    hi = np.array([labels_info[lab]["transcripts_ci"][1] for lab in labels])
    fig, ax = new_figure(7.0, 0.35 * len(labels) + 1.2)
    y = np.arange(len(labels))
    ax.barh(y, est, color=PALETTE[0], alpha=0.75)
    ax.errorbar(est, y, xerr=np.vstack([est - lo, hi - est]), fmt="none", ecolor="#222222",
                elinewidth=0.8, capsize=2)
    ax.set_yticks(y)
    ax.set_yticklabels([names.get(lab, lab) for lab in labels])
    ax.invert_yaxis()
    ax.set_xlabel("share of transcripts with the label")
    ax.set_xlim(0, max(0.05, float(np.nanmax(hi)) * 1.1))
    return Figure(
        id="monitor-prevalence", title="How often each label occurs",
        caption="Share of transcripts with each label, with 95% Wilson intervals.",
        svg=figure_to_svg(fig, title="monitor prevalence"),
    )
