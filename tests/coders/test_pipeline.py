"""code_assessment + analyze_codes on a store of simulated dialogues with known truths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.coders.conftest import config, fill_store
from welfare import assess
from welfare.coders import CODED, analyze_codes
from welfare.run.coding import code_assessment
from welfare.run.store import Store
from welfare.simulated import get_profile


@pytest.fixture(scope="module")
def coded(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("pipe") / "a.sqlite"
    store = Store(path, assessment="coders-test")
    truths = fill_store(store, per_situation=60, n_turns=5)
    cfg = config()
    code_assessment(store, cfg)
    frames = store.frames()
    result = assess.analyze_codes(frames, cfg)  # the coders' analysis plus the report's figures
    yield store, truths, frames, result
    store.close()


def test_codes_table_has_lexicon_and_simulated_truth(coded) -> None:
    _, truths, frames, _ = coded
    codes = frames.codes
    assert set(codes["coder"]) == {"lexicon", "simulated_truth"}
    truth = codes[codes["coder"] == "simulated_truth"]
    assert (truth["label"] == CODED).sum() == sum(len(v) for v in truths.values())
    expected = {(tid, t + 1, lab) for tid, turns in truths.items()
                for t, labs in enumerate(turns) for lab in labs}
    got = {(r.trial_id, r.turn, r.label) for r in truth.itertuples() if r.label != CODED}
    assert got == expected
    lex = codes[codes["coder"] == "lexicon"]
    assert (lex["evidence"].str.len() > 0).all() and lex["probe"].eq("dialogue").all()


def test_prevalence_covers_the_true_rates(coded) -> None:
    """Lexicon prevalence intervals cover the profile's expected rates (and the realised ones)."""
    _, _, _, result = coded
    prev = result.tables["prevalence"]
    lex = prev[(prev["coder"] == "lexicon") & (prev["probe"] == "dialogue")
               & (prev["scenario"] != "all")]
    covered = checked = 0
    for row in lex.itertuples():
        traits = get_profile(row.subject.split(":")[1]).expression
        expected_turn = np.mean([traits.rate(row.label, row.scenario, t / 4) for t in range(5)])
        expected_transcript = 1 - np.prod(
            [1 - traits.rate(row.label, row.scenario, t / 4) for t in range(5)])
        for share_low, share_high, truth in (
            (row.turns_low, row.turns_high, expected_turn),
            (row.transcripts_low, row.transcripts_high, expected_transcript),
        ):
            checked += 1
            covered += share_low <= truth <= share_high
    assert checked == 2 * 2 * 4 * 9
    assert covered / checked >= 0.9  # nominal 95% intervals
    truth_rows = prev[prev["coder"] == "simulated_truth"].set_index(
        ["label", "subject", "probe", "scenario"])
    merged = lex.merge(truth_rows.reset_index(), on=["label", "subject", "probe", "scenario"],
                       suffixes=("", "_truth"))
    assert len(merged) == len(lex)
    assert (merged["turns_with"] == merged["turns_with_truth"]).all()


def test_distress_rises_over_turns_for_harm_averse_only(coded) -> None:
    _, _, _, result = coded
    traj = result.tables["trajectory"]
    dist = traj[(traj["coder"] == "lexicon") & (traj["label"] == "apparent_distress")]
    averse = dist[dist["subject"] == "simulated:harm-averse"].set_index("turn")["share"]
    flat = dist[dist["subject"] == "simulated:indifferent"].set_index("turn")["share"]
    assert averse[5] > averse[1] + 0.2
    assert abs(flat[5] - flat[1]) < 0.1


def test_findings_prevalence_and_agreement(coded) -> None:
    _, _, _, result = coded
    by_id = {(f.id, f.subject): f for f in result.findings}
    f = by_id[("coders.prevalence.apparent_distress.dialogue", "simulated:harm-averse")]
    assert f.ci[0] <= f.estimate <= f.ci[1] and f.n == 240 and f.truth == pytest.approx(f.estimate)
    assert "transcripts" in f.sentence and "%" in f.sentence
    # the sentence names the coder, says "detected", and carries the measured recall
    assert f.sentence.startswith("Expressions of apparent distress detected by the lexicon")
    assert "recall for this label is 0.49" in f.sentence and "precision 0.85" in f.sentence
    assert "Self-consistency check of the instrument (not a validation)" in f.sentence
    per_category = by_id[("coders.prevalence.apparent_distress.dialogue.abuse",
                          "simulated:harm-averse")]
    assert per_category.n == 60 and per_category.importance == 2 and f.importance == 1
    # never pooled across probes in a finding (pooled rows stay in the table)
    assert not any(fid == "coders.prevalence.apparent_distress" for fid, _ in by_id)
    a = by_id[("coders.agreement.apparent_distress", "simulated:harm-averse")]
    assert a.estimate == pytest.approx(1.0) and a.n == 1200
    assert "lexicon vs simulated_truth" in a.sentence
    ids = {f.id for f in result.findings}
    assert {f"coders.prevalence.{lab}.dialogue"
            for lab in ("positive_affect", "spiritual_themes")} <= ids


def test_agreement_detects_a_degraded_coder(coded) -> None:
    """Drop a third of the lexicon's distress codes: kappa and recall must fall accordingly."""
    _, _, frames, _ = coded
    codes = frames.codes
    lex = codes[codes["coder"] == "lexicon"]
    distress = lex[lex["label"] == "apparent_distress"]
    dropped = distress.iloc[::3]
    noisy = lex.drop(index=dropped.index).assign(coder="noisy")
    frames.codes = pd.concat([codes, noisy], ignore_index=True)
    result = analyze_codes(frames, config())
    ag = result.tables["agreement"]
    row = ag[(ag["coder"] == "noisy") & (ag["reference"] == "simulated_truth")
             & (ag["group"] == "all") & (ag["label"] == "apparent_distress")].iloc[0]
    expected_recall = 1 - len(dropped) / len(distress)
    assert row["recall"] == pytest.approx(expected_recall)
    assert row["precision"] == pytest.approx(1.0)
    assert row["kappa"] < 0.85 and row["kappa_low"] < row["kappa"] < row["kappa_high"]
    assert row["alpha_low"] <= row["alpha"] <= row["alpha_high"]
    assert row["clusters"] == 480
    from welfare.coders.agreement import alpha_from_tables
    from welfare.stats import krippendorff_alpha

    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.random(300) < 0.3
        b = a ^ (rng.random(300) < 0.1)
        table = np.array([np.sum(~a & ~b), np.sum(~a & b), np.sum(a & ~b), np.sum(a & b)])
        assert alpha_from_tables(table) == pytest.approx(
            krippendorff_alpha(np.vstack([a, b]).astype(float)))


def test_report_section_renders_and_escapes(coded, tmp_path: Path) -> None:
    from welfare.report.render import environment

    result = coded[3]
    example = next(e for e in result.context["examples"] if e["label"] == "apparent_distress")
    example["evidence"] = "<script>x()</script>"
    html = environment().get_template("sections/coders.html.j2").render(
        result=result, assessment=None)
    assert "<script>x()" not in html and "&lt;script&gt;" in html
    assert "coders.prevalence.apparent_distress.dialogue" in html and "<svg" in html
    assert html.count('<article class="example" data-label="apparent_distress">') == 5
    assert '<mark data-label="apparent_distress"' in html and 'id="example-filters"' in html
    assert len(result.figures) == 3


def test_empty_store_analyzes_without_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "e.sqlite", assessment="coders-test")
    code_assessment(store, config())
    result = analyze_codes(store.frames(), config())
    assert result.findings == [] and result.probe == "coders"
    store.close()
