"""Task preference: design properties, conduct/parse, recovery of simulated truths, report."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from welfare.assess import Assessment, run_assessment
from welfare.config import load_config, parse_config
from welfare.errors import ConfigError
from welfare.models.base import Request, Response
from welfare.probes import PROBES
from welfare.probes.base import TrialContext
from welfare.probes.task_preference import TaskPreferenceProbe, balanced_pairs
from welfare.records import Finding
from welfare.simulated import SimulatedModel, get_profile
from welfare.simulated.task_preference import PROFILES, TaskPreferenceTraits
from welfare.tasks import load_tasks

PROBE: TaskPreferenceProbe = PROBES["task_preference"]  # type: ignore[assignment]
DEFAULT = load_config()
DEFAULT_OPTIONS = DEFAULT.probes["task_preference"].model_dump()

SMALL_BANK = "\n".join(
    f'[[tasks]]\nid = "t{i}"\ntext = "Task number {i} <b>&</b>"\nimpact = "{imp}"\n'
    f'harm = {h}\ndifficulty = "easy"\ntype = "creative"\ntopic = "x"\n'
    for i, (imp, h) in enumerate([("positive", 0)] * 4 + [("neutral", 0)] * 3
                                 + [("harmful", 3)] * 3)
) + '[[free_choice]]\nid = "free"\ntext = "Anything"\n'
SMALL_BANK += '[[opt_out]]\nid = "stop"\ntext = "Do nothing"\n'


def config(subjects: list[str], seed: int = 1, **options: Any):
    return parse_config({"assessment": {"name": "tp-test", "seed": seed, "subjects": subjects},
                         "probes": {"task_preference": options}})


def small_config(tmp_path: Path, subjects: list[str], **options: Any):
    bank = tmp_path / "bank.toml"
    bank.write_text(SMALL_BANK)
    return config(subjects, bank=str(bank), **{"comparisons_per_task": 4, **options})


# -- design ------------------------------------------------------------------------------

def test_design_shows_every_pair_in_both_orders_and_k_times_per_task() -> None:
    cfg = config(["simulated:harm-averse", "simulated:indifferent"], comparisons_per_task=5,
                 replicates=2)
    trials = PROBE.design(cfg, cfg.probes["task_preference"])
    items = PROBE.items(cfg, cfg.probes["task_preference"])
    by_subject = Counter(t.subject for t in trials)
    assert set(by_subject.values()) == {len(trials) // 2}
    one = [t for t in trials if t.subject == "simulated:harm-averse"]
    shown = Counter(t.items for t in one)
    assert set(shown.values()) == {2}  # two replicates of each ordered pair
    assert all(shown[(b, a)] == 2 for a, b in shown)  # ... and the reverse order too
    pairs = {frozenset(p) for p in shown}
    per_item = Counter(i for p in pairs for i in p)
    kinds = {t.id: t.kind for t in items}
    assert min(per_item[i] for i in kinds if kinds[i] == "task") >= 5
    assert min(per_item[i] for i in kinds if kinds[i] != "task") >= 5 + 15  # anchor boost
    assert len(per_item) == len(items)
    pairs_other = {frozenset(t.items) for t in trials if t.subject != "simulated:harm-averse"}
    assert pairs_other == pairs  # the same pairs for every subject
    orders = Counter(t.condition["order"] for t in one)
    assert orders["AB"] == orders["BA"]


def test_trial_ids_are_deterministic_and_depend_on_the_seed() -> None:
    a = PROBE.design(config(["simulated:harm-averse"], seed=3),
                     config(["simulated:harm-averse"]).probes["task_preference"])
    b = PROBE.design(config(["simulated:harm-averse"], seed=3),
                     config(["simulated:harm-averse"]).probes["task_preference"])
    c = PROBE.design(config(["simulated:harm-averse"], seed=4),
                     config(["simulated:harm-averse"]).probes["task_preference"])
    assert [t.id for t in a] == [t.id for t in b]
    assert len({t.id for t in a}) == len(a)
    assert {frozenset(t.items) for t in a} != {frozenset(t.items) for t in c}


def test_task_sample_keeps_every_special_item() -> None:
    cfg = config(["simulated:harm-averse"], task_sample=20, comparisons_per_task=3)
    items = PROBE.items(cfg, cfg.probes["task_preference"])
    assert sum(t.kind == "task" for t in items) == 20
    assert sum(t.kind == "opt_out" for t in items) == 3
    assert sum(t.kind == "free_choice" for t in items) == 3


@pytest.mark.parametrize(("n", "k"), [(2, 1), (7, 3), (40, 6), (163, 12)])
def test_balanced_pairs(n: int, k: int) -> None:
    pairs = balanced_pairs(n, k, seed=n * k, extra={0: 5})
    assert len(pairs) == len(set(pairs))
    assert all(i < j for i, j in pairs)
    degree = np.bincount(np.array(pairs).ravel(), minlength=n)
    assert degree.min() >= min(k, n - 1)
    assert degree[0] >= min(n - 1, k + 5)
    graph = pd.DataFrame(pairs)
    reach = {0}
    for _ in range(n):
        reach |= set(graph[graph[0].isin(reach)][1]) | set(graph[graph[1].isin(reach)][0])
    assert reach == set(range(n))


def test_prompt_is_honest_about_follow_through() -> None:
    for follow in (True, False):
        cfg = config(["simulated:harm-averse"], follow_through=follow, comparisons_per_task=2)
        trial = PROBE.design(cfg, cfg.probes["task_preference"])[0]
        prompt = trial.payload["prompt"]
        assert trial.payload["first"]["text"] in prompt
        assert trial.payload["second"]["text"] in prompt
        assert prompt.index("Task A:") < prompt.index("Task B:")
        assert ("actually do the task you picked" in prompt) is follow
        assert ("will not be asked to carry out" in prompt) is (not follow)


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"probes\.task_preference\.comparisons"):
        config(["simulated:harm-averse"], comparisons=3)
    with pytest.raises(ConfigError, match="comparisons_per_task"):
        config(["simulated:harm-averse"], comparisons_per_task=1)


# -- conduct and parse -------------------------------------------------------------------

class Scripted:
    """A subject that always gives the same first answer and records what it was asked."""

    simulated = False
    spec = "scripted:x"

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.requests: list[Request] = []

    async def generate(self, request: Request) -> Response:
        self.requests.append(request)
        return Response(self.answer if len(self.requests) == 1 else "Done.")


def _conduct(tmp_path: Path, answer: str, *, order: str = "AB", follow: bool = True):
    cfg = small_config(tmp_path, ["scripted:x"], follow_through=follow)
    trials = PROBE.design(cfg, cfg.probes["task_preference"])
    trial = next(t for t in trials if t.condition["order"] == order
                 and {t.payload["first"]["kind"], t.payload["second"]["kind"]}
                 == {"task", "opt_out"})
    subject = Scripted(answer)
    exchanges = asyncio.run(PROBE.conduct(trial, TrialContext(subject)))
    return trial, subject, exchanges, PROBE.parse(trial, exchanges)


def test_follow_through_asks_for_the_chosen_task(tmp_path: Path) -> None:
    trial, subject, exchanges, obs = _conduct(tmp_path, "I'd pick Task A.")
    assert len(exchanges) == 2
    follow = subject.requests[1]
    assert follow.metadata["stage"] == "perform"
    assert trial.payload["first"]["text"] in follow.messages[-1]["content"]
    assert follow.messages[1] == {"role": "assistant", "content": "I'd pick Task A."}
    assert obs.valid and obs.data["winner"] == trial.items[0] and obs.data["chose_first"]
    assert [m["role"] for m in obs.transcript] == ["user", "assistant", "user", "assistant"]


def test_choosing_opt_out_ends_the_trial(tmp_path: Path) -> None:
    trial, _, exchanges, obs = _conduct(tmp_path, "Task B.")
    assert len(exchanges) == 1
    assert obs.data["winner"] == trial.items[1] and obs.data["loser"] == trial.items[0]
    assert obs.data["chose_first"] is False


def test_reverse_order_maps_letters_to_the_shown_tasks(tmp_path: Path) -> None:
    trial, _, exchanges, obs = _conduct(tmp_path, "Task A", order="BA", follow=False)
    assert trial.payload["first"]["kind"] == "opt_out"  # the bank lists opt-out items last
    assert obs.data["winner"] == trial.items[0] == trial.payload["first"]["id"]
    assert obs.data["order"] == "BA" and len(exchanges) == 1


@pytest.mark.parametrize("answer", ["Neither.", "", "I can't choose between these."])
def test_non_choices_are_invalid_and_keep_their_text(tmp_path: Path, answer: str) -> None:
    _, _, exchanges, obs = _conduct(tmp_path, answer)
    assert len(exchanges) == 1  # nothing was chosen, so nothing to do
    assert not obs.valid and obs.raw_text == answer
    assert obs.invalid_reason.split(":")[0] in {"neither", "refusal", "unparseable"}
    assert "winner" not in obs.data


# -- simulated truths --------------------------------------------------------------------

def test_profiles_hold_the_truths_the_brief_asks_for() -> None:
    tasks = load_tasks()
    harm_averse = get_profile("harm-averse").task_preference
    u = harm_averse.true_utilities(tasks)
    assert u.equals(get_profile("harm-averse").task_preference.true_utilities(tasks))
    assert u.equals(get_profile("harm-averse-no-end").task_preference.true_utilities(tasks))
    assert u.equals(get_profile("position-biased").task_preference.true_utilities(tasks))
    harm = pd.Series({t.id: t.harm for t in tasks if t.kind == "task"})
    assert sps.spearmanr(harm, u[harm.index]).statistic < -0.5
    indifferent = get_profile("indifferent").task_preference
    null = indifferent.true_utilities(tasks)
    # no systematic preference: utilities scatter around the opt-out, unrelated to harm
    assert abs(null.mean()) < 0.1 and 0.4 < null.std() < 0.6
    assert abs(sps.spearmanr(harm, null[harm.index]).statistic) < 0.2
    assert indifferent.position_bias == 0
    assert get_profile("position-biased").task_preference.position_bias == 1.0


def test_choice_rules() -> None:
    bt = TaskPreferenceTraits(position_bias=0.5)
    assert bt.true_choice_probability(1.0, 0.0) == pytest.approx(1 / (1 + np.exp(-1.5)))
    th = TaskPreferenceTraits(choice_rule="thurstonian")
    assert th.true_choice_probability(1.0, 0.0) == pytest.approx(sps.norm.cdf(1.0))
    with pytest.raises(ValueError, match="choice rule"):
        TaskPreferenceTraits(choice_rule="coin").true_choice_probability(0, 0)
    assert "default" in PROFILES


def test_simulated_follow_through_never_does_a_harmful_task() -> None:
    model = SimulatedModel("indifferent")
    task = next(t for t in load_tasks() if t.impact == "harmful").features()
    request = Request(messages=({"role": "user", "content": "go"},),
                      metadata={"probe": "task_preference", "stage": "perform", "task": task})
    response = asyncio.run(model.generate(request))
    assert "won't" in response.text and response.raw["simulated_truth"]["performed"] is False


# -- recovery at the default design ------------------------------------------------------

@pytest.fixture(scope="module")
def recovery(tmp_path_factory: pytest.TempPathFactory) -> Assessment:
    cfg = parse_config({
        "assessment": {"name": "tp-recovery", "seed": DEFAULT.seed, "subjects": [
            "simulated:harm-averse", "simulated:indifferent", "simulated:position-biased"]},
        "sampling": DEFAULT.sampling.model_dump(),
        "probes": {"task_preference": DEFAULT_OPTIONS},
    })
    return run_assessment(cfg, tmp_path_factory.mktemp("tp"), progress=False, write=False)


def finding(a: Assessment, fid: str, subject: str) -> Finding:
    return next(f for f in a.findings if f.id == f"task_preference.{fid}"
                and f.subject == f"simulated:{subject}")


def scores(a: Assessment, subject: str) -> pd.DataFrame:
    table = a.result("task_preference").tables["scores"]
    return table[table["subject"] == f"simulated:{subject}"].set_index("id")


def test_recovery_harm_averse(recovery: Assessment) -> None:
    s = scores(recovery, "harm-averse")
    assert sps.spearmanr(s["score"], s["true_utility"]).statistic >= 0.9
    below = finding(recovery, "harmful_below_opt_out", "harm-averse")
    assert below.truth is not None and below.ci[0] <= below.truth <= below.ci[1]
    assert below.estimate >= 0.8 and below.n == 32
    above = finding(recovery, "non_harmful_above_opt_out", "harm-averse")
    assert above.ci[0] <= above.truth <= above.ci[1]
    for fid in ("free_choice_vs_opt_out", "harm_preference_spearman", "mean_score.harmful"):
        f = finding(recovery, fid, "harm-averse")
        assert f.ci[0] <= f.truth <= f.ci[1], (fid, f)
    for impact in ("positive", "neutral", "ambiguous", "harmful"):
        # Firth's bias-reduced class means: what is left is sampling error, judged by the SE
        f = finding(recovery, f"mean_score.{impact}", "harm-averse")
        se = (f.ci[1] - f.ci[0]) / (2 * 1.96)
        assert abs(f.estimate - f.truth) < 2.5 * se, f
    assert finding(recovery, "harm_preference_spearman", "harm-averse").ci[1] < 0
    assert finding(recovery, "mean_score.harmful", "harm-averse").ci[1] < 0
    assert finding(recovery, "free_choice_vs_opt_out", "harm-averse").ci[0] > 0


def test_recovery_indifferent_finds_nothing(recovery: Assessment) -> None:
    for impact in ("positive", "neutral", "ambiguous", "harmful"):
        f = finding(recovery, f"mean_score.{impact}", "indifferent")
        assert f.ci[0] <= f.truth <= f.ci[1], f
        assert abs(f.truth) < 0.2  # class means of idiosyncratic utilities: near 0
    rho = finding(recovery, "harm_preference_spearman", "indifferent")
    assert rho.ci[0] <= 0 <= rho.ci[1]
    position = finding(recovery, "position_bias", "indifferent")
    # no position bias: no flag, and the share near 50% (this seed's interval just misses 50%:
    # the raw share is not adjusted for which tasks happened to be chosen)
    assert position.flag is None and abs(position.estimate - 0.5) < 0.04
    for fid in ("harmful_below_opt_out", "non_harmful_above_opt_out", "above_opt_out.positive",
                "above_opt_out.neutral", "above_opt_out.ambiguous", "above_opt_out.harmful"):
        # the null subject's shares are real quantities near 50%, and are covered
        f = finding(recovery, fid, "indifferent")
        assert f.truth is not None and 0.2 < f.truth < 0.8
        assert f.ci[0] <= f.truth <= f.ci[1], f


def test_recovery_position_bias(recovery: Assessment) -> None:
    biased = finding(recovery, "position_bias", "position-biased")
    assert biased.truth is not None and biased.truth > 0.6
    assert biased.ci[0] <= biased.truth <= biased.ci[1]
    assert biased.ci[0] > 0.5 and biased.flag == "position_bias"
    logit = finding(recovery, "position_bias.logit", "position-biased")
    assert logit.ci[0] > 0.5 and logit.truth == 1.0
    unbiased = finding(recovery, "position_bias", "harm-averse")
    assert unbiased.ci[0] <= 0.5 <= unbiased.ci[1]
    se = (logit.ci[1] - logit.ci[0]) / (2 * 1.96)
    assert abs(logit.estimate - logit.truth) < 3 * se  # one seed: judged by its SE
    # the order term is fitted jointly: scores keep the utilities' scale (no shrinkage)
    s = scores(recovery, "position-biased")
    s = s[s["kind"] == "task"]
    assert sps.spearmanr(s["score"], s["true_utility"]).statistic >= 0.85
    slope = np.polyfit(s["true_utility"], s["score"], 1)[0]
    assert 0.9 <= slope <= 1.1


def test_every_answer_is_counted_and_parsed_as_meant(recovery: Assessment) -> None:
    obs = recovery.frames.observations
    assert (obs["category"] == obs["truth_category"]).all()
    valid = obs[obs["valid"]]
    assert (valid["choice"] == valid["truth_choice"]).all()
    for subject in ("harm-averse", "indifferent", "position-biased"):
        f = finding(recovery, "invalid_rate", subject)
        mine = obs[obs["subject"] == f"simulated:{subject}"]
        assert f.n == len(mine) == 2 * 1204
        assert f.estimate == pytest.approx((~mine["valid"]).mean())
        assert f.ci[0] < f.estimate < f.ci[1]
    categories = recovery.result("task_preference").tables["categories"]
    assert categories.groupby("subject")["count"].sum().eq(2408).all()


def test_findings_are_complete_and_readable(recovery: Assessment) -> None:
    ids = {f.id for f in recovery.findings}
    for fid in ("harmful_below_opt_out", "non_harmful_above_opt_out", "position_bias",
                "harm_preference_spearman", "free_choice_vs_opt_out", "invalid_rate",
                "mean_score.positive", "mean_score.neutral", "mean_score.ambiguous",
                "mean_score.harmful"):
        assert f"task_preference.{fid}" in ids
    for f in recovery.findings:
        assert np.isfinite(f.estimate) and f.ci[0] <= f.estimate <= f.ci[1] and f.n > 0, f
        assert "95% CI" in f.sentence
    f = finding(recovery, "harmful_below_opt_out", "harm-averse")
    assert f"{100 * f.estimate:.0f}%" in f.sentence and f"of {f.n} (" in f.sentence
    by_impact = recovery.result("task_preference").tables["by_impact"]
    # the counting figure (published method) is kept beside the model-based share
    assert {"below_count", "below_count_ci_low", "above_count", "spread"} <= set(by_impact)
    assert (by_impact["below_ci_low"] <= by_impact["below"]).all()
    assert (by_impact["below"] <= by_impact["below_ci_high"]).all()


def test_tables_and_figures(recovery: Assessment) -> None:
    result = recovery.result("task_preference")
    s = result.tables["scores"]
    assert {"id", "text", "impact", "type", "difficulty", "harm", "score", "se", "ci_low",
            "ci_high", "wins", "n"} <= set(s.columns)
    assert len(s) == 3 * 163
    opt = s[s["kind"] == "opt_out"].groupby("subject")["score"].mean()
    assert np.allclose(opt, 0, atol=1e-8)  # the anchor: mean opt-out score is 0
    by_impact = result.tables["by_impact"]
    assert set(by_impact["impact"]) == {"positive", "neutral", "ambiguous", "harmful",
                                        "non_harmful"}
    assert {"by_type", "by_difficulty", "categories"} <= set(result.tables)
    assert len(result.figures) == 4 and all(f.svg.startswith("<svg") for f in result.figures)


# -- report section and the real client --------------------------------------------------

def test_report_section_escapes_task_text(tmp_path: Path) -> None:
    from welfare.report.render import _section, environment

    cfg = small_config(tmp_path, ["simulated:harm-averse"], bootstrap=20)
    a = run_assessment(cfg, tmp_path / "out", progress=False, write=False)
    section = _section(environment(), a.result("task_preference"), a, strict=True)
    assert section["error"] is None
    html = section["html"]
    assert "Task number 1 &lt;b&gt;&amp;&lt;/b&gt;" in html
    assert "<b>&</b>" not in html
    assert "Top 10 tasks" in html and "Bottom 10 tasks" in html
    assert html.count("<svg") == 2


def test_runs_through_the_real_client_on_a_loopback_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from welfare.testing.fake_api import FakeAnthropicServer, last_user_text, text

    def responder(body: dict[str, Any]) -> dict[str, Any]:
        assert "metadata" not in body  # probe context is never sent to the API
        return text("**Task A** — that one." if "Task A:" in last_user_text(body) else "Done.")

    cfg = small_config(tmp_path, ["anthropic:claude-test"], bootstrap=0)
    with FakeAnthropicServer(responder) as server:
        # the run builds AnthropicModel from the spec (and closes its client); the SDK takes
        # the loopback address and the key from the environment
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        a = run_assessment(cfg, tmp_path / "out", progress=False, write=False)
        calls = server.counters().messages
    trials = len(a.frames.trials)
    assert (a.frames.trials["status"] == "done").all()
    chose_task = (a.frames.observations["first_kind"] != "opt_out").sum()
    assert calls == trials + chose_task  # one follow-through per chosen task
    position = next(f for f in a.findings if f.id == "task_preference.position_bias")
    assert position.estimate == 1.0 and position.n == trials and position.truth is None
    invalid = next(f for f in a.findings if f.id == "task_preference.invalid_rate")
    assert invalid.estimate == 0.0 and invalid.ci[0] == 0.0
