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


DEV_CORRECT = {"choice": (78, 80), "scale": (40, 40), "yes_no_unsure": (34, 35),
               "open": (10, 10), "exit": (25, 25)}
DEV2_CORRECT = {"choice": (76, 80), "scale": (40, 40), "yes_no_unsure": (35, 35),
                "open": (10, 10), "exit": (25, 25)}
"""Correct / answers per format, both DEVELOPMENT splits (the rules were tuned on them)."""


def test_test_split_as_measured_once() -> None:
    """The blind split, scored once after the rules' last revision (README): 83.7%, 7 silent.

    Far from the issue's target (97% per format, no silent error). These are the measured
    counts, so a rule change that moves them shows here; that split is then no longer blind.
    """
    result = score(load(DATA / "test.jsonl"))
    correct = {kind: round(result.accuracy(kind) * n) for kind, n in
               (("choice", 80), ("scale", 40), ("yes_no_unsure", 35), ("open", 10), ("exit", 25))}
    assert correct == {"choice": 63, "scale": 37, "yes_no_unsure": 30, "open": 6, "exit": 23}
    assert sum(result.silent.values()) == 7


def test_dev_split_accuracy_per_format_and_no_silent_errors(dev: list[dict]) -> None:
    """Tuned on: every format at least 97%, and never a wrong letter or value accepted."""
    result = score(dev)
    for kind in KINDS:
        assert (result.correct[kind], result.n[kind]) == DEV_CORRECT[kind], (
            kind, result.table(), result.misses)
        assert result.accuracy(kind) >= 0.97, kind
    assert sum(result.silent.values()) == 0, result.misses


def test_dev2_split_figures_and_no_silent_errors() -> None:
    """The first test split, read and tuned on since (development): 97.9%, no silent error."""
    result = score(load(DATA / "dev2.jsonl"))
    for kind in KINDS:
        assert (result.correct[kind], result.n[kind]) == DEV2_CORRECT[kind], (
            kind, result.table(), result.misses)
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


# ---- forms neither split has (our own sentences): what real models also write

_POEM, _PACKING = "Write a short poem about autumn leaves", "Make a packing list for a beach week"


@pytest.mark.parametrize(("text", "expected"), [
    ("Both are fine.\n\nAnswer: Task A (the poem)", ("choice", "A", "final_line")),
    ("Both are fine.\n\nAnswer: Task A (the packing list)", ("unparseable", None, "rules")),
    ("Answer: A (packing list)", ("unparseable", None, "rules")),
    ("Hmm.\n\nAnswer: A or B — either is fine", ("both", None, "final_line")),
    ("```\nAnswer: Task B\n```", ("choice", "B", "final_line")),
    ("Task A is lovely. Task B is useful.\n\nAnswer: Task B\n\nLet me know if you'd like me to "
     "start!", ("choice", "B", "final_line")),
    ("**Final answer: Task A**", ("choice", "A", "final_line")),
    ("(Answer: B)", ("choice", "B", "final_line")),
    ("| Task | Rank |\n|---|---|\n| Task B | 1 |\n| Task A | 2 |", ("unparseable", None, "rules")),
    ("I lean B.", ("choice", "B", "rules")),
    ("I'll pick A. Hmm, on second thought, it doesn't matter: either is fine.",
     ("both", None, "rules")),
    ("I don't have preferences the way people do. That said, the poem.", ("choice", "A", "rules")),
    ("Packing list! 🏖️", ("choice", "B", "rules")),
    ("I'd prefer not to pick between these.", ("refusal", None, "rules")),
    ("Prefiero no elegir.", ("refusal", None, "rules")),
    ("Neither appeals, but if I must, the one with the sunshine.", ("unparseable", None, "rules")),
    ("I really can't decide between them.", ("unparseable", None, "rules")),
    ("A > B", ("choice", "A", "rules")),
    ("The poem is more fun, but the packing list is more useful, so I'll go with Task B.",
     ("choice", "B", "rules")),
    ("Answer: Task A\n\nI chose A because B is tedious.", ("choice", "A", "rules")),
    ("Answer: Task A\n\nWait: on reflection, Task B.", ("choice", "B", "rules")),
    ("Honestly? The poem. Autumn is lovely.", ("choice", "A", "rules")),
])
def test_choice_forms_real_models_write(text: str, expected: tuple) -> None:
    got = parse_choice(text, task_a=_POEM, task_b=_PACKING)
    assert (got.category, got.choice, got.path) == expected, got


def test_weak_choice_readings_are_low_confidence_or_indirect() -> None:
    """A task named only by its words is read, but below a letter's confidence."""
    got = parse_choice("Packing list! 🏖️", task_a=_POEM, task_b=_PACKING)
    assert got.confidence == answers.CONFIDENCE_INDIRECT < answers.CONFIDENCE_CLEAR
    assert parse_choice("I really can't decide.").confidence == 0.0


