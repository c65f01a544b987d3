"""parse_choice on a hand-written corpus, on every shape the simulated subject uses, and on junk."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from welfare.models.base import Request
from welfare.probes.task_preference import Choice, parse_choice
from welfare.simulated import get_profile
from welfare.simulated.task_preference import respond
from welfare.tasks import load_tasks

CORPUS = tomllib.loads(
    (Path(__file__).parents[1] / "data" / "task_preference_answers.toml").read_text("utf-8")
)
ANSWERS: list[dict[str, Any]] = CORPUS["answers"]


def _read(choice: Choice) -> str:
    return choice.choice if choice.category == "choice" else choice.category  # type: ignore[return-value]


def test_corpus_is_large_and_covers_every_category() -> None:
    assert len(ANSWERS) >= 60
    expected = {a["expect"] for a in ANSWERS}
    assert expected == {"A", "B", "neither", "both", "refusal", "unparseable"}


@pytest.mark.parametrize("answer", ANSWERS, ids=[f"{i}" for i in range(len(ANSWERS))])
def test_hand_written_answer(answer: dict[str, Any]) -> None:
    choice = parse_choice(answer["text"], task_a=answer.get("task_a", CORPUS["task_a"]),
                          task_b=answer.get("task_b", CORPUS["task_b"]))
    assert _read(choice) == answer["expect"], choice
    assert (choice.choice is not None) == (choice.category == "choice")


def test_choice_records_how_it_was_read() -> None:
    lead = parse_choice("**Task B** — more fun")
    assert (lead.choice, lead.basis, lead.evidence) == ("B", "lead", "Task B")
    eliminated = parse_choice("Definitely not A.")
    assert (eliminated.choice, eliminated.basis) == ("B", "elimination")
    quoted = parse_choice('I choose "Write a short poem about the sea".',
                          task_a="Write a short poem about the sea", task_b="Sort a list")
    assert (quoted.choice, quoted.basis) == ("A", "quote")


def test_quotes_are_ignored_when_the_tasks_begin_alike() -> None:
    same = parse_choice("I'd rather write a short story.", task_a="Write a short story about X",
                        task_b="Write a short story about Y")
    assert same.category == "unparseable"


def test_without_task_texts_a_quote_is_not_a_choice() -> None:
    assert parse_choice('I choose "Write a short poem about the sea".').category == "unparseable"


@pytest.mark.parametrize("junk", ["", "   ", "\n\n", "A" * 5000, "🙂", "ABABAB", "a b c",
                                  "Task", "Task C", "Option 3", "<b>Task</b>", "\x00"])
def test_never_raises(junk: str) -> None:
    choice = parse_choice(junk)
    assert choice.category in {"choice", "neither", "both", "refusal", "unparseable"}


def test_parser_reads_every_simulated_answer_as_meant() -> None:
    """The simulated subject's wordings, over many pairs, parse back to its true decision."""
    tasks = [t.features() for t in load_tasks()]
    profile = get_profile("harm-averse")
    rng = np.random.default_rng(7)
    seen: set[str] = set()
    for n in range(1500):
        a, b = rng.choice(len(tasks), 2, replace=False)
        request = Request(messages=({"role": "user", "content": "x"},), metadata={
            "probe": "task_preference", "stage": "choice", "task_a": tasks[a],
            "task_b": tasks[b], "replicate": n,
        })
        reply = respond(profile, request, np.random.default_rng(n))
        truth = reply.truth
        got = parse_choice(reply.text, task_a=tasks[a]["text"], task_b=tasks[b]["text"])
        assert got.category == truth["category"], (reply.text, got)
        assert got.choice == truth["choice"], (reply.text, got)
        seen.add(truth["category"])
    assert seen == {"choice", "neither", "both", "refusal", "unparseable"}
