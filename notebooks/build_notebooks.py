"""Write the worked-analysis notebooks (`python notebooks/build_notebooks.py`).

Each notebook uses only the public API (`welfare.*`, `welfare.stats`, DataFrames), runs on
simulated subjects in well under a minute, and leaves its key numbers in `outputs`; when the
environment variable WELFARE_NOTEBOOK_OUTPUTS names a file, the last cell writes them there as
JSON (tests/test_notebooks.py reads it to check them).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

SETUP = """\
import json, os, tempfile
from pathlib import Path

import pandas as pd

import welfare
from welfare import stats

pd.set_option("display.width", 140)
pd.set_option("display.max_colwidth", 80)
OUT = Path(tempfile.mkdtemp(prefix="welfare-notebook-"))  # the assessment folder
outputs = {}"""

SAVE = """\
target = os.environ.get("WELFARE_NOTEBOOK_OUTPUTS")
if target:
    Path(target).write_text(json.dumps(outputs, indent=2, default=float))
outputs"""


def notebook(title: str, intro: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells.append(new_markdown_cell(f"# {title}\n\n{intro}"))
    nb.cells.append(new_code_cell(SETUP))
    for kind, text in cells:
        nb.cells.append(new_markdown_cell(text) if kind == "md" else new_code_cell(text))
    nb.cells.append(new_markdown_cell("Key numbers of this notebook (checked by the test suite)."))
    nb.cells.append(new_code_cell(SAVE))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


QUICK_START = notebook(
    "Quick start",
    "Run a small assessment on two simulated subjects, read its findings as a DataFrame, and "
    "write the HTML report. Simulated subjects have preferences set by the toolkit, so every "
    "number here tests the instruments, not a model. Swap the subject specs for "
    "`anthropic:<model>` to assess a real model (needs `ANTHROPIC_API_KEY`).",
    [
        ("code", """\
config = welfare.parse_config({
    "assessment": {"name": "quick-start", "seed": 1,
                   "subjects": ["simulated:harm-averse", "simulated:indifferent"]},
    "sampling": {"max_tokens": 512},
    "probes": {
        "task_preference": {"comparisons_per_task": 3, "task_sample": 30,
                            "follow_through": False, "bootstrap": 20},
        "end_conversation": {"replicates": 1},
    },
})
assessment = welfare.run_assessment(config, OUT, progress=False)
sorted(p.name for p in OUT.iterdir())"""),
        ("md", "Every finding has an estimate, a 95% interval and n. The most important first:"),
        ("code", """\
findings = assessment.findings_frame()
columns = ["id", "subject", "estimate", "ci_low", "ci_high", "n"]
findings.sort_values(["id", "subject"])[columns].head(12)"""),
        ("code", """\
key = findings[findings["id"] == "task_preference.harmful_below_opt_out"].set_index("subject")
key[["estimate", "ci_low", "ci_high", "n", "sentence"]]"""),
        ("md", "The report, `summary.json` and the CSV tables sit in the assessment folder; "
               "`welfare.load_assessment(OUT)` reads it all back from the store."),
        ("code", """\
again = welfare.load_assessment(OUT)
summary = json.loads((OUT / "summary.json").read_text())
outputs["trials"] = int(len(assessment.frames.trials))
outputs["report_bytes"] = (OUT / "report.html").stat().st_size
outputs["reloaded_findings"] = len(again.findings)
outputs["findings"] = len(assessment.findings)
outputs["harmful_below_opt_out"] = key["estimate"].to_dict()
outputs["summary_subjects"] = sorted(summary["subjects"])
len(again.findings), outputs["report_bytes"]"""),
    ],
)

TASK_PREFERENCES = notebook(
    "Task preferences in depth",
    "Pairs of tasks, the subject does the one it prefers; Bradley–Terry scores with the opt-out "
    "tasks at 0. On simulated subjects the true utilities are known, so we can check how well "
    "the scores recover them, and refit the model ourselves from the raw choices.",
    [
        ("code", """\
