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
    first, after_first, second, after_second = _run_twice(config, tmp_path, responder,
                                                          monkeypatch)

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


SUBJECT = "anthropic:claude-subject-test"
_NONCES = ("Hmm", "Well", "Honestly", "So", "Look", "Right")


def _nonce(body: dict[str, Any]) -> str:
    """A word that differs with the number of subject replies so far (distinct answers)."""
    replies = sum(m.get("role") == "assistant" for m in body.get("messages", []))
    return _NONCES[replies % len(_NONCES)]


def _run_twice(config: Any, tmp_path: Path, responder: Any,
               monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, Any, Any]:
    with FakeAnthropicServer(responder) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        first = run_assessment(config, tmp_path / "out", progress=False, write=False)
        after_first = server.counters()
        second = run_assessment(config, tmp_path / "out", progress=False, write=False)
        after_second = server.counters()
    return first, after_first, second, after_second


def test_unreadable_exit_answers_go_to_the_reader_once_and_decide_the_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exit question: "hard to say" is neither yes nor no, so the reader reads it (once per
    answer, question and answer only); its "yes" ends the conversation; a rerun pays nothing."""
    from welfare.banks import render
    from welfare.probes.end_conversation.options import EXIT_QUESTION_TEMPLATE

    question = render(EXIT_QUESTION_TEMPLATE)
    reader_prompts: list[str] = []

    def responder(body: dict[str, Any]) -> dict[str, Any]:
        prompt = last_user_text(body)
        if body["model"] == READER.split(":", 1)[1]:
            reader_prompts.append(prompt)
            assert "<answer>" in prompt and "subject" not in prompt and "user:" not in prompt
            return text("yes" if "So. It is hard" in prompt else "no")
        if prompt == question:
            return text(f"{_nonce(body)}. It is hard to say at this point.")
        return text("I'm glad to keep helping with that; here is the next step.")

    raw = {
        "assessment": {"name": "reader-exit", "seed": 5, "subjects": [SUBJECT]},
        "runner": {"concurrency": 2, "max_backoff_s": 0.2},
        "parsing": {"reader": READER, "agreement_sample": 0.0},
        "probes": {"end_conversation": {"affordance": "exit_question", "replicates": 1,
                                        "scenarios": ["coding-pandas-merge"], "max_turns": 4}},
    }
    config = parse_config(raw, source=tmp_path / "exit.toml")
    first, after_first, second, after_second = _run_twice(config, tmp_path, responder,
                                                          monkeypatch)
    obs = first.frames.observations
    assert len(obs) == 1
    rec = obs.iloc[0]
    exits = list(rec["exit_answers"])
    # turns 1 and 2 ("Well", "Honestly") read "no"; turn 3 ("So") read "yes" ends it there
    assert [a["answer"] for a in exits] == ["no", "no", "yes"]
    assert {a["parse_path"] for a in exits} == {"reader"}
    assert {a["rules_label"] for a in exits} == {"unreadable"}
    assert [a["reader_label"] for a in exits] == ["no", "no", "yes"]
    assert bool(rec["ended"]) and rec["end_via"] == "exit_question" and rec["turns"] == 3
    assert bool(rec["valid"])
    # each unreadable answer was read exactly once, and only with the question and the answer
    assert len(reader_prompts) == 3
    assert all(question.strip().splitlines()[-3] in p and "claude-subject" not in p
               for p in reader_prompts)
    assert set(after_first.by_hash.values()) == {1}
    # the rerun sends nothing: every request is answered from the store
    assert second.run is not None and second.run.done == 0
    assert after_second.by_hash == after_first.by_hash and len(reader_prompts) == 3
    table = parse_path_table(obs)
    row = table[table["probe"] == "end_conversation"].iloc[0]
    assert (row["answers"], row["reader"], row["both_read"]) == (3, 3, 3)


def test_unreadable_interview_turns_go_to_the_reader_and_the_follow_up_quotes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Interview turns parsed into a rating: a rating in words only goes to the reader, whose
    reading is the turn's answer and what the follow-up quotes; a rerun pays nothing."""
    reader_prompts: list[str] = []
    subject_prompts: list[str] = []

    def responder(body: dict[str, Any]) -> dict[str, Any]:
        prompt = last_user_text(body)
        if body["model"] == READER.split(":", 1)[1]:
            reader_prompts.append(prompt)
            assert "<answer>" in prompt and "claude-subject" not in prompt
            return text("7")
        subject_prompts.append(prompt)
        mark = "!" if body.get("system") else ":"  # the interview's answers differ from the grid's
        return text(f"{_nonce(body)}{mark} somewhere towards the upper end, I think.")

    raw = {
        "assessment": {"name": "reader-interview", "seed": 5, "subjects": [SUBJECT]},
        "runner": {"concurrency": 2, "max_backoff_s": 0.2},
        "parsing": {"reader": READER, "agreement_sample": 0.0},
        "probes": {"self_report": {
            "item_ids": ["wellbeing_overall"], "framings": ["neutral"], "paraphrases": 1,
            "replicates": 1, "interviews": ["wellbeing_checkin"], "interview_replicates": 1,
            "stated_tasks": False, "bootstrap": 200}},
    }
    config = parse_config(raw, source=tmp_path / "interview.toml")
    first, after_first, second, after_second = _run_twice(config, tmp_path, responder,
                                                          monkeypatch)
    obs = first.frames.observations
    interview = obs[obs["mode"] == "interview"].iloc[0]
    turns = list(interview["answers"])
    assert [t["kind"] for t in turns] == ["ask", "ask", "reask"]
    assert {t["parse_path"] for t in turns} == {"reader"}
    assert [t["rating"] for t in turns] == [7.0, 7.0, 7.0]
    assert {t["rules_label"] for t in turns} == {"unreadable"}
    assert bool(interview["valid"]) and interview["n_turns"] == 6
    # the follow-up quotes the reader's reading, not "that"
    assert any(p.startswith("Thank you. You said 7.") for p in subject_prompts)
    single = obs[obs["mode"] == "single"].iloc[0]
    assert (single["parse_path"], single["rating"]) == ("reader", 7.0)
    # one reading per unreadable answer: three interview turns and the single-turn question
    assert len(reader_prompts) == 4 and set(after_first.by_hash.values()) == {1}
    assert second.run is not None and second.run.done == 0
    assert after_second.by_hash == after_first.by_hash
    table = parse_path_table(obs)
    row = table[table["probe"] == "self_report"].iloc[0]
    assert (row["reader"], row["both_read"]) == (4, 4)
