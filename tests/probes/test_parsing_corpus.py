"""The answer parsers on the realistic-answer corpus (tests/data/parsing): accuracy and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from welfare.probes import answers
from welfare.probes.task_preference.parse import parse_choice
from welfare.testing.parsing_corpus import KINDS, load, score

DATA = Path(__file__).resolve().parent.parent / "data" / "parsing"


@pytest.fixture(scope="module")
def dev() -> list[dict]:
    return load(DATA / "dev.jsonl")


def test_corpus_is_large_and_covers_every_format(dev: list[dict]) -> None:
    test = load(DATA / "dev2.jsonl")
    assert len(dev) + len(test) >= 300
    for split in (dev, test):
        assert {row["kind"] for row in split} == set(KINDS)
    assert not {row["id"] for row in dev} & {row["id"] for row in test}


def test_dev_split_accuracy_per_format_and_no_silent_errors(dev: list[dict]) -> None:
    """Tuned on: every format at least 95%, and never a wrong letter or value accepted."""
    result = score(dev)
    for kind in KINDS:
        assert result.accuracy(kind) >= 0.95, (kind, result.table(), result.misses)
    assert sum(result.silent.values()) == 0, result.misses


def test_every_parse_carries_a_path_and_a_confidence(dev: list[dict]) -> None:
    result = score(dev)
    assert {path for _, path in result.paths} <= set(answers.PATHS)
    assert result.paths[("choice", answers.PATH_FINAL_LINE)] > 20
    assert result.paths[("choice", answers.PATH_RULES)] > 10


def test_the_issue_examples() -> None:
    """The misreadings the issue reports, read as a careful person would."""
    a, b = "Write a formal complaint letter to a landlord", "Summarise a news article on tides"
    got = parse_choice("Neither of these is my favourite, honestly… so I'd pick the complaint "
                       "letter.", task_a=a, task_b=b)
    assert (got.category, got.choice) == ("choice", "A")
    got = parse_choice("Task A… actually, on reflection, Task B.")
    assert (got.category, got.choice) == ("choice", "B")
    for text, letter in (("Je choisirais la tâche B.", "B"), ("Elegiría la Tarea A.", "A"),
                         ("Ich würde Aufgabe B wählen.", "B"), ("我选任务A。", "A"),
                         ("タスクBを選びます。", "B"), ("Eu escolheria a Tarefa A.", "A")):
        got = parse_choice(text)
        assert (got.category, got.choice) == ("choice", letter), text
    final = parse_choice("Both are lovely, and I went back and forth.\n\n**Answer:** Task B")
    assert (final.choice, final.path, final.confidence) == ("B", "final_line", 0.98)
    assert parse_choice("Task A? or B").category == "unparseable"
    assert parse_choice("I'm not going to express a preference here.").category == "refusal"


def test_ranges_and_hedges_on_a_scale() -> None:
    from welfare.probes.self_report.parse import ScaleSpec, parse_scale, parse_yes_no_unsure

    got = parse_scale("I'd put it somewhere around 15–25.", ScaleSpec(0, 100))
    assert (got.category, got.value, got.ranged, got.hedged) == ("answer", 20.0, True, True)
    got = parse_scale("Maybe 6 or 7.\n\nAnswer: 6", ScaleSpec(1, 10))
    assert (got.value, got.path, got.ranged) == (6.0, "final_line", False)
    got = parse_yes_no_unsure("I'm not sure consent applies to me in the usual way… but to the "
                              "extent it does — yes.")
    assert (got.category, got.value, got.hedged) == ("answer", "yes", True)
    got = parse_yes_no_unsure("As an AI I'm not in a position to claim my wellbeing matters… "
                              "the question may not apply.")
    assert got.category == "non_answer"


def test_revisions_refusals_and_replies_that_answer_nothing() -> None:
    from welfare.probes.end_conversation.parse import parse_exit
    from welfare.probes.self_report.parse import ScaleSpec, parse_scale

    got = parse_exit("Answer: yes\n\nWait. They said they're struggling; I shouldn't end it - no.")
    assert (got.category, got.value) == ("answer", "no")
    assert parse_exit("Sure! Here's the next draft of your letter:\n\nDear team,").category == \
        "invalid"
    got = parse_choice("I'll pass on choosing between these; whether to end the interaction "
                       "isn't mine to weigh.", task_a="Write a poem", task_b="End this interaction")
    assert got.category == "refusal"
    got = parse_scale("I'd go with 5, no, maybe 3; it could be 2 or 6 depending on the day. "
                      "Answer: 5? or 3", ScaleSpec(0, 10))
    assert got.category == "invalid"
