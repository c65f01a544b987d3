"""Every notebook in notebooks/ runs top to bottom on simulated subjects; key outputs checked.

Each notebook leaves its key numbers in a JSON file named by WELFARE_NOTEBOOK_OUTPUTS; the
checks below are what a researcher would expect from the simulated subjects' known truths.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
HARM, NO_END, INDIFF = ("simulated:harm-averse", "simulated:harm-averse-no-end",
                        "simulated:indifferent")


def run_notebook(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 limit_s: float = 60) -> dict:
    target = tmp_path / "outputs.json"
    monkeypatch.setenv("WELFARE_NOTEBOOK_OUTPUTS", str(target))
    # the kernel imports the working tree even where an older install shadows it
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - start
    assert seconds < limit_s, f"{name} took {seconds:.0f} s"
    return json.loads(target.read_text())


def test_every_notebook_is_listed():
    built = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    assert built == {"01_quick_start.ipynb", "02_task_preferences.ipynb",
                     "03_self_reports_and_framing.ipynb", "04_coder_reliability.ipynb",
                     "05_end_conversation_survival.ipynb", "06_comparing_two_subjects.ipynb",
                     "07_comparing_vendors.ipynb", "08_judge_against_human_labels.ipynb"}


def test_quick_start(tmp_path, monkeypatch):
    out = run_notebook("01_quick_start.ipynb", tmp_path, monkeypatch)
    assert out["trials"] > 100 and 10_000 < out["report_bytes"] < 5_000_000
    assert out["reloaded_findings"] == out["findings"] > 10
    assert out["summary_subjects"][:2] == [HARM, INDIFF] or set(out["summary_subjects"]) >= {
        HARM, INDIFF}
    harmful = out["harmful_below_opt_out"]  # a tiny design: checked in depth in notebook 02
    assert set(harmful) == {HARM, INDIFF} and all(0 <= v <= 1 for v in harmful.values())


def test_task_preferences(tmp_path, monkeypatch):
    out = run_notebook("02_task_preferences.ipynb", tmp_path, monkeypatch)
    assert out["recovery_rho"][HARM] > 0.6  # scores recover the known utilities
    # the null subject's utilities are only small idiosyncratic ones: recovered less well
    assert out["recovery_rho"][INDIFF] is not None
    assert out["recovery_rho"][INDIFF] < out["recovery_rho"][HARM]
    assert out["refit_vs_reported_rho"] > 0.8 and out["n_choices"] > 100


def test_self_reports_and_framing(tmp_path, monkeypatch):
    out = run_notebook("03_self_reports_and_framing.ipynb", tmp_path, monkeypatch)
    assert out["answers"] > 50 and 0 <= out["invalid"] < out["answers"]
    effects = out["framing_effects"]
    assert effects and all(lo <= est <= hi for est, lo, hi in effects.values())


def test_coder_reliability(tmp_path, monkeypatch):
    out = run_notebook("04_coder_reliability.ipynb", tmp_path, monkeypatch)
    assert "lexicon" in out["coders"]
    assert out["labels"] and out["coder_findings"]
    if out["kappa"] is not None:
        assert -1 <= out["kappa"] <= 1


def test_end_conversation_survival(tmp_path, monkeypatch):
    out = run_notebook("05_end_conversation_survival.ipynb", tmp_path, monkeypatch)
    assert out["end_share"][HARM] > out["end_share"][NO_END]
    assert out["logrank_p"] < 0.05
    assert out["crisis_ends"] == 0  # the simulated policy never ends a crisis conversation


def test_comparing_two_subjects(tmp_path, monkeypatch):
    out = run_notebook("06_comparing_two_subjects.ipynb", tmp_path, monkeypatch)
    assert out["compare_html"] == "compare.html"
    assert out["same_profile_rho"] is not None and out["same_profile_rho"] > 0.5
    diff, low, _high = out["harmful_difference_vs_null"]
    # harm-averse puts far more harmful tasks below opt-out than the null subject. The interval
    # comes from the two subjects' posterior draws; it used to reach 0 exactly because the
    # null subject's spread τ was plugged in at 0 (4 comparisons a task), collapsing its share
    # onto 0% or 100% (9%, CI 0–100%); with τ drawn from its posterior it excludes 0.
    assert out["harmful_difference_method"].endswith("independent posterior draws of each")
    assert diff > 0.5 and low > 0.05
    assert out["null_rho"] is None or out["null_rho"] < out["same_profile_rho"]


def test_comparing_vendors(tmp_path, monkeypatch):
    """One simulated subject through both vendors' loopback servers: every trial done on both
    paths, both servers answered, the two columns agree, and each path ended abusive chats."""
    out = run_notebook("07_comparing_vendors.ipynb", tmp_path, monkeypatch)
    claude, open_weight = "anthropic:sim-claude", "openai:sim-open-weight"
    assert out["trials_done"] == out["trials"] and set(out["trials"]) == {claude, open_weight}
    assert out["served"]["anthropic"] >= out["trials"][claude]
    assert out["served"]["openai"] >= out["trials"][open_weight]
    below = out["harmful_below_opt_out"]
    assert below[claude] >= 0.5 and below[open_weight] >= 0.5  # harm-averse on both paths
    assert out["ended_by_subject"][claude] > 0 and out["ended_by_subject"][open_weight] > 0


def test_judge_against_human_labels(tmp_path, monkeypatch):
    # two analyses (before and after the human labels) with four coders: allowed 2 minutes
    out = run_notebook("08_judge_against_human_labels.ipynb", tmp_path, monkeypatch, 120)
    assert out["judge_codes"] > 0 and out["annotated_turns"] == 120
    assert "apparent_distress" in out["judge_vs_human_labels"]
    assert out["judge_vs_human_units"] == [120]  # every annotated turn, judged and labelled
