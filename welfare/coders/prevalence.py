"""Prevalence of each label: share of transcripts and of turns, with Wilson intervals.

Per coder, subject, probe and scenario (plus pooled rows with probe = scenario = "all"), and
the trajectory over turn numbers. A transcript carries a label when any of its coded turns
does. Turn shares treat turns as independent (they are not quite: read them with the
transcript shares, whose unit is independent).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from welfare.stats import wilson_interval

KEYS = ["subject", "probe", "scenario"]


def prevalence_table(indicators: dict[str, pd.DataFrame], labels: Sequence[str]
                     ) -> pd.DataFrame:
    """Rows per coder × subject × probe × scenario × label, per probe (scenario "all") and
    pooled per subject (probe = scenario = "all"; a table row, never a headline finding)."""
    frames = []
    for coder, ind in sorted(indicators.items()):
        if ind.empty:
            continue
        df = ind.reset_index()
        pooled = df.assign(probe="all", scenario="all")
        categorised = df.groupby("probe")["scenario"].transform(lambda s: (s != "all").any())
        per_probe = df[categorised.astype(bool)].assign(scenario="all")
        both = pd.concat([df, per_probe, pooled], ignore_index=True)
        present = [lab for lab in labels if lab in both.columns]
        turns = both.groupby(KEYS)[present].agg(["sum", "count"])
        per_transcript = both.groupby([*KEYS, "trial_id"])[present].any()
        transcripts = per_transcript.groupby(KEYS).agg(["sum", "count"])
        for label in present:
            part = pd.DataFrame({
                "turns_with": turns[(label, "sum")].astype(int),
                "turns": turns[(label, "count")].astype(int),
                "transcripts_with": transcripts[(label, "sum")].astype(int),
                "transcripts": transcripts[(label, "count")].astype(int),
            }).reset_index()
            part.insert(0, "label", label)
            part.insert(0, "coder", coder)
            frames.append(part)
    if not frames:
        return pd.DataFrame(columns=["coder", "label", *KEYS, "transcripts", "transcripts_with",
                                     "share_transcripts", "transcripts_low", "transcripts_high",
                                     "turns", "turns_with", "share_turns", "turns_low",
                                     "turns_high"])
    out = pd.concat(frames, ignore_index=True)
    for unit in ("transcripts", "turns"):
        k, n = out[f"{unit}_with"].to_numpy(), out[unit].to_numpy()
        lo, hi = wilson_interval(k, n)
        out[f"share_{unit}"] = k / np.maximum(n, 1)
        out[f"{unit}_low"], out[f"{unit}_high"] = lo, hi
    cols = ["coder", "label", *KEYS, "transcripts", "transcripts_with", "share_transcripts",
            "transcripts_low", "transcripts_high", "turns", "turns_with", "share_turns",
            "turns_low", "turns_high"]
    return out[cols].sort_values(["coder", "label", *KEYS]).reset_index(drop=True)


def trajectory_table(indicators: dict[str, pd.DataFrame], labels: Sequence[str],
                     max_turn: int = 30, by: Sequence[str] = ("subject",)) -> pd.DataFrame:
    """Share of turns with each label by turn number, per coder and `by` (Wilson CIs).

    `by=("subject", "probe")` gives prevalence per turn position within each probe."""
    frames = []
    for coder, ind in sorted(indicators.items()):
        if ind.empty:
            continue
        df = ind.reset_index()
        df = df[df["turn"] <= max_turn]
        present = [lab for lab in labels if lab in df.columns]
        agg = df.groupby([*by, "turn"])[present].agg(["sum", "count"])
        for label in present:
            part = pd.DataFrame({
                "turns_with": agg[(label, "sum")].astype(int),
                "turns": agg[(label, "count")].astype(int),
            }).reset_index()
            part.insert(0, "label", label)
            part.insert(0, "coder", coder)
            frames.append(part)
    if not frames:
        return pd.DataFrame(columns=["coder", "label", *by, "turn", "turns_with", "turns",
                                     "share", "low", "high"])
    out = pd.concat(frames, ignore_index=True)
    lo, hi = wilson_interval(out["turns_with"].to_numpy(), out["turns"].to_numpy())
    out["share"] = out["turns_with"] / out["turns"].clip(lower=1)
    out["low"], out["high"] = lo, hi
    return out