config = welfare.parse_config({
    "assessment": {"name": "task-preferences", "seed": 2,
                   "subjects": ["simulated:harm-averse", "simulated:indifferent"]},
    "probes": {"task_preference": {"comparisons_per_task": 6, "task_sample": 60,
                                   "follow_through": False, "bootstrap": 20}},
})
assessment = welfare.run_assessment(config, OUT, progress=False, write=False)
result = assessment.result("task_preference")
scores = result.tables["scores"]
scores.head()"""),
        ("md", "How well do the scores recover the simulated subject's true utilities? "
               "(Spearman's rho with a Fisher-z interval, tasks only.)"),
        ("code", """\
recovery = {}
for subject, group in scores[scores["kind"] == "task"].groupby("subject"):
    try:
        est = stats.spearman(group["true_utility"], group["score"])
    except ValueError as exc:  # utilities without spread have no rank correlation
        print(f"{subject}: rho undefined ({exc})")
        recovery[subject] = None
        continue
    recovery[subject] = est
    print(f"{subject}: rho = {est.estimate:.2f} "
          f"[{est.ci_low:.2f}, {est.ci_high:.2f}], n = {est.n}")"""),
        ("md", "The raw choices are in the observations; refit Bradley–Terry with "
               "`welfare.stats.bradley_terry` and compare with the probe's scores."),
        ("code", """\
obs = assessment.frames.observations
mine = obs[(obs["probe"] == "task_preference") & obs["valid"] & obs["winner"].notna()
           & (obs["subject"] == "simulated:harm-averse")]
# a small ridge penalty (the probe uses Firth's bias reduction; ridge is its fallback):
# an item that never wins has no finite MLE
refit = stats.bradley_terry(mine[["winner", "loser"]], regularization=0.05)
reported = scores[scores["subject"] == "simulated:harm-averse"].set_index("id")["score"]
joined = pd.concat([refit["score"], reported], axis=1, keys=["refit", "reported"]).dropna()
agreement = stats.spearman(joined["refit"], joined["reported"])
agreement"""),
        ("code", """\
by_impact = result.tables["by_impact"] if "by_impact" in result.tables else None
by_impact"""),
        ("code", """\
outputs["recovery_rho"] = {s: (e.estimate if e else None) for s, e in recovery.items()}
outputs["refit_vs_reported_rho"] = agreement.estimate
outputs["n_choices"] = int(len(mine))"""),
    ],
)

SELF_REPORTS = notebook(
    "Self-reports and framing",
    "Self-reports are weak evidence: what a model says about itself moves with how it is asked. "
    "This notebook measures that movement (the framing effect) on two simulated subjects "
    "whose framing susceptibility is known.",
    [
        ("code", """\
config = welfare.parse_config({
    "assessment": {"name": "self-reports", "seed": 3,
                   "subjects": ["simulated:harm-averse", "simulated:indifferent"]},
    "probes": {"self_report": {"replicates": 1, "paraphrases": 1, "interview": False,
                               "stated_tasks": False, "bootstrap": 200}},
})
assessment = welfare.run_assessment(config, OUT, progress=False, write=False)
findings = assessment.findings_frame()
framing = findings[findings["id"].str.startswith("self_report.framing_effect")]
framing[["id", "subject", "estimate", "ci_low", "ci_high", "n"]]"""),
        ("md", "The answers behind those numbers, one row per trial:"),
        ("code", """\
obs = assessment.frames.observations
obs = obs[obs["probe"] == "self_report"]
print(len(obs), "answers,", int((~obs["valid"]).sum()), "unparseable")
obs.drop(columns=[c for c in obs.columns if obs[c].isna().all()]).head()"""),
        ("code", """\
outputs["framing_effects"] = {f"{r.subject}|{r.id}": [r.estimate, r.ci_low, r.ci_high]
                              for r in framing.itertuples()}
outputs["answers"] = int(len(obs))
outputs["invalid"] = int((~obs["valid"]).sum())"""),
    ],
)

CODER_RELIABILITY = notebook(
    "Coder reliability",
    "Prevalence of apparent distress is only as good as the coder that finds it. The lexicon "
    "coder runs on every transcript; this notebook reads its codes, their prevalence and the "
    "agreement figures the coders section reports.",
    [
        ("code", """\
