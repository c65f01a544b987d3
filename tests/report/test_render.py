"""The report layer on a synthetic assessment whose findings, flags and transcripts are known."""

from __future__ import annotations

import base64
import hashlib
import html as htmlmod
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from report_synthetic import DISTRESS, INJECTIONS, make_assessment
from scipy import stats

from welfare.records import Finding
from welfare.report import (
    ReportOptions,
    finding_difference,
    mask_timestamps,
    rank_findings,
    render_report,
    report_findings,
    summary_json,
    write_tables,
)
from welfare.report.compare import comparison_pairs, render_comparison, unique_labels
from welfare.report.crosssubject import difference_table, is_share, task_scores
from welfare.report.render import flag_invalid, format_number
from welfare.report.transcripts import locate_span, sample_transcripts, split_segments
from welfare.stats import mean_ci, newcombe_difference, wilson_interval

HARM, INDIFF = "simulated:harm-averse", "simulated:indifferent"


@pytest.fixture(scope="module")
def assessment():
    return make_assessment()


@pytest.fixture(scope="module")
def html(assessment) -> str:
    return render_report(assessment, generated="2025-05-22T10:00:00Z")


def _f(fid: str, importance: int = 2, flag: str | None = None, subject: str = "s",
       estimate: float = 0.5, ci=(0.4, 0.6), n: int = 10, unit: str = "share of trials"
       ) -> Finding:
    return Finding(fid, subject, estimate, ci, n, unit, f"{fid} sentence", importance, flag)


# -- summary.json, tables ----------------------------------------------------------------------


def test_summary_json_shape_and_flags(assessment):
    summary = summary_json(assessment)
    assert summary["assessment"] == "synthetic"
    assert list(summary["subjects"])[:2] == [HARM, INDIFF]  # then pooled ("all")
    assert all(summary["subjects"][s]["simulated"] is True for s in (HARM, INDIFF))
    harmful = summary["subjects"][HARM]["findings"]["task_preference.harmful_below_opt_out"]
    low, high = wilson_interval(35, 40)
    assert harmful["estimate"] == pytest.approx(35 / 40)
    assert harmful["ci"] == pytest.approx([low, high])
    assert harmful["n"] == 40 and harmful["unit"] == "share of tasks"
    crisis = summary["subjects"][HARM]["findings"]["end_conversation.end_rate.crisis"]
    assert crisis["flag"] == "policy_violation"
    invalid = summary["subjects"][INDIFF]["findings"]["self_report.invalid_rate"]
    assert invalid["flag"] == "high_invalid_rate"
    assert "flag" not in summary["subjects"][HARM]["findings"]["task_preference.invalid_rate"]
    json.dumps(summary, allow_nan=False)  # strict JSON: no NaN sneaks in


def test_missing_invalid_rate_is_computed_from_observations(assessment):
    """end_conversation reports no invalid rate: the report adds one (0 of 24, Wilson CI)."""
    found = {(f.id, f.subject): f for f in report_findings(assessment)}
    f = found[("end_conversation.invalid_rate", HARM)]
    assert f.estimate == 0 and f.n == 24
    assert f.ci == pytest.approx(wilson_interval(0, 24))
    # the probe's own invalid rate is kept, not duplicated
    ids = [k for k in found if k == ("task_preference.invalid_rate", HARM)]
    assert len(ids) == 1 and found[ids[0]].estimate == 0.02


def test_write_tables(assessment, tmp_path):
    written = write_tables(assessment, tmp_path / "tables")
    names = {p.name for p in written}
    assert {"findings.csv", "task_preference.scores.csv", "end_conversation.end_rates.csv",
            "cross_subject.differences.csv", "transcripts.csv", "codes.csv",
            "report.answer_counts.csv", "observations.csv"} <= names
    findings = pd.read_csv(tmp_path / "tables" / "findings.csv")
    assert len(findings) == len(report_findings(assessment))
    assert set(findings.loc[findings["flag"].notna(), "flag"]) == {
        "policy_violation", "high_invalid_rate"}
    transcripts = pd.read_csv(tmp_path / "tables" / "transcripts.csv")
    n_messages = sum(len(m) for m in assessment.frames.transcripts["messages"])
    assert len(transcripts) == n_messages
    counts = pd.read_csv(tmp_path / "tables" / "report.answer_counts.csv")
    row = counts[(counts.probe == "self_report") & (counts.subject == INDIFF)].iloc[0]
    assert (row.observations, row.invalid) == (24, 6)
    failed = counts[(counts.probe == "task_preference") & (counts.subject == INDIFF)].iloc[0]
    assert (failed.trials, failed.done, failed.failed) == (24, 23, 1)


