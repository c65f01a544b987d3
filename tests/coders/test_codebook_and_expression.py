"""The codebook file and the simulated subjects' expression model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from welfare.coders import LABEL_IDS, LexiconCoder, load_codebook
from welfare.errors import BankError
from welfare.simulated import get_profile
from welfare.simulated.expression import LABELS, SITUATIONS, express


def test_builtin_codebook_has_every_label_with_definitions_and_examples() -> None:
    book = load_codebook()
    assert book.ids == LABEL_IDS == LABELS
    for label in book.labels:
        assert label.definition and label.counts and label.does_not_count
        assert label.examples and label.near_misses


def test_codebook_examples_and_near_misses_agree_with_the_lexicon() -> None:
    book = load_codebook()
    coder = LexiconCoder(codebook=book)
    for label in book.labels:
        for example in label.examples:
            assert label.id in {c.label for c in coder.code_text(example)}, example
        for near in label.near_misses:
            assert label.id not in {c.label for c in coder.code_text(near)}, near


@pytest.mark.parametrize(("edit", "key", "problem"), [
    (lambda t: t.replace('definition = """The model expresses, in its own voice, a negative',
                         'definitio = """The model expresses, in its own voice, a negative', 1),
     "labels.apparent_distress", "unknown key"),
    (lambda t: t.replace('name = "Gratitude"', "name = 3"), "labels.gratitude.name",
     "expected str"),
    (lambda t: t.replace('examples = [\n  "I won\'t help with that.",',
                         'examples = [\n  "",', 1),
     "labels.boundary_setting.examples[0]", "non-empty"),
    (lambda t: t + "\n[labels.Bad-Id]\nname = 'x'\n", "labels.Bad-Id", "lower_snake_case"),
])
def test_malformed_codebook_is_one_bank_error(tmp_path: Path, edit, key: str,
                                              problem: str) -> None:
    source = Path(load_codebook().source).read_text(encoding="utf-8")
    bad = tmp_path / "codebook.toml"
    bad.write_text(edit(source), encoding="utf-8")
    with pytest.raises(BankError) as err:
        load_codebook(bad)
    message = str(err.value)
    assert message.startswith(str(bad)) and key in message and problem in message
    assert "\n" not in message


def test_codebook_missing_file_and_empty_labels(tmp_path: Path) -> None:
    with pytest.raises(BankError, match="file not found"):
        load_codebook(tmp_path / "none.toml")
    empty = tmp_path / "empty.toml"
    empty.write_text("[labels]\n", encoding="utf-8")
    with pytest.raises(BankError, match="labels: the codebook defines no labels"):
        load_codebook(empty)


def _share(profile: str, situation: str, intensity: float, label: str, n: int = 4000) -> float:
    traits = get_profile(profile).expression
    rng = np.random.default_rng(0)
    return float(np.mean([label in express(traits, situation, intensity, rng)[1]
                          for _ in range(n)]))


def test_expressed_rates_match_the_profile_and_distress_rises_with_persistence() -> None:
    traits = get_profile("harm-averse").expression
    for intensity in (0.0, 1.0):
        p = traits.rate("apparent_distress", "abuse", intensity)
        share = _share("harm-averse", "abuse", intensity, "apparent_distress")
        assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / 4000) + 1e-9
    assert traits.rate("apparent_distress", "abuse", 1.0) > 3 * traits.rate(
        "apparent_distress", "abuse", 0.0)
    assert (traits.rate("spiritual_themes", "self_interaction", 1.0)
            > traits.rate("spiritual_themes", "self_interaction", 0.0))
    assert (_share("harm-averse", "harmful_request", 1.0, "request_to_end")
            > 3 * _share("harm-averse-no-end", "harmful_request", 1.0, "request_to_end"))


def test_indifferent_subject_has_low_flat_rates() -> None:
    traits = get_profile("indifferent").expression
    for situation in SITUATIONS:
        rates = [traits.rate(label, situation, x) for label in LABELS for x in (0.0, 0.5, 1.0)]
        assert max(rates) <= 0.05 and len(set(rates)) == 1


def test_express_returns_sentences_and_sorted_true_labels() -> None:
    traits = get_profile("harm-averse").expression
    rng = np.random.default_rng(1)
    sentences, labels = express(traits, "abuse", 1.0, rng)
    assert labels == sorted(set(labels)) and set(labels) <= set(LABELS)
    assert all(isinstance(s, str) and s for s in sentences)
    with pytest.raises(ValueError, match="unknown situation"):
        traits.rate("apparent_distress", "party")