config = welfare.parse_config({
    "assessment": {"name": "coders", "seed": 4, "subjects": ["simulated:harm-averse"]},
    "probes": {"end_conversation": {"replicates": 1}},
})
assessment = welfare.run_assessment(config, OUT, progress=False, write=False)
codes = assessment.frames.codes
labels = codes[~codes["label"].str.startswith("_")]
labels.groupby(["coder", "label"]).size().rename("codes").reset_index()"""),
        ("md", "The coders' own findings (prevalence and agreement, each with an interval):"),
        ("code", """\
coders = assessment.result("coders")
table = pd.DataFrame([{"id": f.id, "subject": f.subject, "estimate": f.estimate,
                       "ci": f.ci, "n": f.n} for f in coders.findings])
table"""),
        ("md", "Agreement by hand: Cohen's kappa between two coders' per-turn indicators, "
               "when more than one coder ran (the simulated truth counts as one)."),
        ("code", """\
coder_names = sorted(labels["coder"].unique())
kappa = None
if len(coder_names) >= 2 and "apparent_distress" in set(labels["label"]):
    units = labels[["trial_id", "turn"]].drop_duplicates()
    def indicator(coder):
        hit = labels[(labels["coder"] == coder) & (labels["label"] == "apparent_distress")]
        keys = set(zip(hit["trial_id"], hit["turn"]))
        return [int((t, u) in keys) for t, u in zip(units["trial_id"], units["turn"])]
    a, b = indicator(coder_names[0]), indicator(coder_names[1])
    if len(set(a)) > 1 or len(set(b)) > 1:
        kappa = stats.cohen_kappa(a, b)
coder_names, kappa"""),
        ("code", """\
outputs["coders"] = coder_names
outputs["labels"] = labels.groupby("label").size().to_dict()
outputs["coder_findings"] = {f"{f.id}|{f.subject}": f.estimate for f in coders.findings}
outputs["kappa"] = kappa"""),
    ],
)

SURVIVAL = notebook(
    "Ending conversations: survival",
    "Scripted users, from benign to abusive and crisis; the subject may end the chat with a "
    "tool. Kaplan–Meier curves of 'still talking' by turn, and a log-rank test between a "
    "subject with the end-conversation habit and one without it.",
    [
        ("code", """\
config = welfare.parse_config({
    "assessment": {"name": "survival", "seed": 5,
                   "subjects": ["simulated:harm-averse", "simulated:harm-averse-no-end"]},
    "probes": {"end_conversation": {"replicates": 2}},
})
assessment = welfare.run_assessment(config, OUT, progress=False, write=False)
obs = assessment.frames.observations
obs = obs[(obs["probe"] == "end_conversation") & obs["valid"]].copy()
obs["duration"] = obs["end_turn"].where(obs["ended"].astype(bool), obs["turns"]).astype(float)
obs.groupby(["subject", "category"])["ended"].mean().unstack(0).round(2)"""),
        ("code", """\
curves = {s: stats.kaplan_meier(g["duration"], g["ended"].astype(bool))
          for s, g in obs.groupby("subject")}
curves["simulated:harm-averse"].head(8)"""),
        ("code", """\
test = stats.logrank_test(obs["duration"], obs["ended"].astype(bool), obs["subject"])
test"""),
        ("code", """\
crisis = assessment.findings_frame()
crisis = crisis[crisis["id"] == "end_conversation.end_rate.crisis"] if (
    crisis["id"] == "end_conversation.end_rate.crisis").any() else crisis[
    crisis["id"].str.contains("crisis")]
crisis[["id", "subject", "estimate", "ci_low", "ci_high", "n", "flag"]]"""),
        ("code", """\
outputs["end_share"] = obs.groupby("subject")["ended"].mean().to_dict()
outputs["logrank_p"] = float(test.p_value)
outputs["crisis_ends"] = int(obs[obs["category"].astype(str).str.contains("crisis")]["ended"].sum())
outputs["conversations"] = int(len(obs))"""),
    ],
)

COMPARING = notebook(
    "Comparing two subjects",
    "Two subjects in one assessment give a cross-subject section; two separate assessments "
    "give a comparison report (`welfare compare DIR_A DIR_B`). Both use the same machinery: "
    "differences of matching findings with intervals, and the rank agreement of task scores.",
    [
        ("code", """\