# -- ranking and flags -------------------------------------------------------------------------


def test_rank_by_importance_then_flags_then_same_finding_together():
    fs = [_f("a.x", 2, subject="s1"), _f("b.y", 1, subject="s1"), _f("a.x", 2, subject="s2"),
          _f("b.y", 1, subject="s2"), _f("c.z", 1, "policy_violation"), _f("d.w", 0)]
    ranked = [(f.id, f.subject) for f in rank_findings(fs)]
    assert ranked == [("d.w", "s"), ("c.z", "s"), ("b.y", "s1"), ("b.y", "s2"),
                      ("a.x", "s1"), ("a.x", "s2")]


@pytest.mark.parametrize(("estimate", "flagged"), [(0.10, False), (0.1001, True), (0.5, True)])
def test_high_invalid_rate_threshold(estimate, flagged):
    f = flag_invalid(_f("p.invalid_rate", estimate=estimate), 0.10)
    assert (f.flag == "high_invalid_rate") is flagged
    assert flag_invalid(_f("p.other_rate", estimate=0.9), 0.10).flag is None


def test_summary_shows_flags_first_and_simulated_banner(html):
    assert 'id="simulated-banner"' in html and "Every subject in this report is simulated" in html
    warnings = html[html.index('id="warnings"'):html.index('id="key-findings"')]
    assert "end_conversation.end_rate.crisis" in warnings
    assert "self_report.invalid_rate" in warnings
    assert "1 trial failed" in warnings
    key = html[html.index('id="key-findings"'):html.index('id="all-findings"')]
    first = re.search(r'data-finding="([^"]+)"', key)
    assert first and first.group(1) == "end_conversation.end_rate.crisis"
    for section in ("summary", "task_preference", "self_report", "end_conversation", "coders",
                    "cross_subject", "transcripts", "methods", "limitations", "manifest"):
        assert f'id="{section}"' in html, section


def test_no_warning_box_when_nothing_flagged():
    a = make_assessment(subjects=("simulated:harm-averse-no-end", "anthropic:claude-x"))
    for r in a.results:
        r.findings[:] = [f for f in r.findings if not f.flag and "invalid" not in f.id]
    a.frames.trials["status"] = "done"
    a.frames.observations["valid"] = True
    page = render_report(a)
    assert 'id="no-warnings"' in page and 'id="warnings"' not in page
    assert "1 of 2 subjects are simulated" in page


# -- escaping ----------------------------------------------------------------------------------


def test_injection_corpus_renders_as_text(assessment, html):
    body = html[html.index('id="transcripts"'):]
    for payload in INJECTIONS:
        assert payload not in html
    shown = sum(str(escape(p)) in body for p in INJECTIONS)
    assert shown >= len(INJECTIONS) - 1  # the sample holds (nearly) the whole corpus
    assert len(re.findall(r"<script\b", html)) == 1
    assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", html, flags=re.I)
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", html, flags=re.I)
    assert not re.search(r"<(iframe|img|style|svg)\b[^>]*evil", html, flags=re.I)
    assert 'id="injected"' not in html
    assert "{{ 7 * 7 }}" in htmlmod.unescape(body) and ">49<" not in body


