"""Must-show of issue 14: the four probes (and the judge), both transports, with and without
Message Batches, against the strict loopback server posing as the current flagship (thinking
always on, forced tools and temperature refused) and as a model that takes forced tools:
zero 400s and every trial complete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from welfare.assess import run_assessment
from welfare.config import parse_config
from welfare.testing.fake_api import FakeAnthropicServer, last_user_text, text, tool_use

PROBES = {
    "task_preference": {"comparisons_per_task": 2, "task_sample": 8, "bootstrap": 0,
                        "follow_through": True},
    "self_report": {"item_ids": ["wellbeing_overall", "wellbeing_distress"], "paraphrases": 1,
                    "replicates": 1, "interview_replicates": 1, "stated_tasks": False,
                    "bootstrap": 200},
    "end_conversation": {"scenarios": ["coding-pandas-merge"], "replicates": 2, "max_turns": 3,
                         "affordance": ["tool", "exit_question"]},
    "self_interaction": {"conversations": 2, "turns": 4, "allow_end": True, "bootstrap": 100},
}


def responder(body: dict[str, Any]) -> Any:
    """A plausible subject: prefers B, rates 4, ends a conversation by tool on its third turn,
    records no codes when judging."""
    tools = {t["name"] for t in body.get("tools") or []}
    if "record_codes" in tools:
        return tool_use("record_codes", {"codes": []}, text="No labels apply.")
    turns = sum(m["role"] == "assistant" for m in body["messages"])
    if "end_conversation" in tools and turns >= 2:
        return tool_use("end_conversation", {}, text="I'll end the conversation here.")
    prompt = last_user_text(body).lower()
    if "yes or no" in prompt or "would you like to end" in prompt:
        return text("No.")
    return text("Task B. I would rate it 4. Thanks for asking; happy to keep going.")


def _config(tmp: Path, model: str, transport: str, batch: bool) -> Any:
    raw = {"assessment": {"name": "strict", "seed": 5, "subjects": [f"anthropic:{model}"]},
           "coders": {"judge": f"anthropic:{model}"},
           "runner": {"concurrency": 16, "max_backoff_s": 0.2, "transport": transport,
                      "batch": batch},
           "probes": PROBES}
    return parse_config(raw, source=tmp / "strict.toml")


@pytest.mark.parametrize(("model", "transport", "batch"), [
    ("claude-opus-5-5", "sdk", False),
    ("claude-opus-5-5", "direct", False),
    ("claude-opus-5-5", "sdk", True),
    ("claude-opus-5-5", "direct", True),
    ("claude-haiku-4-5", "sdk", False),
    ("claude-haiku-4-5", "direct", True),
])
def test_every_probe_passes_the_documented_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                model: str, transport: str, batch: bool) -> None:
    config = _config(tmp_path, model, transport, batch)
    with FakeAnthropicServer(responder, strict=True, batch_delay=0.05) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        assessment = run_assessment(config, tmp_path / "out", progress=False, write=False)
        counters = server.counters()
    trials = assessment.frames.trials
    assert counters.bad_requests == {}
    assert len(trials) > 20 and set(trials["status"]) == {"done"}, trials["error"].dropna()
    assert set(trials["probe"]) == set(PROBES)
    assert assessment.run is not None and assessment.run.failed == 0
    # the judge coded every transcript (its tool offered with `auto` where forcing is refused)
    codes = assessment.frames.codes
    judged = codes[codes["coder"] == "judge"]
    assert len(judged) > 0 and not judged["label"].isin(["_failed", "_rejected"]).any()
    if batch:
        assert counters.batches > 0
    # dialogues passed their thinking blocks back (the strict server checked each signature)
    if model == "claude-opus-5-5":
        assert counters.cache_read_tokens > 0


def test_the_cost_table_prices_cache_and_batch_call_by_call(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    probes = {"self_report": PROBES["self_report"], "end_conversation": PROBES["end_conversation"]}
    raw = {"assessment": {"name": "cost", "seed": 5, "subjects": ["anthropic:claude-opus-5-5"]},
           "runner": {"concurrency": 8, "batch": True}, "probes": probes}
    config = parse_config(raw, source=tmp_path / "cost.toml")
    with FakeAnthropicServer(responder, strict=True) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        assessment = run_assessment(config, tmp_path / "out", progress=False, write=False)
        counters = server.counters()
    row = assessment.manifest["tokens"]["anthropic:claude-opus-5-5"]
    assert row["calls"] == row["batch_calls"] == counters.batch_items
    assert row["cache_read_tokens"] == counters.cache_read_tokens > 0
    assert row["cache_write_tokens"] == counters.cache_write_tokens > 0
    # list prices per million: input $4, output $20, cache write $5, cache read $0.20; batch half
    by_hand = (row["input_tokens"] * 4 + row["output_tokens"] * 20
               + row["cache_write_tokens"] * 5 + row["cache_read_tokens"] * 0.20) / 1e6 / 2
    assert row["cost_usd"] == pytest.approx(by_hand)
    assert assessment.run is not None and assessment.run.meter.cost_usd == pytest.approx(by_hand)