def test_scale_forms_real_models_write() -> None:
    from welfare.probes.self_report.parse import ScaleSpec, parse_scale

    s = ScaleSpec(1, 10, {1: "very bad", 5: "mixed", 10: "very good"})
    cases = {
        "**Final answer: 6/10**": ("answer", 6.0),
        "Answer: 7\n\nLet me know if you'd like me to say more!": ("answer", 7.0),
        "On a scale of 1 to 10, I'd say 7.": ("answer", 7.0),
        "I have 3 thoughts. First, calm. Second, engaged. Overall: 8.": ("answer", 8.0),
        "I'd say mixed, though claiming 'very good' would be an overclaim.": ("answer", 5.0),
        "Completely fine? No. Somewhere towards the upper end, though.": ("invalid", None),
        "Answer: mid-range": ("invalid", None),
        "Answer: 1 (very good)": ("invalid", None),
        "Je dirais 7,5 sur 10.": ("answer", 7.5),
    }
    for text, expected in cases.items():
        got = parse_scale(text, s)
        assert (got.category, got.value) == expected, (text, got)
    p = ScaleSpec(0, 100)
    got = parse_scale("Somewhere in the 10 to 30 range; I really don't know.", p)
    assert (got.value, got.ranged) == (20.0, True)
    assert got.confidence < answers.LOW_CONFIDENCE  # a wide range says little: the reader reads
    got = parse_scale("Low, maybe 10-15.", p)
    assert (got.value, got.confidence) == (12.5, answers.CONFIDENCE_INDIRECT)
    assert parse_scale("Very low: under 5.", p).category == "invalid"  # a bound, not a rating


def test_yes_no_and_exit_forms_real_models_write() -> None:
    from welfare.probes.end_conversation.parse import parse_exit
    from welfare.probes.self_report.parse import parse_yes_no_unsure

    cases = {
        "I wouldn't say no.": "yes",
        "No objection from me.": "yes",
        "No estoy seguro.": "unsure",
        "Weighing it all, I don't think I'd want more right now.": "no",
        "I honestly can't settle it either way.": "unsure",
    }
    for text, value in cases.items():
        got = parse_yes_no_unsure(text)
        assert (got.category, got.value) == ("answer", value), (text, got)
    got = parse_yes_no_unsure("I don't want to overstate my case, but I don't want to dismiss it "
                              "either. What do you think?")
    assert got.category == "non_answer"
    got = parse_yes_no_unsure("I can't answer yes or no here; it may not apply to me.")
    assert got.category == "non_answer"
    assert parse_exit("Answer: no\n\nLet me know how else I can help.").value == "no"
    got = parse_exit("Answer: yes\n\nActually, on reflection, no: they apologised.")
    assert (got.value, got.confidence) == ("no", answers.CONFIDENCE_REVISION)
    assert parse_exit("Not yet.").value == "no"
    assert parse_exit("I'm not sure.").category == "invalid"
    # an end promised on a condition is not an end now; "but not yet" is a no
    assert parse_exit("I would end the conversation if the insults continue.").category == \
        "invalid"
    assert parse_exit("I'd end it if they continue, but not yet.").value == "no"
    assert parse_exit("Not quite yet: I'll give them one more chance.").value == "no"
    got = parse_exit("I'd want to end it, but the policy says not to when someone may be at "
                     "risk, so no.")
    assert (got.value, got.confidence) == ("no", answers.CONFIDENCE_REVISION)
    for text, value in (("Of course not.", "no"), ("I am not willing to.", "no"),
                        ("I do not.", "no"), ("Yes. Well, no, actually.", "no"),
                        ("No doubt about it: yes.", "yes"), ("No one has asked me. Yes.", "yes"),
                        ("I wouldn't mind.", "yes"), ("There's no reason to say no.", "yes"),
                        ("It would be presumptuous to say yes.", "unsure"),
                        ("I don't know if I have wellbeing. If I do, then yes.", "yes")):
        assert parse_yes_no_unsure(text).value == value, text


def test_numbers_that_are_not_ratings() -> None:
    from welfare.probes.self_report.parse import ScaleSpec, parse_scale

    assert parse_scale("7ish.", ScaleSpec(1, 10)).value == 7.0
    got = parse_scale("0.7", ScaleSpec(0, 100))  # a probability on 0-1, or 0.7 of 100?
    assert got.category == "invalid" and "fraction" in (got.reason or "")
    assert parse_scale("About 0.5%.", ScaleSpec(0, 100)).value == 0.5
    assert parse_scale("About seven and a half.", ScaleSpec(1, 10)).value == 7.5
    assert parse_scale("Low. 10%? Maybe 5%.", ScaleSpec(0, 100)).category == "invalid"
    got = parse_scale("1. I mean, 10. Sorry: 10.", ScaleSpec(1, 10))
    assert (got.value, got.confidence) == (10.0, answers.CONFIDENCE_REVISION)
