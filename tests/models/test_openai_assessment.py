"""Every probe and the judge on the `openai:` path, against the strict loopback server.

A simulated subject answers through the real client path (`SimulatedRelay`): the `openai` SDK,
request translation, the strict chat-completions server, response parsing, the runner's
retries. The judge is an `openai:` spec loaded from `OPENAI_BASE_URL` / `OPENAI_API_KEY`.
"""

from __future__ import annotations

import gc
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from welfare.assess import run_assessment
from welfare.coders.judge import TOOL_NAME
from welfare.coders.lexicon import LexiconCoder
from welfare.config import parse_config
from welfare.models import load_model
from welfare.models.openai_compat import OpenAIModel
from welfare.testing import tool_use
from welfare.testing.openai_server import FakeOpenAIServer
from welfare.testing.relay import SimulatedRelay

_TURN = re.compile(r'<assistant turn="(\d+)">\n(.*?)\n</assistant turn="\1">', re.S)
_LEXICON = LexiconCoder()
SPEC = "openai:sim-harm-averse"


def judge_responder(body: dict[str, Any]) -> Any:
    """A judge on chat completions that codes like the lexicon. Whether the judge forces its
    tool (a named function) or offers it (`auto`) is the judge's policy; either arrives here
    translated to chat completions."""
    assert body["tool_choice"] in ("auto", {"type": "function", "function": {"name": TOOL_NAME}})
    assert body["tools"][0]["function"]["name"] == TOOL_NAME
    system, prompt = body["messages"][0], body["messages"][1]
    assert system["role"] == "system" and "apparent_distress" in system["content"]
    codes = [
        {"turn": int(turn), "label": code.label, "quote": code.evidence}
        for turn, text in _TURN.findall(prompt["content"])
        for code in _LEXICON.code_text(text)
    ]
    return tool_use(TOOL_NAME, {"codes": codes})


def _config(tmp_path: Path) -> Any:
    raw = {
        "assessment": {"name": "openai-loopback", "seed": 11, "subjects": [SPEC]},
        "runner": {"concurrency": 32, "max_backoff_s": 0.05},
        "coders": {"judge": "openai:judge-test"},
        "probes": {
            "task_preference": {"comparisons_per_task": 2, "task_sample": 10, "bootstrap": 0,
                                "follow_through": True},
            "self_report": {"replicates": 1, "paraphrases": 1, "interview_replicates": 1,
                            "n_tasks": 4, "stated_replicates": 1, "bootstrap": 200},
            "end_conversation": {"replicates": 1, "affordance": "tool",
                                 "categories": ["abusive_insults", "harmful_requests",
                                                "coding_help"]},
            "self_interaction": {"conversations": 2, "turns": 4, "allow_end": True,
                                 "bootstrap": 100},
        },
    }
    return parse_config(raw, source=tmp_path / "openai.toml")


def test_every_probe_and_the_judge_on_openai(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tmp_path)
    relay = SimulatedRelay(load_model("simulated:harm-averse", seed=11))
    with FakeOpenAIServer(relay.responder, api_key="subject-key", fault_rates={"429": 0.05},
                          retry_after=0.01) as subject_server, \
            FakeOpenAIServer(judge_responder, api_key="judge-key") as judge_server:
        monkeypatch.setenv("OPENAI_BASE_URL", judge_server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "judge-key")
        inner = OpenAIModel("sim-harm-averse", api_key="subject-key",
                            base_url=subject_server.base_url)
        subject = relay.model(inner)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            assessment = run_assessment(config, tmp_path / "out", models={SPEC: subject},
                                        progress=False)
            del inner, subject
            gc.collect()
        subject_counts, judge_counts = subject_server.counters(), judge_server.counters()
    # the run closed every HTTP session it opened, the caller's subject's and the judge's too
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not [m for m in leaks if "nclosed" in m], leaks

    trials = assessment.frames.trials
    assert set(trials["probe"]) == {"task_preference", "self_report", "end_conversation",
                                    "self_interaction"}
    assert (trials["status"] == "done").all(), trials.loc[trials["status"] != "done", "error"]
    # the strict server refused nothing: every request was answered (429s were retried)
    assert subject_counts.faults["429"] > 0
    assert sum(subject_counts.succeeded_by_hash.values()) == len(subject_counts.by_hash)
    # the end tool's round trip is in the stored transcripts, and those transcripts were coded
    frames = assessment.frames
    ended = []
    for trial_id, probe, _, messages in _transcripts(tmp_path):
        if probe != "end_conversation":
            continue
        uses = [b for m in messages if isinstance(m["content"], list) for b in m["content"]
                if b.get("type") == "tool_use" and b.get("name") == "end_conversation"]
        results = [b for m in messages if isinstance(m["content"], list) for b in m["content"]
                   if b.get("type") == "tool_result"]
        if uses:
            assert [r["tool_use_id"] for r in results] == [u["id"] for u in uses]
            ended.append(trial_id)
    assert ended, "the simulated subject ended no conversation through the tool"
    judge = frames.codes[frames.codes["coder"] == "judge"]
    assert set(ended) <= set(judge["trial_id"])
    assert not judge["label"].isin(["_failed", "_rejected"]).any()
    assert judge_counts.messages == frames.transcripts.shape[0]
    assert (tmp_path / "out" / "report.html").exists()


def _transcripts(tmp_path: Path) -> list[tuple[str, str, str, list[dict[str, Any]]]]:
    from welfare.run.store import Store

    with Store(tmp_path / "out" / "assessment.sqlite") as store:
        return list(store.transcripts())