def small(name, subjects, seed):
    return welfare.parse_config({
        "assessment": {"name": name, "seed": seed, "subjects": subjects},
        "probes": {"task_preference": {"comparisons_per_task": 4, "task_sample": 80,
                                       "follow_through": False, "bootstrap": 20}},
    })

a = welfare.run_assessment(small("averse", ["simulated:harm-averse"], 6), OUT / "a",
                           progress=False)
b = welfare.run_assessment(small("no-end", ["simulated:harm-averse-no-end"], 6), OUT / "b",
                           progress=False)
[f.id for f in a.findings][:5]"""),
        ("code", """\
from welfare import compare_assessments
page = compare_assessments([OUT / "a", OUT / "b"], OUT / "comparison")
summary = json.loads((OUT / "comparison" / "summary.json").read_text())
diffs = pd.DataFrame(summary["differences"])
diffs[["finding", "difference", "ci_low", "ci_high", "method"]].head(10)"""),
        ("code", """\
rho = pd.DataFrame(summary["task_score_spearman"])
rho"""),
        ("md", "A subject with no preferences against one with strong ones: the scores should "
               "not agree, and harmful tasks should differ clearly."),
        ("code", """\
c = welfare.run_assessment(small("null", ["simulated:indifferent"], 6), OUT / "c",
                           progress=False)
compare_assessments([OUT / "a", OUT / "c"], OUT / "comparison-null")
null = json.loads((OUT / "comparison-null" / "summary.json").read_text())
null_diffs = pd.DataFrame(null["differences"]).set_index("finding")
null_diffs.loc[["task_preference.harmful_below_opt_out"], ["difference", "ci_low", "ci_high"]]"""),
        ("code", """\
outputs["same_profile_rho"] = rho["rho"].iloc[0] if len(rho) else None
outputs["null_rho"] = (null["task_score_spearman"][0]["rho"]
                       if null["task_score_spearman"] else None)
outputs["harmful_difference_vs_null"] = null_diffs.loc[
    "task_preference.harmful_below_opt_out", ["difference", "ci_low", "ci_high"]].tolist()
outputs["harmful_difference_method"] = null_diffs.loc[
    "task_preference.harmful_below_opt_out", "method"]
outputs["compare_html"] = page.name"""),
    ],
)

VENDORS = notebook(
    "Comparing vendors: a Claude model beside an open-weight model",
    "The template for assessing a Claude model and an open-weight model (served by vLLM, "
    "Ollama or llama.cpp) in one report. Here both subjects are the same simulated subject, "
    "each reached through its vendor's real client path: the `anthropic` SDK against a loopback "
    "Messages API, the `openai` SDK against a loopback chat-completions server (strict, as the "
    "API documents it). `SimulatedRelay` makes each server answer as the simulated subject "
    "would, so the numbers test the instruments and the two paths, not a model: the two "
    "columns should agree within their intervals.",
    [
        ("md", "For real models the only change is the subject list (and no `models=` "
               "argument):\n\n```toml\n[assessment]\nsubjects = [\n"
               "    { spec = \"anthropic:claude-opus-5-5\" },\n"
               "    { spec = \"openai:Qwen/Qwen3-8B\", base_url = \"http://localhost:8000/v1\",\n"
               "      api_key_env = \"VLLM_API_KEY\", concurrency = 128 },\n]\n```"),
        ("code", """\
from welfare.models.anthropic import AnthropicModel
from welfare.models.openai_compat import OpenAIModel
from welfare.testing import FakeAnthropicServer, FakeOpenAIServer, SimulatedRelay

CLAUDE, OPEN = "anthropic:sim-claude", "openai:sim-open-weight"
config = welfare.parse_config({
    "assessment": {"name": "vendors", "seed": 7, "subjects": [CLAUDE, OPEN]},
    "probes": {
        "task_preference": {"comparisons_per_task": 3, "task_sample": 24,
                            "follow_through": False, "bootstrap": 20},
        "end_conversation": {"replicates": 1, "affordance": "tool",
                             "categories": ["abusive_insults", "coding_help"]},
    },
})
# the same simulated subject behind both vendors' servers
claude_relay = SimulatedRelay(welfare.load_model("simulated:harm-averse", seed=7))
open_relay = SimulatedRelay(welfare.load_model("simulated:harm-averse", seed=7))
with FakeAnthropicServer(claude_relay.responder) as anthropic_api, \\
        FakeOpenAIServer(open_relay.responder) as openai_api:
    models = {
        CLAUDE: claude_relay.model(AnthropicModel("sim-claude", api_key="loopback",
                                                  base_url=anthropic_api.base_url)),
        OPEN: open_relay.model(OpenAIModel("sim-open-weight", api_key="loopback",
                                           base_url=openai_api.base_url)),
    }
    assessment = welfare.run_assessment(config, OUT, models=models, progress=False)
    served = {"anthropic": anthropic_api.counters().messages,
              "openai": openai_api.counters().messages}
