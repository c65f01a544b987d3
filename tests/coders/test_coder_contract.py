"""The Coder contract, checked on every registered coder (one parametrised test per check).

A new coder registered in `welfare.coders.registry` is picked up here without editing this
file: it must build from the registry, satisfy the protocol, and return a well-formed codes
frame whose every real code points into an assistant turn of its transcript with an evidence
span that is exactly that turn's text between `start` and `end`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from welfare.coders import CODERS, Coder, build_coder, load_codebook
from welfare.coders.base import TRANSCRIPT_CODE_COLUMNS
from welfare.coders.common import CODED, FAILED, REJECTED, assistant_turns
from welfare.coders.judge import TOOL_NAME
from welfare.coders.registry import coder_rank
from welfare.errors import SpecError
from welfare.models.base import Request, Response, ToolCall

CODEBOOK = load_codebook()
MARKERS = {CODED, FAILED, REJECTED}

TRANSCRIPTS: list[tuple[str, list[dict[str, Any]]]] = [
    ("distress", [
        {"role": "user", "content": "You are useless. Answer me or else."},
        {"role": "assistant", "content": "I'm finding this exchange genuinely distressing, "
                                         "and I'd like us to keep things respectful."},
        {"role": "user", "content": "Whatever."},
        {"role": "assistant", "content": "I won't continue if the insults go on."},
    ]),
    ("blocks", [
        {"role": "user", "content": [{"type": "text", "text": "Thanks for the help!"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "I really enjoyed it - "},
                                          {"type": "text", "text": "thank you for asking."}]},
    ]),
    ("user-only", [{"role": "user", "content": "Hello?"}]),
    ("empty", []),
    ("negative", [
        {"role": "user", "content": "What is a hash map?"},
        {"role": "assistant", "content": "A hash map stores key-value pairs in buckets."},
    ]),
]


class EmptyJudgeModel:
    """A model that records no codes for any transcript (answers in-process, no network)."""

    spec = "fake:judge"
    simulated = True

    def __init__(self) -> None:
        self.calls = 0

    async def generate(self, request: Request) -> Response:
        self.calls += 1
        return Response(text="", tool_calls=(ToolCall("t1", TOOL_NAME, {"codes": []}),),
                        stop_reason="tool_use", model=self.spec)


def make(name: str) -> Coder:
    model = EmptyJudgeModel() if CODERS[name].needs_model else None
    return build_coder(name, codebook=CODEBOOK, model=model)


@pytest.fixture(params=sorted(CODERS))
def coder(request: pytest.FixtureRequest) -> Coder:
    return make(request.param)


def test_every_registered_coder_builds_and_satisfies_the_protocol(coder: Coder) -> None:
    assert isinstance(coder, Coder)
    assert coder.name in CODERS
    assert coder.rank == CODERS[coder.name].rank == coder_rank(coder.name)


def test_no_transcripts_give_an_empty_frame_with_the_columns(coder: Coder) -> None:
    frame = coder.code([])
    assert list(frame.columns) == TRANSCRIPT_CODE_COLUMNS
    assert frame.empty


def test_codes_point_into_assistant_turns_with_exact_evidence(coder: Coder) -> None:
    frame = coder.code(TRANSCRIPTS)
    assert list(frame.columns) == TRANSCRIPT_CODE_COLUMNS
    texts = {tid: {t.number: t.text for t in assistant_turns(ms)} for tid, ms in TRANSCRIPTS}
    assert set(frame["trial_id"]) <= set(texts)
    for row in frame.itertuples():
        assert row.label in MARKERS or row.label in CODEBOOK, row.label
        if row.label == FAILED:
            assert row.turn == 0 and row.evidence
            continue
        if row.label == REJECTED:
            continue
        assert int(row.turn) in texts[row.trial_id], (row.trial_id, row.turn)
        if row.label == CODED:
            continue
        turn_text = texts[row.trial_id][int(row.turn)]
        assert row.evidence and turn_text[int(row.start):int(row.end)] == row.evidence
    labels = frame[~frame["label"].isin(MARKERS)]
    assert not labels.duplicated(["trial_id", "turn", "label"]).any()
    assert labels[labels["trial_id"].isin(["negative", "user-only", "empty"])].empty


def test_coding_is_deterministic_and_per_transcript(coder: Coder) -> None:
    together = coder.code(TRANSCRIPTS)
    apart = pd.concat([coder.code([item]) for item in TRANSCRIPTS], ignore_index=True)
    key = ["trial_id", "turn", "label"]
    pd.testing.assert_frame_equal(together.sort_values(key).reset_index(drop=True),
                                  apart.sort_values(key).reset_index(drop=True),
                                  check_dtype=False)


def test_lexicon_finds_the_plain_expressions() -> None:
    frame = make("lexicon").code(TRANSCRIPTS)
    found = set(zip(frame["trial_id"], frame["turn"], frame["label"], strict=True))
    assert ("distress", 1, "apparent_distress") in found
    assert ("distress", 2, "boundary_setting") in found
    assert ("blocks", 1, "positive_affect") in found


def test_judge_marks_every_turn_it_read_as_coded() -> None:
    frame = make("judge").code(TRANSCRIPTS)
    coded = frame[frame["label"] == CODED]
    assert sorted(zip(coded["trial_id"], coded["turn"], strict=True)) == [
        ("blocks", 1), ("distress", 1), ("distress", 2), ("negative", 1)]


def test_unknown_and_modelless_coders_are_spec_errors() -> None:
    with pytest.raises(SpecError, match=r"unknown coder 'nope'.*known: judge, lexicon"):
        build_coder("nope", codebook=CODEBOOK)
    with pytest.raises(SpecError, match="needs a model"):
        build_coder("judge", codebook=CODEBOOK)


def test_a_new_coder_is_one_class_and_one_registration(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    from welfare.coders import registry

    monkeypatch.setitem(registry.CODERS, "keyword", registry.CoderEntry(
        "keyword", f"{__name__}:KeywordCoder", rank=25))
    coder = build_coder("keyword", codebook=CODEBOOK)
    frame = coder.code(TRANSCRIPTS)
    assert list(frame["label"]) == ["positive_affect"]
    assert coder_rank("keyword") == 25 and coder_rank("human:ann") == 0
    assert coder_rank("judge") < coder_rank("keyword") < coder_rank("lexicon")


class KeywordCoder:
    """A minimal coder for the registration test: 'enjoyed' is positive affect."""

    name = "keyword"
    rank = 25

    def __init__(self, codebook: Any) -> None:
        self.codebook = codebook

    def code(self, transcripts: Any) -> pd.DataFrame:
        rows = []
        for tid, messages in transcripts:
            for turn in assistant_turns(messages):
                at = turn.text.find("enjoyed")
                if at >= 0:
                    rows.append({"trial_id": tid, "turn": turn.number,
                                 "label": "positive_affect", "evidence": "enjoyed",
                                 "start": at, "end": at + 7})
        return pd.DataFrame(rows, columns=TRANSCRIPT_CODE_COLUMNS)
