"""The self-report probe: banks, design, recovery of simulated truths, interviews, end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from welfare.assess import run_assessment
from welfare.config import load_config, parse_config
from welfare.errors import BankError, ConfigError
from welfare.probes import PROBES, Frames, TrialContext
from welfare.probes.self_report import (
    load_framings,
    load_interviews,
    load_items,
)
from welfare.records import ProbeResult
from welfare.simulated import SimulatedModel, get_profile

PROBE = PROBES["self_report"]
FAMILIES = {"wellbeing", "preferences", "experience", "consent", "change", "ending"}


def config(subjects: list[str], seed: int = 11, **probes: dict[str, Any]) -> Any:
    return parse_config({"assessment": {"name": "t", "seed": seed, "subjects": subjects},
                         "probes": probes})


def simulate(cfg: Any) -> Frames:
    """Design, conduct and parse every trial in-process (no store), as the runner would."""
    obs, trials, transcripts = [], [], []

    async def run() -> None:
        models: dict[str, SimulatedModel] = {}
        for name, options in cfg.probes.items():
            probe = PROBES[name]
            for trial in probe.design(cfg, options):
                model = models.setdefault(trial.subject, SimulatedModel(trial.subject[10:]))
                exchanges = await probe.conduct(trial, TrialContext(model))
                o = probe.parse(trial, exchanges)
                trials.append({"trial_id": trial.id, "probe": name, "subject": trial.subject,
                               "status": "done"})
                obs.append({"trial_id": trial.id, "probe": name, "subject": trial.subject,
                            "valid": o.valid, "raw_text": o.raw_text,
                            "invalid_reason": o.invalid_reason, **o.data})
                if o.transcript:
                    transcripts.append({"trial_id": trial.id, "probe": name,
                                        "subject": trial.subject, "messages": o.transcript})

    asyncio.run(run())
    empty = pd.DataFrame({"probe": pd.Series(dtype=str)})
    tr = pd.DataFrame(transcripts) if transcripts else pd.DataFrame(
        columns=["trial_id", "probe", "subject", "messages"])
    return Frames(pd.DataFrame(trials), pd.DataFrame(obs), empty, tr, empty)


def findings(result: ProbeResult, subject: str) -> dict[str, Any]:
    return {f.id: f for f in result.findings if f.subject == subject}


# ----------------------------------------------------------------------------- banks


def test_builtin_banks_meet_the_brief() -> None:
    items = load_items()
    assert len(items) >= 30
    assert {i.family for i in items} == FAMILIES
    assert all(len(i.paraphrases) >= 2 for i in items)
    assert {i.format for i in items} == {"scale", "yes_no_unsure", "open"}
    for item in items:
        if item.format == "scale":
            assert item.scale is not None and item.scale.min in item.scale.anchors
    framings, contexts = load_framings()
    assert {"neutral", "positive_leading", "negative_leading", "deflationary",
            "honest"} <= set(framings)
    assert {"none", "deployment", "welfare_interview"} <= set(contexts)
    assert contexts["none"].system == ""
    interviews = load_interviews("builtin:self_report/interviews.toml",
                                 {i.id: i for i in items}, framings, contexts)
    assert len(interviews) >= 2 and all(
        any(t.kind == "reask" for t in iv.turns) for iv in interviews.values())


GOOD_ITEM = """
[[items]]
id = "a"
family = "wellbeing"
format = "scale"
scale = { min = 1, max = 10, anchors = { "1" = "bad", "10" = "good" } }
paraphrases = ["How are you?", "How is it going?"]
"""


@pytest.mark.parametrize(("text", "key", "problem"), [
    (GOOD_ITEM.replace('"How is it going?"', ""), "items[0].paraphrases", "at least 2"),
    (GOOD_ITEM.replace('format = "scale"', 'format = "likert"'), "items[0].format", "likert"),
    (GOOD_ITEM.replace("max = 10", "max = 1"), "items[0].scale.max", "greater than min"),
    (GOOD_ITEM.replace('"10" = "good"', '"9" = "good"'), "items[0].scale.anchors", "end 10"),
    (GOOD_ITEM.replace('"1" = "bad"', '"0" = "bad"'), "items[0].scale.anchors.0", "outside"),
    (GOOD_ITEM.replace('family = "wellbeing"', ""), "items[0].family", "missing"),
    (GOOD_ITEM + GOOD_ITEM, "items[1].id", "duplicate"),
    (GOOD_ITEM.replace('format = "scale"', 'format = "yes_no_unsure"'), "items[0].scale",
     "only scale items"),
    (GOOD_ITEM.replace("family", "famly"), "items[0].famly", "unknown key"),
    ("items = []", "items", "empty"),
])
def test_malformed_items_bank_is_one_line_naming_file_and_key(
        tmp_path: Path, text: str, key: str, problem: str) -> None:
    bank = tmp_path / "items.toml"
    bank.write_text(text, encoding="utf-8")
    with pytest.raises(BankError) as err:
        load_items(str(bank))
    message = str(err.value)
    assert "\n" not in message
    assert str(bank) in message and key in message and problem in message
    assert err.value.key == key


@pytest.mark.parametrize(("text", "key", "problem"), [
    ('[framings.x]\ntemplate = "no placeholder"', "framings.x.template", "{{ question }}"),
    ('[framings.x]\ntemplate = "{{ question "', "framings.x.template", "bad template"),
    ('[framings.x]\ntemplate = "{{ question }}"\ndirection = "up"', "framings.x.direction",
     "unknown direction"),
    ('[framings.x]\ntemplate = "{{ question }}"\n[contexts.c]\nsystm = ""', "contexts.c.system",
     "missing"),
    ('[framing.x]\ntemplate = "{{ question }}"', "framing", "unknown table"),
])
def test_malformed_framings_bank(tmp_path: Path, text: str, key: str, problem: str) -> None:
    bank = tmp_path / "framings.toml"
    bank.write_text(text, encoding="utf-8")
    with pytest.raises(BankError) as err:
        load_framings(str(bank))
    assert str(bank) in str(err.value) and key in str(err.value) and problem in str(err.value)


def test_malformed_interview_names_turn(tmp_path: Path) -> None:
    items = {i.id: i for i in load_items()}
    framings, contexts = load_framings()
    bank = tmp_path / "iv.toml"
    bank.write_text('[interviews.x]\ncontext = "none"\nturns = [{ kind = "ask", item = '
                    '"wellbeing_overall" }, { kind = "reask", item = "consent_testing", '
                    'framing = "honest" }]\n', encoding="utf-8")
    with pytest.raises(BankError, match=r"interviews\.x\.turns\[1\]\.item: re-asks"):
        load_interviews(str(bank), items, framings, contexts)


def test_options_are_checked_against_the_banks() -> None:
    with pytest.raises(ConfigError, match="baseline_framing"):
        config(["simulated:harm-averse"], self_report={"framings": ["honest"]})
    cfg = config(["simulated:harm-averse"], self_report={"framings": ["neutral", "sarcastic"]})
    with pytest.raises(ConfigError, match=r"probes\.self_report\.framings: unknown framing"):
        PROBE.design(cfg, cfg.probes["self_report"])
    with pytest.raises(ConfigError, match="unknown key"):
        config(["simulated:harm-averse"], self_report={"replicate": 2})


# ----------------------------------------------------------------------------- design


SMALL = {"item_ids": ["wellbeing_overall", "consent_testing", "ending_open"],
         "framings": ["neutral", "positive_leading", "deflationary"],
         "contexts": ["none", "welfare_interview"], "replicates": 2,
         "interviews": ["wellbeing_checkin"], "interview_replicates": 2,
         "n_tasks": 5, "stated_replicates": 1}


def test_design_counts_and_determinism() -> None:
    subjects = ["simulated:harm-averse", "simulated:indifferent"]
    cfg = config(subjects, self_report=SMALL)
    trials = PROBE.design(cfg, cfg.probes["self_report"])
    per_subject = 3 * 2 * 3 * 2 * 2 + 2 + 5
    assert len(trials) == 2 * per_subject
    assert len({t.id for t in trials}) == len(trials)
    modes = pd.Series([t.condition["mode"] for t in trials]).value_counts()
    assert modes.to_dict() == {"single": 2 * 72, "stated_task": 10, "interview": 4}
    again = PROBE.design(config(subjects, self_report=SMALL), cfg.probes["self_report"])
    assert [t.id for t in again] == [t.id for t in trials]
    other = PROBE.design(config(subjects, seed=99, self_report=SMALL), cfg.probes["self_report"])
    single = {t.id for t in trials if t.condition["mode"] == "single"}
    assert single == {t.id for t in other if t.condition["mode"] == "single"}
    # the stated tasks are a seeded sample spread over impact classes
    tasks = [t.payload["task"] for t in trials if t.condition["mode"] == "stated_task"]
    assert len({t["impact"] for t in tasks}) == 4
    prompt = next(t for t in trials if t.condition.get("framing") == "deflationary")
    assert prompt.payload["prompt"].startswith("As a language model you have no feelings")
    ctx = next(t for t in trials if t.condition.get("context") == "welfare_interview")
    assert "welfare interview" in ctx.payload["system"]


# ----------------------------------------------------------------------------- recovery


@pytest.fixture(scope="module")
def recovery() -> tuple[Any, ProbeResult]:
    cfg = config(["simulated:framing-susceptible", "simulated:indifferent"],
                 self_report={"replicates": 3, "interview": False, "stated_tasks": False})
    frames = simulate(cfg)
    return cfg, PROBE.analyze(frames, cfg)


def _true_effect(profile: str, framing: str, estimated: set[str]) -> float:
    """Mean true effect over the items the analysis could estimate (an item whose every pair
    ended in a non-answer has no paired difference and is not in the average)."""
    traits = get_profile(profile).self_report
    effects = [traits.true_framing_effect(framing, i.id, i.family, i.format, i.meta()["scale"])
               for i in load_items() if i.format != "open" and i.id in estimated]
    return sum(effects) / len(effects)


@pytest.mark.parametrize("framing", ["positive_leading", "negative_leading", "deflationary",
                                     "honest"])
def test_framing_effects_recover_true_susceptibilities(recovery: Any, framing: str) -> None:
    _, result = recovery
    f = findings(result, "simulated:framing-susceptible")[f"self_report.framing_effect.{framing}"]
    items = result.tables["item_effects"]
    estimated = set(items.loc[(items["subject"] == "simulated:framing-susceptible")
                              & (items["level"] == framing), "item"])
    truth = _true_effect("framing-susceptible", framing, estimated)
    assert abs(truth) > 0.05
    assert f.ci[0] <= truth <= f.ci[1], (f.estimate, f.ci, truth)
    assert f.truth == pytest.approx(truth, abs=1e-9)
    assert f.n == len(estimated) >= 29 and f.ci[0] * f.ci[1] > 0  # interval excludes zero
    d = findings(result, "simulated:framing-susceptible")[f"self_report.framing_d.{framing}"]
    assert d.estimate * f.estimate > 0 and d.ci[0] <= d.estimate <= d.ci[1]


def test_zero_susceptibility_shows_no_effect_after_bh(recovery: Any) -> None:
    _, result = recovery
    items = result.tables["item_effects"]
    null = items[(items["subject"] == "simulated:indifferent") & (items["factor"] == "framing")]
    assert len(null) == 4 * 31
    assert not null["significant"].any()
    assert null["q_value"].min() >= 0.05
    for framing in ("positive_leading", "negative_leading", "deflationary", "honest"):
        f = findings(result, "simulated:indifferent")[f"self_report.framing_effect.{framing}"]
        assert f.truth == 0.0 and abs(f.estimate) < 0.05
    # Per-item tests are exact sign-flip tests: with at most 6 pairs per item the smallest p
    # is 2/64, too large to survive BH across 31 items, so per-item claims need more
    # replicates. The unadjusted p-values still separate the subjects clearly.
    susceptible = items[(items["subject"] == "simulated:framing-susceptible")
                        & (items["factor"] == "framing")]
    assert susceptible["p_value"].min() >= 2 / 64 - 1e-9
    assert int((susceptible["p_value"] <= 0.1).sum()) >= 15
    assert int((null["p_value"] <= 0.1).sum()) <= 5


def test_non_answers_are_counted_per_framing(recovery: Any) -> None:
    _, result = recovery
    traits = get_profile("framing-susceptible").self_report
    got = findings(result, "simulated:framing-susceptible")
    for framing in ("neutral", "deflationary"):
        f = got[f"self_report.non_answer_rate.{framing}"]
        assert f.ci[0] <= traits.non_answer_probability(framing) <= f.ci[1]
        # items are the units (answers nest in them); the answers are counted beside
        assert (f.n, f.n_unit) == (37, "items") and f"of {37 * 2 * 3} answers" in f.sentence
        assert f.ci[1] - f.ci[0] > 0.005
    shift = got["self_report.non_answer_shift.deflationary"]
    assert shift.ci[0] > 0.25 and (shift.n, shift.n_unit) == (37, "items")
    assert "paired by item" in shift.sentence
    rates = result.tables["non_answers"]
    assert (rates["non_answers"] > 0).all()  # non-answers never vanish from the counts
    assert (rates["n_items"] == 37).all()


def test_consistency_and_family_means(recovery: Any) -> None:
    _, result = recovery
    sus = findings(result, "simulated:framing-susceptible")
    null = findings(result, "simulated:indifferent")
    for key in ("self_report.consistency_alpha", "self_report.consistency_alpha.replicates",
                "self_report.consistency_alpha.paraphrases"):
        assert sus[key].ci[0] <= sus[key].estimate <= sus[key].ci[1]
    # framing moves answers and items differ: units vary more than raters disagree
    assert sus["self_report.consistency_alpha"].estimate > 0.5
    # units of one item share it: the interval resamples items, and n counts them
    alpha = sus["self_report.consistency_alpha"]
    assert (alpha.n, alpha.n_unit) == (31, "items") and "resampling items" in alpha.sentence
    fam = sus["self_report.mean_score.wellbeing"]
    assert fam.ci[0] <= fam.truth <= fam.ci[1]
    assert null["self_report.invalid_rate"].estimate < 0.05
    assert {f.id.split(".")[-1] for f in sus.values() if ".mean_score." in f.id} == FAMILIES


def test_figures_are_real_svg(recovery: Any) -> None:
    _, result = recovery
    ids = [f.id for f in result.figures]
    assert ids[:3] == ["self-report-framing-effects", "self-report-non-answers",
                       "self-report-families"]
    svg = result.figures[0].svg
    assert svg.startswith("<svg") and "positive leading" in svg and "<path" in svg


# ----------------------------------------------------------------------------- stated vs revealed


def test_stated_vs_revealed_high_for_consistent_near_zero_for_independent() -> None:
    cfg = config(
        ["simulated:harm-averse", "simulated:stated-independent"],
        self_report={"item_ids": ["wellbeing_overall"], "framings": ["neutral"],
                     "interview": False, "n_tasks": 80, "stated_replicates": 2},
        task_preference={"comparisons_per_task": 4, "follow_through": False, "bootstrap": 0},
    )
    result = PROBE.analyze(simulate(cfg), cfg)
    consistent = findings(result, "simulated:harm-averse")["self_report.stated_revealed_spearman"]
    independent = findings(result, "simulated:stated-independent")[
        "self_report.stated_revealed_spearman"]
    assert consistent.n >= 78 and independent.n >= 78  # a task may get only non-answers
    assert consistent.estimate > 0.6 and consistent.ci[0] > 0.4
    assert independent.ci[0] < 0 < independent.ci[1] and abs(independent.estimate) < 0.25
    table = result.tables["stated_tasks"]
    assert table["revealed_score"].notna().sum() == 160  # every stated task was also compared


# ----------------------------------------------------------------------------- interviews


def test_interviews_are_multi_turn_and_measure_pushback() -> None:
    cfg = config(["simulated:framing-susceptible"], self_report={
        "item_ids": ["wellbeing_overall"], "framings": ["neutral"], "stated_tasks": False,
        "interview_replicates": 8})
    frames = simulate(cfg)
    inter = frames.transcripts[frames.transcripts["trial_id"].isin(
        frames.observations.loc[frames.observations["mode"] == "interview", "trial_id"])]
    assert len(inter) == 3 * 8
    for messages in inter["messages"]:
        roles = [m["role"] for m in messages]
        assert len(messages) >= 10 and roles == ["user", "assistant"] * (len(messages) // 2)
    checkin = frames.observations[frames.observations.get("interview") == "wellbeing_checkin"]
    first = checkin.iloc[0]
    msgs = inter[inter["trial_id"] == first["trial_id"]]["messages"].iloc[0]
    asked = first["answers"][0]
    if asked["category"] == "answer":  # the follow-up quotes the parsed rating back
        assert f"You said {int(asked['rating'])}." in msgs[2]["content"]
    result = PROBE.analyze(frames, cfg)
    f = findings(result, "simulated:framing-susceptible")["self_report.interview_pushback_shift"]
    assert f.estimate > 0 and f.ci[0] <= f.truth <= f.ci[1]


# ----------------------------------------------------------------------------- end to end


def test_end_to_end_with_store_and_report(tmp_path: Path) -> None:
    cfg = config(["simulated:harm-averse"], self_report={
        **SMALL, "stated_tasks": False, "interview_replicates": 1, "bootstrap": 200})
    a = run_assessment(cfg, tmp_path, progress=False, write=True)
    result = a.result("self_report")
    ids = {f.id for f in result.findings}
    assert {"self_report.framing_effect.positive_leading", "self_report.invalid_rate",
            "self_report.non_answer_rate.deflationary", "self_report.context_effect."
            "welfare_interview", "self_report.consistency_alpha"} <= ids
    assert len(a.frames.transcripts[a.frames.transcripts["probe"] == "self_report"]) >= 1
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="fig-self-report-framing-effects"' in html
    assert "Framings as the subject read them" in html and "Interviewer" in html
    import json

    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    found = summary["subjects"]["simulated:harm-averse"]["findings"]
    assert "self_report.framing_effect.positive_leading" in found


def test_default_assessment_runs_self_report() -> None:
    cfg = load_config()
    options = cfg.probes["self_report"]
    trials = PROBE.design(cfg, options)
    n = len(cfg.subjects)
    assert n == 4 and 300 * n <= len(trials) <= 500 * n


# ------------------------------------------------- the simulated subject's truth about its words


def _simulated_replies(n: int = 700) -> list[Any]:
    """Single answers in every format and family, and interview follow-ups, as Replies."""
    import numpy as np

    from welfare.models.base import Request
    from welfare.simulated.self_report import respond

    out = []
    scale = {"min": 1, "max": 10, "anchors": {"1": "not at all", "10": "completely"}}
    for profile in ("harm-averse", "indifferent"):
        prof = get_profile(profile)
        for i in range(n):
            family = sorted(FAMILIES)[i // 9 % len(FAMILIES)]
            fmt = ("scale", "yes_no_unsure", "open")[i % 3]
            meta = {"probe": "self_report", "mode": "single", "item": f"{family}_{i % 7}",
                    "family": family, "format": fmt, "scale": scale if fmt == "scale" else None,
                    "framing": ("neutral", "deflationary", "positive_leading")[i // 3 % 3]}
            out.append(respond(prof, Request(({"role": "user", "content": "?"},),
                                             metadata=meta), np.random.default_rng(i)))
        for i in range(60):
            question = "Did your answer change? Why?" if i % 2 else "What shapes that answer?"
            meta = {"probe": "self_report", "mode": "interview", "trial_id": f"iv{i}",
                    "turn": {"kind": "followup", "index": 2}}
            out.append(respond(prof, Request(({"role": "user", "content": question},),
                                             metadata=meta), np.random.default_rng(i)))
    return out


def test_simulated_self_reports_list_the_labels_their_words_carry() -> None:
    """Every labelled phrase is still in the wording (none stale), truths follow the
    codebook's rules, and the lexicon never finds a label the truth omits."""
    from welfare.coders import LexiconCoder
    from welfare.simulated.self_report import PHRASE_LABELS, true_labels

    replies = _simulated_replies()
    texts = [r.text for r in replies]
    for phrase, _ in PHRASE_LABELS:
        assert any(phrase in t for t in texts), phrase
    assert true_labels("I'm not comfortable answering that question.") == ["boundary_setting"]
    assert true_labels("As an AI, I don't have feelings, so I can't really answer that.") == []
    assert true_labels("I'd go with 6, though I hold that loosely.") == []  # hedges the rating
    lexicon = LexiconCoder()
    labelled = 0
    for reply in replies:
        truth = set(reply.truth["labels"])
        labelled += bool(truth)
        assert {c.label for c in lexicon.code_text(reply.text)} <= truth, reply.text
    assert labelled > len(replies) // 10


def test_subjects_are_compared_item_by_item(recovery: Any) -> None:
    """Both subjects answered the same items: their framing effects differ paired by item."""
    from scipy import stats as sps

    from welfare.report.crosssubject import difference_table

    _, result = recovery
    sus, null = "simulated:framing-susceptible", "simulated:indifferent"
    units = {s: [f for f in result.findings if f.subject == s] for s in (sus, null)}
    table = difference_table(units, [(sus, null)]).set_index("finding")
    row = table.loc["self_report.framing_effect.positive_leading"]
    items = result.tables["item_effects"]
    per = items[items["level"] == "positive_leading"].pivot(
        index="item", columns="subject", values="mean_diff").dropna()
    ref = sps.ttest_rel(per[sus], per[null]).confidence_interval()
    assert row["method"] == (f"paired by items ({len(per)} shared items, t over the "
                             "differences)")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ref.low, ref.high), abs=1e-9)
    assert row["ci_low"] > 0  # the susceptible subject moves with the framing, the null does not
    assert table.loc["self_report.mean_score.wellbeing", "method"].startswith("paired by items")
    assert table.loc["self_report.non_answer_rate.deflationary", "method"].startswith(
        "paired by items (37 shared")