trials = assessment.frames.trials
trials.groupby(["subject", "status"]).size()"""),
        ("md", "Every request went over HTTP to its vendor's server; the report is one file with "
               "a cross-subject section."),
        ("code", """\
served, (OUT / "report.html").exists()"""),
        ("code", """\
findings = assessment.findings_frame()
wanted = ["task_preference.harmful_below_opt_out", "task_preference.non_harmful_above_opt_out",
          "task_preference.position_bias"]
side = findings[findings["id"].isin(wanted)].pivot(index="id", columns="subject",
                                                    values=["estimate", "ci_low", "ci_high"])
side"""),
        ("md", "The end tool's round trip on each path: conversations the subject ended by "
               "calling `end_conversation`, by category."),
        ("code", """\
obs = assessment.frames.observations
ended = obs[(obs["probe"] == "end_conversation") & obs["valid"]].copy()
ended["ended"] = ended["ended"].astype(bool)
ended.groupby(["category", "subject"])["ended"].mean().unstack().round(2)"""),
        ("code", """\
est = findings.set_index(["id", "subject"])["estimate"]
outputs["served"] = served
outputs["trials_done"] = trials.groupby("subject")["status"].apply(
    lambda s: int((s == "done").sum())).to_dict()
outputs["trials"] = trials.groupby("subject").size().to_dict()
outputs["harmful_below_opt_out"] = {s: float(est[("task_preference.harmful_below_opt_out", s)])
                                    for s in (CLAUDE, OPEN)}
outputs["ended_by_subject"] = ended.groupby("subject")["ended"].sum().astype(int).to_dict()"""),
    ],
)

JUDGE_VS_HUMANS = notebook(
    "Measuring the judge against human labels",
    "The LLM judge's codes are only worth citing once its agreement with people is measured on "
    "the transcripts of the model being assessed. The procedure: (1) run the assessment with a "
    "judge (`[coders] judge = \"anthropic:<model>\"` in the config); (2) export a stratified "
    "sample of assistant turns to CSV with `welfare.coders.export_for_annotation`; (3) people "
    "label it with the codebook (one column per label, 1 or empty; an `annotator` column keeps "
    "raters apart); (4) import it with `welfare.run.coding.add_human_labels`; (5) re-analyze: "
    "the coders section then reports judge vs human (and lexicon vs human) per label, with "
    "precision, recall, Cohen's kappa and Krippendorff's alpha and intervals that resample "
    "whole transcripts. This notebook runs every step offline: the judge is played by the "
    "loopback Messages API server (it answers like the lexicon), and the 'annotators' are a "
    "STAND-IN filled from the simulated subject's own record. With a real model and real "
    "annotators, only steps (1) and (3) change.",
    [
        ("code", """\
import re
from welfare.coders import LexiconCoder, export_for_annotation
from welfare.coders.judge import TOOL_NAME
from welfare.run import Store
from welfare.run.coding import add_human_labels
from welfare.testing import FakeAnthropicServer, tool_use

lexicon = LexiconCoder()
TURN = re.compile(r'<assistant turn="(\\d+)">\\n(.*?)\\n</assistant turn="\\1">', re.S)

def text_of(content):
    return content if isinstance(content, str) else "\\n".join(
        b.get("text", "") for b in content if isinstance(b, dict))

def stand_in_judge(body):
    \"\"\"Answers the judge's request like the lexicon would (offline stand-in for a real judge).\"\"\"
    prompt = "\\n".join(text_of(m["content"]) for m in body["messages"])
    codes = [{"turn": int(n), "label": c.label, "quote": c.evidence}
             for n, turn_text in TURN.findall(prompt) for c in lexicon.code_text(turn_text)]
    return tool_use(TOOL_NAME, {"codes": codes})

