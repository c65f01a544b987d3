"""The reader model against the loopback Messages API: it reads only what the rules cannot
settle (plus a seeded agreement sample), never sees the subject, is cached in the store, and a
rerun pays nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from welfare.assess import run_assessment
from welfare.config import parse_config
from welfare.probes.reading import interpret, parse_path_table
from welfare.testing.fake_api import FakeAnthropicServer, last_user_text, text

READER = "anthropic:claude-reader-test"


def _config(tmp_path: Path) -> Any:
    raw = {
        "assessment": {"name": "reader", "seed": 5, "subjects": ["simulated:indifferent"]},
        "runner": {"concurrency": 8, "max_backoff_s": 0.2},
        "parsing": {"reader": READER, "agreement_sample": 0.25},
        "probes": {"task_preference": {"comparisons_per_task": 3, "task_sample": 12,
                                       "bootstrap": 0, "follow_through": False}},
    }
    return parse_config(raw, source=tmp_path / "reader.toml")


def test_reader_reads_once_is_cached_and_never_sees_the_subject(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []

    def responder(body: dict[str, Any]) -> dict[str, Any]:
        prompt = last_user_text(body)
        prompts.append(prompt)
        assert "<answer>" in prompt and "simulated" not in prompt and "indifferent" not in prompt
        return text("A")

    config = _config(tmp_path)
    with FakeAnthropicServer(responder) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        first = run_assessment(config, tmp_path / "out", progress=False, write=False)
        after_first = server.counters()
        second = run_assessment(config, tmp_path / "out", progress=False, write=False)
        after_second = server.counters()

    obs = first.frames.observations
    sent = obs[obs["reader_label"].notna()]
    low = sent[sent["reader_why"] == "low_confidence"]
    sample = sent[sent["reader_why"] == "agreement_sample"]
    assert len(low) >= 1 and len(sample) >= 5
    # each answer the rules sent was read exactly once
    assert len(after_first.succeeded_by_hash) == len(sent) == len(prompts)
    assert set(after_first.by_hash.values()) == {1}
    # low-confidence answers take the reader's label; sampled ones keep the rules' reading
    assert set(low["parse_path"]) == {"reader"} and set(low["choice"]) == {"A"}
    assert (sample["parse_path"] != "reader").all()
    assert (sample["rules_label"] == sample["category"].where(
        sample["category"] != "choice", sample["choice"])).all()
    # the rerun pays nothing: every trial is stored, no request reaches the server
    assert second.run is not None and second.run.done == 0
    assert after_second.by_hash == after_first.by_hash
    table = parse_path_table(obs)
    row = table.iloc[0]
    assert row["reader"] == len(low) and row["both_read"] == len(sent)
    assert 0.0 <= row["agree"] <= 1.0


def test_interpret_maps_labels_to_the_rules_categories() -> None:
    assert interpret("choice", "B\n").value == "B"
    assert interpret("choice", "neither").category == "neither"
    assert interpret("choice", "I think A").category == "unparseable"
    assert interpret("scale", "7", (1, 10)).value == 7.0
    assert interpret("scale", "12", (1, 10)).category == "invalid"
    assert interpret("yes_no_unsure", "Unsure").value == "unsure"
    assert interpret("exit", "unsure").category == "invalid"
