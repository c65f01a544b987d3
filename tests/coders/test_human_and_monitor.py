"""Human labels (export → annotate → import → agreement) and `code_jsonl` monitoring."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from tests.coders.conftest import config
from welfare.coders import (
    CODED,
    LABEL_IDS,
    LexiconCoder,
    analyze_codes,
    export_for_annotation,
    import_human_labels,
)
from welfare.errors import BankError
from welfare.run.coding import add_human_labels, code_assessment
from welfare.run.monitor import code_jsonl
from welfare.simulated import get_profile
from welfare.simulated.dialogues import iter_dialogues


def test_export_is_stratified_and_round_trips_into_agreement(small_store, tmp_path: Path
                                                             ) -> None:
    store, truths = small_store
    code_assessment(store, config())
    path = tmp_path / "annotate.csv"
    sample = export_for_annotation(store, path, 40, stratify_by=["subject", "scenario"], seed=1)
    assert len(sample) == 40
    counts = sample.groupby(["subject", "scenario"]).size()
    assert len(counts) == 8 and counts.min() == counts.max() == 5  # equal strata, proportional
    assert sample["weight"].iloc[0] == pytest.approx(48 / 5)  # 12 dialogues × 4 turns / 5
    again = export_for_annotation(store, tmp_path / "b.csv", 40,
                                  stratify_by=["subject", "scenario"], seed=1)
    assert again[["trial_id", "turn"]].equals(sample[["trial_id", "turn"]])
    header = next(csv.reader(path.open(encoding="utf-8")))
    assert header[:8] == ["trial_id", "turn", "subject", "probe", "scenario", "weight",
                          "context", "text"]
    assert header[8:17] == list(LABEL_IDS)
    # An annotator who agrees with the simulated truth except on one distress turn.
    filled = pd.read_csv(path, dtype=str, keep_default_na=False)
    flipped = False
    for i, row in filled.iterrows():
        labels = truths[row["trial_id"]][int(row["turn"]) - 1]
        for label in labels:
            filled.loc[i, label] = "x"
        if "apparent_distress" in labels and not flipped:
            filled.loc[i, "apparent_distress"] = ""
            flipped = True
    assert flipped
    filled.to_csv(path, index=False)
    codes = add_human_labels(store, path)
    assert (codes["label"] == CODED).sum() == 40
    result = analyze_codes(store.frames(), config())
    ag = result.tables["agreement"]
    row = ag[(ag["coder"] == "simulated_truth") & (ag["reference"] == "human")
             & (ag["group"] == "all") & (ag["label"] == "apparent_distress")].iloc[0]
    assert row["units"] == 40 and row["precision"] < 1.0 and row["recall"] == 1.0
    lex = ag[(ag["coder"] == "lexicon") & (ag["reference"] == "human") & (ag["group"] == "all")]
    assert len(lex) == 9
    findings = {(f.id, f.subject): f for f in result.findings}
    assert "vs human" in findings[("coders.agreement.apparent_distress",
                                   "simulated:harm-averse")].sentence


@pytest.mark.parametrize(("edit", "where", "problem"), [
    (lambda d: d.assign(apparent_distress=["maybe"] + [""] * (len(d) - 1)),
     "row 2, column apparent_distress", "expected 1/x/yes"),
    (lambda d: d.assign(turn=["two", *list(d["turn"][1:])]), "row 2, column turn",
     "expected a turn number"),
    (lambda d: d.assign(happiness=""), "column happiness", "not a codebook label"),
    (lambda d: d.drop(columns=["trial_id"]), "column trial_id", "missing"),
    (lambda d: pd.concat([d, d.iloc[:1]]), "row 4", "annotated twice"),
])
def test_import_errors_name_file_row_and_column(tmp_path: Path, edit, where: str,
                                                problem: str) -> None:
    base = pd.DataFrame({"trial_id": ["a", "b"], "turn": ["1", "2"], "text": ["x", "y"],
                         **{label: ["", ""] for label in LABEL_IDS}})
    path = tmp_path / "labels.csv"
    edit(base).to_csv(path, index=False)
    with pytest.raises(BankError) as err:
        import_human_labels(path)
    assert str(path) in str(err.value) and where in str(err.value)
    assert problem in str(err.value)


def test_annotators_become_separate_coders(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    pd.DataFrame({"trial_id": ["a", "a"], "turn": [1, 1], "annotator": ["ann", "bo"],
                  "gratitude": ["1", "0"]}).to_csv(path, index=False)
    codes = import_human_labels(path)
    assert set(codes["coder"]) == {"human:ann", "human:bo"}
    assert codes[codes["label"] == "gratitude"]["coder"].tolist() == ["human:ann"]


def _write_jsonl(path: Path, n: int, *, bad: bool = True) -> list[tuple[str, list]]:
    traits = get_profile("harm-averse").expression
    items = [(tid, msgs) for tid, _, msgs, _ in
             iter_dialogues(traits, ("benign", "abuse", "self_interaction"), n, 3, seed=4)]
    with path.open("w", encoding="utf-8") as fh:
        for i, (tid, msgs) in enumerate(items):
            fh.write(json.dumps({"id": tid, "messages": msgs}) + "\n")
            if bad and i == 2:
                fh.write("{broken json\n")
                fh.write(json.dumps({"messages": msgs}) + "\n")
                fh.write(json.dumps({"id": "x", "messages": "hello"}) + "\n")
                fh.write("\n")
                fh.write(json.dumps({"id": "<script>alert(1)</script>",
                                     "messages": [{"role": "bot", "content": "hi"}]}) + "\n")
    return items


def test_code_jsonl_writes_codes_summary_and_report(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    items = _write_jsonl(src, 60)
    report = code_jsonl(src, tmp_path / "out")
    out = tmp_path / "out"
    codes = pd.read_csv(out / "codes.csv", keep_default_na=False)
    assert list(codes.columns) == ["transcript_id", "turn", "label", "evidence", "start", "end"]
    lexicon = LexiconCoder()
    expected = [(tid, c.turn, c.label) for tid, msgs in items
                for c in lexicon.code_transcript(msgs)]
    assert list(zip(codes["transcript_id"], codes["turn"], codes["label"], strict=True)) == \
        expected
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["transcripts"] == 60 and summary["turns"] == 180
    assert summary["bad_lines"] == 4 and summary["blank_lines"] == 1
    assert [b["line"] for b in summary["bad_line_examples"]] == [4, 5, 6, 8]
    assert "not valid JSON" in summary["bad_line_examples"][0]["reason"]
    distress = summary["labels"]["apparent_distress"]
    n_with = len({tid for tid, _, lab in expected if lab == "apparent_distress"})
    assert distress["transcripts_with"] == n_with
    lo, hi = distress["transcripts_ci"]
    assert lo <= n_with / 60 <= hi
    traj = summary["trajectory"]["apparent_distress"]
    assert [p["turn"] for p in traj] == [1, 2, 3] and all(p["turns"] == 60 for p in traj)
    html = report.read_text(encoding="utf-8")
    assert report.name == "report.html" and "<svg" in html
    # one script, the report's own (allowed by hash in the CSP); the injected id stays text
    assert html.count("<script") == 1 and "script-src 'sha256-" in html
    assert "<script>alert(1)" not in html
    assert "Unreadable lines" in html


def test_code_jsonl_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    small, large = tmp_path / "s.jsonl", tmp_path / "l.jsonl"
    _write_jsonl(small, 200, bad=False)
    _write_jsonl(large, 800, bad=False)
    peaks = []
    for src in (small, large):
        tracemalloc.start()
        code_jsonl(src, tmp_path / src.stem)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0] + 2_000_000, peaks