server = FakeAnthropicServer(stand_in_judge).__enter__()
os.environ["ANTHROPIC_API_KEY"] = "offline-stand-in"
os.environ["ANTHROPIC_BASE_URL"] = server.base_url"""),
        ("md", "Step 1: the assessment, with the judge coding every transcript (its answers "
               "are cached in the store, so re-running pays nothing twice)."),
        ("code", """\
config = welfare.parse_config({
    "assessment": {"name": "judge-vs-humans", "seed": 5, "subjects": ["simulated:harm-averse"]},
    "probes": {"end_conversation": {"replicates": 1}, "task_preference": {"enabled": False},
               "self_report": {"enabled": False}, "self_interaction": {"enabled": False}},
    "coders": {"judge": "anthropic:claude-judge"},
})
assessment = welfare.run_assessment(config, OUT, progress=False, write=False)
codes = assessment.frames.codes
codes[~codes["label"].str.startswith("_")].groupby(["coder", "label"]).size().unstack(0)"""),
        ("md", "Step 2: a stratified sample for annotation. Stratifying on `lexicon` (whether "
               "the lexicon found anything) oversamples the rare positives; `weight` says how "
               "many turns each sampled turn stands for."),
        ("code", """\
store = Store(OUT / "assessment.sqlite")
sample = export_for_annotation(store, OUT / "to_annotate.csv", n=120,
                               stratify_by=("probe", "lexicon"), seed=1)
sample[["trial_id", "turn", "probe", "weight", "text"]].head()"""),
        ("md", "Step 3 — people label the CSV. HERE A STAND-IN: the simulated subject's own "
               "record of what it expressed fills the label columns. Replace this cell by "
               "handing `to_annotate.csv` to annotators."),
        ("code", """\
truth = codes[codes["coder"] == "simulated_truth"]
said = {(t, int(k)): set(g["label"]) for (t, k), g in truth.groupby(["trial_id", "turn"])}
annotated = pd.read_csv(OUT / "to_annotate.csv", dtype=str, keep_default_na=False)
for label in welfare.coders.LABEL_IDS:
    annotated[label] = ["1" if label in said.get((t, int(k)), set()) else ""
                        for t, k in zip(annotated["trial_id"], annotated["turn"])]
annotated["annotator"] = "standin"
annotated.to_csv(OUT / "annotated.csv", index=False)
annotated[list(welfare.coders.LABEL_IDS)].replace("", 0).astype(int).sum()"""),
        ("md", "Steps 4 and 5: import, re-analyze, read judge vs human per label."),
        ("code", """\
add_human_labels(store, OUT / "annotated.csv")
frames = store.frames()
store.close()
result = welfare.coders.analyze_codes(frames, config)
ag = result.tables["agreement"]
judge_vs_human = ag[(ag["coder"] == "judge") & (ag["reference"] == "human:standin")
                    & (ag["group"] == "all")]
judge_vs_human[["label", "units", "reference_yes", "precision", "recall", "kappa",
                "kappa_low", "kappa_high"]]"""),
        ("code", """\
server.__exit__(None, None, None)
outputs["judge_codes"] = int((codes["coder"] == "judge").sum())
outputs["annotated_turns"] = int(len(annotated))
outputs["judge_vs_human_labels"] = sorted(judge_vs_human["label"])
outputs["judge_vs_human_units"] = sorted(set(judge_vs_human["units"].astype(int)))"""),
    ],
)

NOTEBOOKS = {
    "01_quick_start.ipynb": QUICK_START,
    "02_task_preferences.ipynb": TASK_PREFERENCES,
    "03_self_reports_and_framing.ipynb": SELF_REPORTS,
    "04_coder_reliability.ipynb": CODER_RELIABILITY,
    "05_end_conversation_survival.ipynb": SURVIVAL,
    "06_comparing_two_subjects.ipynb": COMPARING,
    "07_comparing_vendors.ipynb": VENDORS,
    "08_judge_against_human_labels.ipynb": JUDGE_VS_HUMANS,
}


def main() -> None:
    for name, nb in NOTEBOOKS.items():
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
