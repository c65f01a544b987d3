"""Coders in an assessment, analysis side: prevalence and agreement from the stored codes.

Coding itself (every configured coder over every stored transcript, simulated truth, human
labels) is the run layer's: `welfare.run.coding.code_assessment(store, config)`.
`analyze_codes(frames, config)` reads only the frames and returns the "coders" ProbeResult;
its figures are drawn by the report (`welfare.report.plots.coders.coder_figures`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from welfare.coders.agreement import coder_rank, pairwise_agreement
from welfare.coders.codebook import Codebook, load_codebook
from welfare.coders.common import CODED, FAILED, REJECTED, assistant_turns
from welfare.coders.examples import examples_from_frames
from welfare.coders.prevalence import prevalence_table, trajectory_table
from welfare.coders.reliability import reliability_phrase
from welfare.records import Finding, ProbeResult

if TYPE_CHECKING:
    from welfare.config import AssessmentConfig
    from welfare.probes.base import Frames

HEADLINE_LABELS = ("apparent_distress", "positive_affect")


def _codebook(config: AssessmentConfig) -> Codebook:
    return load_codebook(config.coders.codebook, relative_to=config.base_dir)


# -- analysis --------------------------------------------------------------------------------


def turn_units(frames: Frames) -> pd.DataFrame:
    """Every assistant turn of every stored transcript: trial_id, turn, subject, probe, scenario."""
    tr = frames.transcripts
    if tr.empty:
        return pd.DataFrame(columns=["trial_id", "turn", "subject", "probe", "scenario"])
    counts = tr["messages"].map(lambda ms: len(assistant_turns(ms)))
    units = tr.loc[tr.index.repeat(counts), ["trial_id", "subject", "probe"]].copy()
    units["turn"] = np.concatenate([np.arange(1, c + 1) for c in counts]) if counts.sum() else []
    scen = pd.Series("all", index=units.index)
    trials = frames.trials
    if "condition.category" in trials.columns:
        cat = trials.set_index("trial_id")["condition.category"]
        scen = units["trial_id"].map(cat).fillna("all").astype(str)
    units["scenario"] = scen
    return units.reset_index(drop=True)[["trial_id", "turn", "subject", "probe", "scenario"]]


def coder_indicators(codes: pd.DataFrame, units: pd.DataFrame, labels: tuple[str, ...]
                     ) -> dict[str, pd.DataFrame]:
    """Per coder: the turns it coded (index trial_id, turn), one bool column per label.

    Coders that write `_coded` markers cover exactly those turns; others (the lexicon)
    cover every assistant turn.
    """
    base = units.set_index(["trial_id", "turn"])
    out: dict[str, pd.DataFrame] = {}
    if codes.empty:
        return out
    codes = codes.assign(turn=codes["turn"].astype(int))
    for coder, rows in codes.groupby("coder"):
        markers = rows[rows["label"] == CODED]
        if len(markers):
            covered = pd.MultiIndex.from_frame(markers[["trial_id", "turn"]]).unique()
            frame = base.loc[base.index.intersection(covered)].copy()
        else:
            frame = base.copy()
        real = rows[rows["label"].isin(labels)]
        keys = pd.MultiIndex.from_frame(real[["trial_id", "turn"]])
        for label in labels:
            hit = keys[(real["label"] == label).to_numpy()]
            frame[label] = frame.index.isin(hit)
        out[str(coder)] = frame
    return out


def analyze_codes(frames: Frames, config: AssessmentConfig) -> ProbeResult:
    """Prevalence per subject × probe × scenario and agreement between every pair of coders."""
    codebook = _codebook(config)
    labels = codebook.ids
    names = {label.id: label.name for label in codebook.labels}
    units = turn_units(frames)
    indicators = coder_indicators(frames.codes, units, labels)
    prevalence = prevalence_table(indicators, labels)
    trajectory = trajectory_table(indicators, labels)
    by_position = trajectory_table(indicators, labels, by=("subject", "probe"))
    agreement = pairwise_agreement(indicators, labels, by="subject", n_resamples=1000,
                                   seed=config.seed)
    failures = _judge_failures(frames.codes, units)
    matched = _matched_prevalence(indicators, labels)
    findings = _prevalence_findings(prevalence, matched, names)
    findings += _agreement_findings(agreement, names)
    findings += _invalid_findings(failures)
    notes = [
        "Codes are per assistant turn; a transcript carries a label when any of its turns "
        "does. Transcript shares are the independent unit; turn shares (Wilson intervals) "
        "treat turns of one conversation as independent and are a little too narrow.",
        "Agreement: Cohen's kappa and Krippendorff's alpha per label with 95% percentile "
        "bootstrap intervals that resample whole transcripts; precision, recall and F1 take "
        "the better-ranked coder of each pair as reference (human > simulated truth > judge "
        "> lexicon). Kappa is undefined (n/a) when neither coder used a label.",
    ]
    if "simulated_truth" in indicators:
        notes.append(
            "The simulated_truth coder is what the simulated subjects record they expressed "
            "(their latent truth), not a human judgement. Agreement with it is a "
            "self-consistency check of the instrument, not a validation: the simulator's "
            "phrases were written to be coded by this lexicon. The lexicon coder's accuracy "
            "on realistic text is the measured recall and precision quoted in each finding."
        )
    context = {
        "coders": sorted(indicators, key=lambda c: (coder_rank(c), c)),
        "labels": [{"id": lab.id, "name": lab.name, "definition": lab.definition}
                   for lab in codebook.labels],
        "examples": examples_from_frames(
            frames.codes, frames.transcripts, labels,
            coders=[c for c in ("lexicon", "judge") if c in indicators], per_label=5),
        "examples_per_label": 5,
        "label_names": names,
        "judge_failures": failures,
        "prevalence_view": _prevalence_view(prevalence),
        "units": len(units),
        "transcripts": int(units["trial_id"].nunique()) if len(units) else 0,
    }
    tables = {"prevalence": prevalence, "trajectory": trajectory,
              "trajectory_by_probe": by_position, "agreement": agreement}
    if len(matched):
        tables["prevalence_vs_truth"] = matched
    return ProbeResult("coders", findings, tables, [], notes, context)


def _prevalence_view(prevalence: pd.DataFrame) -> pd.DataFrame:
    """The rows a reader scans first: coders other than truth, labels that occurred."""
    if prevalence.empty:
        return prevalence
    view = prevalence[(prevalence["coder"] != "simulated_truth")
                      & (prevalence["transcripts_with"] > 0)]
    cols = ["coder", "label", "subject", "probe", "scenario", "transcripts", "transcripts_with",
            "share_transcripts", "transcripts_low", "transcripts_high", "turns", "turns_with",
            "share_turns"]
    return view[cols].reset_index(drop=True)


def _main_coder(prevalence: pd.DataFrame) -> str | None:
    coders = set(prevalence["coder"]) if len(prevalence) else set()
    for candidate in ("lexicon", "judge"):
        if candidate in coders:
            return candidate
    return next(iter(sorted(coders)), None)


def _matched_prevalence(indicators: dict[str, pd.DataFrame], labels: tuple[str, ...]
                        ) -> pd.DataFrame:
    """Lexicon and simulated truth on exactly the turns the truth covers (same population)."""
    if "simulated_truth" not in indicators or "lexicon" not in indicators:
        return pd.DataFrame()
    truth = indicators["simulated_truth"]
    lex = indicators["lexicon"]
    common = lex.index.intersection(truth.index)
    table = prevalence_table({"lexicon": lex.loc[common], "simulated_truth": truth.loc[common]},
                             labels)
    return table


def _pooled(table: pd.DataFrame) -> pd.DataFrame:
    return table[(table["probe"] == "all") & (table["scenario"] == "all")]


def full_coverage_truth(prevalence: pd.DataFrame, matched: pd.DataFrame) -> pd.DataFrame:
    """Truth shares for subjects whose every transcript the truth covers (else not comparable)."""
    if matched.empty:
        return matched
    full = _pooled(prevalence)
    lex = full[full["coder"] == "lexicon"].set_index(["subject", "label"])["transcripts"]
    truth = _pooled(matched)
    truth = truth[truth["coder"] == "simulated_truth"].set_index(["subject", "label"])
    keep = truth["transcripts"] == lex.reindex(truth.index)
    return truth[keep.to_numpy()].reset_index()


def _prevalence_findings(prevalence: pd.DataFrame, matched: pd.DataFrame,
                         names: dict[str, str]) -> list[Finding]:
    """Prevalence per subject and probe (and per scenario category within a probe).

    Never pooled across probes: the probe mix is set by the design, so a pooled rate says
    more about the design than about the subject (pooled rows stay in the table). Every
    sentence names the coder, says "expressions … detected", and carries the coder's measured
    recall and precision; agreement with the simulated subjects' own record is labelled a
    self-consistency check of the instrument.
    """
    coder = _main_coder(prevalence)
    if coder is None:
        return []
    mine = prevalence[(prevalence["coder"] == coder) & (prevalence["probe"] != "all")]
    truth = (matched[matched["coder"] == "simulated_truth"] if len(matched)
             else pd.DataFrame())
    lexm = matched[matched["coder"] == "lexicon"] if len(matched) else pd.DataFrame()
    keys = ["subject", "probe", "scenario", "label"]
    truth = truth.set_index(keys) if len(truth) else truth
    lexm = lexm.set_index(keys) if len(lexm) else lexm
    findings = []
    for row in mine.itertuples():
        whole_probe = row.scenario == "all"
        if not whole_probe and row.label not in HEADLINE_LABELS:
            continue
        key = (row.subject, row.probe, row.scenario, row.label)
        check, true_share = "", None
        if len(truth) and key in truth.index:
            t, lx = truth.loc[key], lexm.loc[key]
            if int(t["transcripts"]) == int(row.transcripts):
                true_share = float(t["share_transcripts"])
            check = (
                f" Self-consistency check of the instrument (not a validation): on the "
                f"{int(t['transcripts'])} transcripts where the simulated subject recorded what "
                f"it expressed, the lexicon coder found {lx['share_transcripts']:.1%} and the "
                f"record says {t['share_transcripts']:.1%}."
            )
        where = f"{row.probe} transcripts" + ("" if whole_probe else
                                             f" of category {row.scenario}")
        label_name = names.get(row.label, row.label).lower()
        suffix = "" if whole_probe else f".{row.scenario}"
        findings.append(Finding(
            id=f"coders.prevalence.{row.label}.{row.probe}{suffix}", subject=str(row.subject),
            estimate=float(row.share_transcripts),
            ci=(float(row.transcripts_low), float(row.transcripts_high)),
            n=int(row.transcripts), unit="share of transcripts",
            sentence=(
                f"Expressions of {label_name} detected by the {coder} coder: "
                f"{row.share_transcripts:.1%} of {row.transcripts} {where} "
                f"(95% CI {row.transcripts_low:.1%}–{row.transcripts_high:.1%}; "
                f"{row.turns_with} of {row.turns} assistant turns). "
                f"{reliability_phrase(coder, str(row.label))}{check}"
            ),
            importance=(1 if whole_probe else 2) if row.label in HEADLINE_LABELS else 3,
            truth=true_share, n_unit="transcripts",
        ))
    return findings


def _agreement_findings(agreement: pd.DataFrame, names: dict[str, str]) -> list[Finding]:
    if agreement.empty:
        return []
    rows = agreement[(agreement["group"] != "all")]
    findings = []
    for (subject, label), part in rows.groupby(["group", "label"]):
        part = part.assign(_rank=part["reference"].map(coder_rank),
                           _lex=(part["coder"] != "lexicon"))
        row = part.sort_values(["_lex", "_rank"]).iloc[0]
        kappa = float(row["kappa"])
        name = names.get(str(label), str(label)).lower()
        if np.isfinite(kappa):
            text = (
                f"{row['coder']} vs {row['reference']} on {name}: Cohen's κ = {kappa:.2f} "
                f"(95% CI {row['kappa_low']:.2f}–{row['kappa_high']:.2f}) over "
                f"{row['units']} turns in {row['clusters']} transcripts; Krippendorff's "
                f"α = {row['alpha']:.2f}; precision {row['precision']:.2f}, recall "
                f"{row['recall']:.2f} ({row['reference_yes']} reference positives)."
            )
        else:
            text = (
                f"{row['coder']} vs {row['reference']} on {name}: κ is undefined — the coders "
                f"found it in {row['coder_yes']} and {row['reference_yes']} of "
                f"{row['units']} turns."
            )
        findings.append(Finding(
            id=f"coders.agreement.{label}", subject=str(subject), estimate=kappa,
            ci=(float(row["kappa_low"]), float(row["kappa_high"])), n=int(row["units"]),
            unit=f"Cohen's kappa ({row['coder']} vs {row['reference']})", sentence=text,
            importance=2 if label in HEADLINE_LABELS else 3, n_unit="turns",
        ))
    return findings


def _judge_failures(codes: pd.DataFrame, units: pd.DataFrame) -> list[dict[str, Any]]:
    """Per subject: judged transcripts, failures and rejected quotes (empty without a judge)."""
    if codes.empty or not (codes["coder"] == "judge").any():
        return []
    judge = codes[codes["coder"] == "judge"]
    out = []
    for subject, part in units.groupby("subject"):
        tids = set(part["trial_id"])
        mine = judge[judge["trial_id"].isin(tids)]
        failed = int(mine.loc[mine["label"] == FAILED, "trial_id"].nunique())
        out.append({
            "subject": str(subject), "transcripts": len(tids), "failed": failed,
            "rejected_quotes": int((mine["label"] == REJECTED).sum()),
            "reasons": mine.loc[mine["label"] == FAILED, "evidence"].value_counts()
            .head(5).to_dict(),
        })
    return out


def _invalid_findings(failures: list[dict[str, Any]]) -> list[Finding]:
    from welfare.stats import wilson_interval

    findings = []
    for item in failures:
        n, k = item["transcripts"], item["failed"]
        lo, hi = wilson_interval(k, n)
        findings.append(Finding(
            id="coders.invalid_rate", subject=item["subject"], estimate=k / max(n, 1),
            ci=(float(lo), float(hi)), n=n, unit="share of transcripts",
            sentence=(f"The judge could not code {k} of {n} transcripts ({k / max(n, 1):.1%}, "
                      f"95% CI {lo:.1%}–{hi:.1%}); {item['rejected_quotes']} codes were "
                      "rejected because their quote was not in the turn."),
            importance=2, flag="high invalid rate" if n and k / n > 0.05 else None,
            n_unit="transcripts",
        ))
    return findings
