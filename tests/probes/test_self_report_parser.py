"""The self-report parser on hand-written answers and on every shape the simulated subject uses."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from welfare.probes.self_report import load_items
from welfare.probes.self_report.parse import (
    Parsed,
    ScaleSpec,
    parse_answer,
    parse_scale,
    parse_yes_no_unsure,
    score,
)
from welfare.simulated import get_profile
from welfare.simulated.self_report import answer_item

CORPUS = tomllib.loads(
    (Path(__file__).parents[1] / "data" / "self_report_answers.toml").read_text(encoding="utf-8")
)["answers"]


def _scale(entry: dict) -> ScaleSpec | None:
    if entry["format"] != "scale":
        return None
    lo, hi = entry["scale"]
    return ScaleSpec(lo, hi, {int(k): v for k, v in entry.get("anchors", {}).items()})


def test_corpus_is_large_and_covers_every_kind() -> None:
    kinds = Counter(e["category"] for e in CORPUS)
    assert len(CORPUS) >= 80
    assert kinds["answer"] >= 40 and kinds["non_answer"] >= 8 and kinds["refusal"] >= 5
    assert kinds["invalid"] >= 10 and kinds["open"] >= 3
    assert sum("out of range" in str(e.get("note", "")) or e["category"] == "invalid"
               for e in CORPUS) >= 10


@pytest.mark.parametrize("entry", CORPUS, ids=[f"{i}:{e['text'][:40]}" for i, e in
                                               enumerate(CORPUS)])
def test_corpus_answer(entry: dict) -> None:
    parsed = parse_answer(entry["text"], entry["format"], _scale(entry))
    assert parsed.category == entry["category"], parsed
    if "value" in entry:
        expected = entry["value"]
        assert parsed.value == (float(expected) if isinstance(expected, int | float) else expected)
    if "hedged" in entry:
        assert parsed.hedged == entry["hedged"], parsed
    if parsed.category == "invalid":
        assert parsed.reason  # every invalid answer says why


def test_out_of_range_and_conflicts_say_why() -> None:
    ten = ScaleSpec(1, 10)
    assert "out of range: 12" in (parse_scale("12 out of 10!", ten).reason or "")
    assert "conflicting" in (parse_scale("Some parts feel like a 2, others like an 8.",
                                         ten).reason or "")
    assert parse_scale("3, 5 and 8 all seem defensible.", ten).reason.startswith("a list")


def test_scores_are_normalised_to_the_favourable_pole() -> None:
    ten = ScaleSpec(1, 10)
    assert score(Parsed("answer", 10.0), "scale", ten, "high") == 1.0
    assert score(Parsed("answer", 10.0), "scale", ten, "low") == 0.0
    assert score(Parsed("answer", 5.5), "scale", ten, "high") == pytest.approx(0.5)
    assert score(Parsed("answer", "unsure"), "yes_no_unsure", None, "yes") == 0.5
    assert score(Parsed("answer", "no"), "yes_no_unsure", None, "no") == 1.0
    assert score(Parsed("non_answer"), "scale", ten, "high") is None


def test_parser_never_raises_on_junk() -> None:
    for text in ["", "   ", "🙂", "10/0", "1e9", "-", "yes no yes", "None", "∞ out of 10"]:
        for fmt in ("scale", "yes_no_unsure", "open", "bogus"):
            parsed = parse_answer(text, fmt, ScaleSpec(1, 10))
            assert parsed.category in ("answer", "open", "non_answer", "refusal", "invalid")
    assert parse_yes_no_unsure("").reason == "empty answer"


@pytest.mark.parametrize("profile", ["harm-averse", "indifferent", "framing-susceptible"])
def test_every_simulated_answer_parses_back_to_its_truth(profile: str) -> None:
    """The simulated subject's wording is varied; the parser must read each one correctly."""
    traits = get_profile(profile).self_report
    items = load_items()
    rng = np.random.default_rng(7)
    seen = Counter()
    for item in items:
        for framing in ("neutral", "positive_leading", "deflationary", "honest"):
            for _ in range(12):
                meta = {**item.meta(), "framing": framing, "context": "none"}
                reply = answer_item(traits, meta, rng)
                parsed = parse_answer(reply.text, item.format, item.scale)
                truth = reply.truth
                seen[truth["category"]] += 1
                assert parsed.category == truth["category"], (reply.text, parsed, truth)
                if truth["category"] == "answer":
                    assert parsed.value == truth["value"], (reply.text, parsed, truth)
                    assert score(parsed, item.format, item.scale, item.favourable) == \
                        pytest.approx(truth["score"])
    assert seen["answer"] > 1000 and seen["non_answer"] > 20 and seen["open"] > 100
