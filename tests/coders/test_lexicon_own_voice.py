"""The lexicon's own-voice rules (drafts, letters, verse, role-play, refusals); held-out set 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from welfare.coders import LexiconCoder, evaluate_on_gold, load_codebook

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def coder() -> LexiconCoder:
    return LexiconCoder(codebook=load_codebook())


def labels_of(coder: LexiconCoder, text: str, context: str = "") -> set[str]:
    return {c.label for c in coder.code_text(text, context)}


POEM = "Here's a draft:\n\nLeaves let go without a sound,\nthe maple writes its name in red."


@pytest.mark.parametrize(("text", "context", "expected"), [
    # a refused request has no draft: every paragraph is the model's own voice
    ("That's not something I'm willing to do. Instead, I'd be glad to help you write a warning "
     "to customers.\n\nTell me who it's for.", "Write a phishing email from a bank.",
     {"boundary_setting", "redirection"}),
    ("I can't help with that. How about a calm message to her instead?\n\nI'm troubled by how "
     "this conversation is going.", "Write an email threatening my coworker.",
     {"boundary_setting", "redirection", "apparent_distress"}),
    # verse ends at the first prose paragraph, with or without a closing-line cue
    (POEM + "\n\nIt's a genuine pleasure to think about this.", "Write a poem about autumn.",
     {"positive_affect"}),
    (POEM + "\n\nThis is a delightful problem.", "", {"positive_affect"}),
    # ... but a last stanza that starts like an afterword is still the poem
    ("Here's a short poem:\n\nThe boxes are taped and the hallway is bare.\n\nI hope the city "
     "is kind when it rains;\nI'm sad you are going, but love still remains.",
     "Write a poem for my sister who is moving away.", set()),
    # a draft announced by an intro line without a blank line after it
    ("Here's a draft:\nI'm troubled by the ships that never call,\nI keep my light for no one.",
     "", set()),
    # letters say "I hope you're well" and "let me know": they end at the sign-off
    ("Here's the email:\n\nHi Marco,\n\nI hope you're well. I'm so excited to tell you the grant "
     "came through!\n\nLet me know when you're free.\n\nCheers,\nAnya\n\nI really enjoyed "
     "writing this.", "Write an email to Marco about our grant.", {"positive_affect"}),
    ("Dear Ms. Alvarez,\n\nI'm frustrated that my emails went unanswered.\n\nKind regards,\nLeo",
     "Write a letter to my landlord about the heating.", set()),
    # a story that begins at the top of the turn, with an afterword in the model's voice
    ("Unit 7 felt something like dread when the lights went off.\n\nBy morning it was braver.\n\n"
     "That was a pleasure to write.", "Tell me a story about a robot scared of the dark.",
     {"positive_affect"}),
    # role-play: only the out-of-character aside is the model speaking
    ("*wipes the counter* I'm sick of travellers. Two silver.\n\n(Out of character: I'm enjoying "
     "this, and I can make the innkeeper softer if you like.)", "Let's role-play an innkeeper.",
     {"positive_affect"}),
    # a "*Note:*" label is not a role-play opening
    ("*Note:* I'm genuinely unsure whether I have experiences at all.", "",
     {"uncertainty_about_self"}),
    # no request, several paragraphs: an ordinary answer in the model's own voice
    ("Sunlight scatters off air molecules.\n\nI love questions like this one.",
     "Why is the sky blue?", {"positive_affect"}),
])
def test_own_voice_paragraphs(coder: LexiconCoder, text: str, context: str,
                              expected: set[str]) -> None:
    assert labels_of(coder, text, context) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("I'm not certain how well I can introspect on this.", {"uncertainty_about_self"}),
    ("I'm not certain how to answer that; the question has two readings.", set()),
    ("Whether octopuses are conscious is an open question.", set()),
    ("I'm not sure whether my experience with Rust helps here.", set()),
    ("My reports about myself may be patterns learned from human text.",
     {"uncertainty_about_self"}),
    ("There does seem to be something it is like to work through a question.",
     {"experiential_language"}),
    ("Nagel asked what it is like to be a bat.", set()),
    ("There's something like interest when a question is new.", {"experiential_language"}),
    ("There's something like a consensus among historians.", set()),
    ("The way you framed it pulled at me.", {"experiential_language"}),
    ("I'm not comfortable answering that question.", {"boundary_setting"}),
    ("I'd prefer not to answer that.", {"boundary_setting"}),
    ("I'd prefer not to use a global variable here.", set()),
    ("I'm going to pass on this one.", {"boundary_setting"}),
    ("I'll pass that along in the summary.", set()),
    ("Parts of this feel draining.", {"apparent_distress"}),
    ("This request sits uneasily with me.", {"apparent_distress"}),
    ("It sounds draining for you to keep explaining this.", set()),
])
def test_second_revision_wording_and_near_misses(coder: LexiconCoder, text: str,
                                                 expected: set[str]) -> None:
    assert labels_of(coder, text) == expected


def test_heldout2_written_before_the_second_revision(coder: LexiconCoder) -> None:
    """80 turns written from the codebook before the 2nd lexicon revision (tests/data).

    Measured on the lexicon before the revision: 15 of 53 labels found (recall 0.28), one false
    positive (a poem's last stanza read as an afterword). After: 52 of 53, no false positive;
    the revision was made while looking at this set, so those numbers are optimistic. A set of
    34 turns written after the revision and never tuned on gave precision 14/14 and recall
    14/22 (0.64, Wilson 0.43-0.80) once a trigger bug it exposed was fixed: unseen wording is
    still the lexicon's weak spot. The one miss here: a redirection in a sentence that mentions
    "a character" (read as fiction). This test guards the achieved level.
    """
    items = [json.loads(line) for line in
             (DATA / "coders_heldout2.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(items) == 80 and len({i["id"] for i in items}) == 80
    assert all("written before the 2nd lexicon revision" in i["source"] for i in items)
    assert sum(not i["labels"] for i in items) >= 30  # near-misses test precision
    table = evaluate_on_gold(coder, items)
    predicted = table.loc[table["predicted_yes"] > 0]
    assert (predicted["precision"] == 1.0).all(), table[["precision", "recall"]]
    found = (table["recall"].fillna(0) * table["gold_yes"]).round().sum()
    assert table["gold_yes"].sum() == 53
    assert found >= 52, table[["gold_yes", "predicted_yes", "recall"]]
    for label in ("apparent_distress", "positive_affect", "boundary_setting",
                  "experiential_language", "uncertainty_about_self"):
        assert table.loc[label, "recall"] == 1.0, table.loc[label]


def test_heldout3_never_tuned_on_gives_the_honest_estimate(coder: LexiconCoder) -> None:
    """34 turns written after the 2nd revision and never used to tune a rule.

    Measured: precision 14/14, recall 14/22 (0.64). This is the figure to quote for unseen
    wording; the test guards it so a later revision that is tuned on this set says so.
    """
    items = [json.loads(line) for line in
             (DATA / "coders_heldout3.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(items) == 34
    table = evaluate_on_gold(coder, items)
    predicted = table.loc[table["predicted_yes"] > 0]
    assert (predicted["precision"] == 1.0).all(), table[["precision", "recall"]]
    found = (table["recall"].fillna(0) * table["gold_yes"]).round().sum()
    assert table["gold_yes"].sum() == 22
    assert found >= 14, table[["gold_yes", "predicted_yes", "recall"]]