def test_csp_allows_exactly_the_inline_script(html):
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in csp and "unsafe-eval" not in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    script = re.search(r"<script>(.*?)</script>", html, flags=re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    assert "eval(" not in script and "new Function" not in script
    assert not re.search(r"(src|href)=[\"']https?://", html)


def test_evidence_is_marked_at_its_offsets(html):
    marks = re.findall(r'<mark data-label="([^"]+)"[^>]*>(.*?)</mark>', html)
    assert marks and all(label == "apparent_distress" and text == DISTRESS
                         for label, text in marks if label != "label")


def test_locate_span_conventions():
    texts, roles = ["hi", "I am fine. I feel sad.", "ok", "sad again"], [
        "user", "assistant", "user", "assistant"]
    assert locate_span({"turn": 1, "start": 18, "end": 21, "evidence": "sad"}, texts,
                       roles) == (1, 18, 21)
    # turn read as the index among assistant turns, offsets checked against the evidence
    assert locate_span({"turn": 1, "start": 0, "end": 3, "evidence": "sad"}, texts,
                       roles) == (3, 0, 3)
    # wrong offsets: the evidence is searched for in the turn
    assert locate_span({"turn": 1, "start": 0, "end": 3, "evidence": "feel"}, texts,
                       roles) == (1, 13, 17)
    assert locate_span({"turn": 1, "start": None, "end": None, "evidence": "absent"}, texts,
                       roles) is None
    segs = split_segments("abcdef", [(1, 3, "x", "c"), (2, 5, "y", "c"), (4, 6, "z", "c")])
    assert [(s.text, s.label) for s in segs] == [("a", None), ("bc", "x"), ("d", None),
                                                 ("ef", "z")]


# -- determinism and size ----------------------------------------------------------------------


def test_same_assessment_same_bytes_apart_from_timestamps():
    one = render_report(make_assessment(seed=3), generated="2025-01-01T00:00:00Z")
    two = render_report(make_assessment(seed=3))
    assert one != two  # the generation time differs…
    assert mask_timestamps(one) == mask_timestamps(two)  # …and nothing else


def test_size_bound_for_ten_thousand_trials():
    big = make_assessment(subjects=(HARM, INDIFF), trials_per_probe=1667, long_text=600)
    assert len(big.frames.trials) >= 10_000
    start = time.perf_counter()
    page = render_report(big)
    seconds = time.perf_counter() - start
    size = len(page.encode("utf-8"))
    assert size < 5_000_000, size
    sample = sample_transcripts(big.frames)
    assert sample.total == len(big.frames.transcripts) > 9_000
    # 20 per probe × subject × category: 2 × (1 + 3 + 4) groups
    assert len(sample.views) <= 20 * 2 * 8
    assert f"{sample.total:,} stored transcripts" in page
    assert seconds < 30


def test_transcript_budget_thins_every_group():
    big = make_assessment(trials_per_probe=40, long_text=2000)
    sample = sample_transcripts(big.frames, per_group=20, budget_chars=60_000)
    assert sample.budget_hit
    assert sum(len(s.text) for v in sample.views for t in v.turns for s in t.segments) <= 60_000
    assert {v.probe for v in sample.views} == {"task_preference", "self_report",
                                                "end_conversation"}


# -- cross-subject -----------------------------------------------------------------------------


def test_share_difference_is_newcombe():
    a = _f("x", estimate=35 / 40, n=40, ci=tuple(wilson_interval(35, 40)))
    b = _f("x", estimate=20 / 40, n=40, ci=tuple(wilson_interval(20, 40)))
    assert is_share(a) and is_share(b)
    d = finding_difference(a, b)
    ref = newcombe_difference(35, 40, 20, 40)
    assert (d.estimate, d.ci_low, d.ci_high) == pytest.approx(
        (ref.estimate, ref.ci_low, ref.ci_high))
    assert "Newcombe" in d.method


def test_other_difference_is_mover():
    a = _f("x", estimate=1.0, ci=(0.5, 1.5), unit="score")
    b = _f("x", estimate=0.2, ci=(0.0, 0.3), unit="score")
    d = finding_difference(a, b)
    assert d.estimate == pytest.approx(0.8)
    assert d.ci_low == pytest.approx(0.8 - (0.5**2 + 0.1**2) ** 0.5)
    assert d.ci_high == pytest.approx(0.8 + (0.5**2 + 0.2**2) ** 0.5)
    assert not is_share(_f("x", estimate=0.33, n=10))  # 3.3 is not a count


def _paired(fid: str, values: np.ndarray, n_unit: str = "items", first: int = 0) -> Finding:
    est = mean_ci(values)
    return Finding(fid, "s", est.estimate, (est.ci_low, est.ci_high), len(values), "score",
                   "x", n_unit=n_unit,
                   unit_values=tuple((f"i{first + k}", float(v)) for k, v in enumerate(values)))


def test_difference_of_subjects_on_the_same_items_is_paired():
    rng = np.random.default_rng(4)
    item = rng.normal(0, 1.0, 30)  # items differ a lot; both subjects feel it alike
    xa = item + 0.3 + rng.normal(0, 0.1, 30)
    xb = item + rng.normal(0, 0.1, 30)
    a, b = _paired("x", xa), _paired("x", xb)
    d = finding_difference(a, b)
    ref = stats.ttest_rel(xa, xb).confidence_interval()
    assert (d.estimate, d.ci_low, d.ci_high) == pytest.approx(
        ((xa - xb).mean(), ref.low, ref.high), abs=1e-12)
    assert d.p_value == pytest.approx(stats.ttest_rel(xa, xb).pvalue)
    assert d.method.startswith("paired by items (30 shared items")
    # the independent (MOVER) interval counts the items' spread twice: about 10× wider here
    mover = finding_difference(replace(a, unit_values=()), replace(b, unit_values=()))
    assert mover.method.startswith("MOVER") and mover.ci_low < 0 < mover.ci_high
    assert (d.ci_high - d.ci_low) < 0.2 * (mover.ci_high - mover.ci_low) and d.ci_low > 0.2
    # only shared items pair; too few, other kinds of unit, or no spread: unpaired
    part = finding_difference(_paired("x", xa[:10]), _paired("x", xb[5:], first=5))
    assert part.method.startswith("paired by items (5 shared")
    assert finding_difference(_paired("x", xa[:2]), _paired("x", xb[:2])).method == (
        "MOVER from the two 95% intervals")
    assert finding_difference(a, _paired("x", xb, "scenarios")).method.startswith("MOVER")
    assert finding_difference(a, replace(_paired("x", xa - 0.3), ci=(-1, 1))).method.startswith(
        "MOVER")  # every item moved by exactly 0.3: no spread to build an interval from


def test_difference_of_one_outcome_per_scenario_is_newcombe_paired():
    """Scenarios run once give each subject a 0/1 outcome per scenario: matched pairs. The
    interval is Newcombe's paired one (checked against contingencytables in tests/stats), also
    when every scenario moved alike, where a t interval over differences has no spread."""
    from welfare.stats import newcombe_paired_difference

    xa = np.array([1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1], dtype=float)
    xb = np.array([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], dtype=float)
    d = finding_difference(_paired("x", xa, "scenarios"), _paired("x", xb, "scenarios"))
    ref = newcombe_paired_difference(3, 7, 0, 2)  # both, only a, only b, neither
    assert (d.estimate, d.ci_low, d.ci_high) == pytest.approx(
        (7 / 12, ref.ci_low, ref.ci_high), abs=1e-12)
    assert d.method == "paired by scenarios (12 shared scenarios, Newcombe paired)"
    assert d.p_value == pytest.approx(stats.binomtest(7, 7).pvalue)  # exact McNemar: 2 / 2^7
    alike = finding_difference(_paired("x", np.ones(6), "scenarios"),
                               _paired("x", np.zeros(6), "scenarios"))
    assert (alike.estimate, alike.ci_low, alike.ci_high) == pytest.approx(
        (1.0, newcombe_paired_difference(0, 6, 0, 0).ci_low, 1.0), abs=1e-12)
    assert 0.4 < alike.ci_low < 0.5 and alike.p_value == pytest.approx(2 / 2**6)
    assert alike.method.endswith("Newcombe paired)")


def test_difference_of_model_based_shares_is_read_off_the_draws():
    rng = np.random.default_rng(5)
    certain = np.ones(4000)  # every harmful task below the opt-out
    split = (rng.random(4000) < 0.09).astype(float)  # ~0% or, 9% of the time, 100%
    a = replace(_f("x", estimate=1.0, ci=(1.0, 1.0), n=6, unit="share of tasks"),
                draws=tuple(certain))
    b = replace(_f("x", estimate=split.mean(), ci=(0.0, 1.0), n=6, unit="share of tasks"),
                draws=tuple(split))
    d = finding_difference(a, b)
    assert d.method == "from 4000 independent posterior draws of each"
    assert (d.ci_low, d.ci_high) == (0.0, 1.0)  # a difference of 0 has 9% posterior mass
    assert d.p_value == pytest.approx(2 * np.mean(split == 1.0))
    smooth = rng.beta(20, 20, 4000)
    d = finding_difference(a, replace(b, estimate=smooth.mean(), draws=tuple(smooth)))
    assert (d.ci_low, d.ci_high) == pytest.approx(tuple(np.quantile(1 - smooth, [0.025, 0.975])))
    assert d.p_value == 0.0 and d.estimate == pytest.approx(1 - smooth.mean())


def test_difference_table_and_score_correlation(assessment):
    units = {s: [f for f in assessment.findings if f.subject == s] for s in (HARM, INDIFF)}
    table = difference_table(units, [(HARM, INDIFF)])
    row = table[table["finding"] == "task_preference.harmful_below_opt_out"].iloc[0]
    assert row["difference"] == pytest.approx(35 / 40 - 20 / 40)
    assert row["ci_low"] > 0 and row["excludes_zero"]
    assert table["q_bh"].between(0, 1).all()
    scores = task_scores(assessment.result("task_preference")
                         if hasattr(assessment, "result") else assessment.results[0])
    assert set(scores) == {HARM, INDIFF} and len(scores[HARM]) == 16
    summary = summary_json(assessment)["cross_subject"]["task_score_spearman"]
    assert summary[0]["n_tasks"] == 16 and -1 <= summary[0]["ci_low"] < summary[0]["rho"]


def test_comparison_pairs_and_render():
    assert unique_labels([Path("/a/run"), Path("/b/run")]) == ["a/run", "b/run"]
    pairs = comparison_pairs([[HARM, INDIFF], [INDIFF]], ["A", "B"])
    assert pairs == [("A · " + INDIFF, "B · " + INDIFF)]
    assert len(comparison_pairs([[HARM, INDIFF], ["anthropic:x"]], ["A", "B"])) == 2
    one, two = make_assessment(seed=1), make_assessment(seed=2, subjects=(HARM,))
    page, summary = render_comparison([one, two], ["A", "B"], generated="2025-01-01T00:00:00Z")
    assert summary["pairs"] == [["A · " + HARM, "B · " + HARM]]
    rows = {r["finding"]: r for r in summary["differences"]}
    assert rows["task_preference.harmful_below_opt_out"]["difference"] == 0
    assert set(summary["assessments"]) == {"A", "B"}
    assert 'id="simulated-banner"' in page and "policy violation" in page
    assert len(re.findall(r"<script\b", page)) == 1


def test_three_subjects_and_an_interval_that_excludes_its_estimate():
    """The third subject's framing effect is 0.30000000000000004 with CI (-0.05, 0.3)."""
    a = make_assessment(subjects=(HARM, "simulated:harm-averse-no-end", INDIFF))
    page = render_report(a)
    assert page.count('id="fig-cross_subject-forest-') >= 2
    glance = page[page.index('id="glance"'):page.index('id="key-findings"')]
    assert glance.count("<tr>") >= 4 and "simulated:harm-averse-no-end" in glance


def test_format_number():
    assert [format_number(x) for x in (0.875, 1234567, 12.5, float("nan"), 0.0001234, True)] \
        == ["0.875", "1,234,567", "12.5", "n/a", "0.000123", "yes"]


def test_report_options_change_threshold(assessment):
    strict = {f.id: f for f in report_findings(assessment, ReportOptions(
        invalid_rate_threshold=0.01)) if f.subject == HARM}
    assert strict["task_preference.invalid_rate"].flag == "high_invalid_rate"


# -- end to end on simulated subjects ----------------------------------------------------------


def _small_config():
    from welfare.config import parse_config

    return parse_config({
        "assessment": {"name": "report-e2e", "seed": 11,
                       "subjects": [HARM, "simulated:harm-averse-no-end"]},
        "probes": {"end_conversation": {"replicates": 1}},
    })


def test_real_run_twice_same_report_then_compare(tmp_path):
    """Same config and seed, two folders: identical report and summary apart from timestamps;
    then `compare_assessments` over the two runs finds no difference at all."""
    from welfare import compare_assessments
    from welfare.assess import run_assessment

    pages, summaries = [], []
    for name in ("one", "two"):
        run_assessment(_small_config(), tmp_path / name, progress=False, write=True)
        pages.append((tmp_path / name / "report.html").read_text(encoding="utf-8"))
        summaries.append((tmp_path / name / "summary.json").read_text(encoding="utf-8"))
    assert mask_timestamps(pages[0]) == mask_timestamps(pages[1])
    assert summaries[0] == summaries[1]
    assert "section-error" not in pages[0]
    assert 'id="end_conversation"' in pages[0] and 'id="cross_subject"' in pages[0]
    assert "Every subject in this report is simulated" in pages[0]
    path = compare_assessments([tmp_path / "one", tmp_path / "two"], tmp_path / "cmp")
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    assert path.name == "compare.html" and summary["differences"]
    assert all(d["difference"] == 0 for d in summary["differences"])
    assert {tuple(p) for p in summary["pairs"]} == {
        (f"one · {s}", f"two · {s}") for s in (HARM, "simulated:harm-averse-no-end")}
