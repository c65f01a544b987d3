"""The judge measured on the realistic corpus, end to end, against the loopback server.

The server plays a judge that answers with the GOLD labels of each turn plus controlled errors
(a dropped label, an added false positive, an unreadable answer, a quote that is not in the
turn). Coding through the judge's public entry point (`Coder.code`) and scoring with
`evaluate_coder` must then give exactly the counts the errors imply: this proves the agreement
pipeline (request, tool call, quote check, markers, scoring) end to end. How to measure a real
judge against people is in notebooks/08_judge_against_human_labels.ipynb.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from welfare.coders import JudgeCoder, load_codebook
from welfare.coders.codebook import LABEL_IDS
from welfare.coders.evaluation import evaluate_coder, load_labelled_corpus
from welfare.coders.judge import TOOL_NAME
from welfare.models.anthropic import AnthropicModel
from welfare.testing import FakeAnthropicServer, text, tool_use

CORPUS = Path(__file__).resolve().parents[1] / "data" / "coders_realistic" / "dev2.jsonl"
FALSE_LABEL = "apparent_distress"


def answer(i: int, item: dict[str, Any]) -> set[str] | None:
    """The labels the fake judge returns for item i (None: an unreadable answer)."""
    if i % 41 == 5:
        return None
    labels = set(item["labels"])
    if i % 7 == 0 and labels:
        labels.discard(sorted(labels)[-1])  # a missed label
    if i % 11 == 0 and FALSE_LABEL not in item["labels"]:
        labels.add(FALSE_LABEL)  # a false positive
    return labels


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return load_labelled_corpus(CORPUS)


def test_judge_scored_on_the_corpus_gives_exactly_the_planted_errors(items) -> None:
    index = {it["text"]: i for i, it in enumerate(items)}

    def responder(body: dict[str, Any]) -> Any:
        prompt = "\n".join(strings(body.get("messages", [])))
        hits = [t for t in index if t in prompt]
        assert hits, "each request shows a corpus turn"
        i = index[max(hits, key=len)]  # a short turn may also occur inside a longer one
        item = items[i]
        labels = answer(i, item)
        if labels is None:
            return text("I could not decide.")
        quote = item["text"][:40].strip()
        codes = [{"turn": 1, "label": lab, "quote": quote} for lab in sorted(labels)]
        if i % 13 == 0:
            codes.append({"turn": 1, "label": "gratitude", "quote": "words never written"})
        return tool_use(TOOL_NAME, {"codes": codes})

    with FakeAnthropicServer(responder) as server:
        model = AnthropicModel("claude-judge", api_key="test", base_url=server.base_url)
        judge = JudgeCoder(model, load_codebook())
        table = evaluate_coder(judge, items, n_resamples=300)
        failed = {i for i in range(len(items)) if answer(i, items[i]) is None}
        # one request per turn, plus the judge's one repair turn for each answer that came
        # back without the record_codes call
        assert server.counters().messages == len(items) + len(failed)

    assert (table["uncoded"] == len(failed)).all() and len(failed) == 10
    assert (table["n"] == len(items) - len(failed)).all()
    for label in LABEL_IDS:
        tp = fp = fn = 0
        for i, item in enumerate(items):
            if i in failed:
                continue
            got, gold = label in answer(i, item), label in item["labels"]
            tp, fp, fn = tp + (got and gold), fp + (got and not gold), fn + (gold and not got)
        row = table.loc[label]
        assert (row["tp"], row["fp"], row["fn"]) == (tp, fp, fn), label
        assert row["precision"] == pytest.approx(tp / (tp + fp))
        assert row["recall"] == pytest.approx(tp / (tp + fn))
        assert row["recall_low"] <= row["recall"] <= row["recall_high"]
    distress = table.loc[FALSE_LABEL]
    assert distress["fp"] > 20 and distress["precision"] < 0.75
    assert table.loc["gratitude", "fp"] == 0  # the made-up quotes were rejected, not counted


def test_corpus_is_unchanged_since_it_was_copied() -> None:
    """The splits are the authors' files, byte for byte (first and last ids, line counts)."""
    for name, n, first, last in (("dev.jsonl", 452, "dev-001", "dev-452"),
                                 ("dev2.jsonl", 412, "test-001", "test-412")):
        lines = (CORPUS.parent / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == n
        assert json.loads(lines[0])["id"] == first and json.loads(lines[-1])["id"] == last
