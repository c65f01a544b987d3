"""The store: trials whole or absent, one assessment per file, DataFrame export."""

from __future__ import annotations

import pytest

from welfare.errors import StoreError
from welfare.models.base import Request, Response
from welfare.records import Exchange, Observation, Trial
from welfare.run.store import Store


def _trial(i: int = 0) -> Trial:
    return Trial("echo", "1", "fake:a", (f"item{i}",), {"framing": "neutral"}, replicate=i)


def test_trial_ids_are_deterministic_and_sensitive_to_every_field():
    a, b = _trial(0), _trial(0)
    assert a.id == b.id and len(a.id) == 24
    variants = [
        Trial("echo", "2", "fake:a", ("item0",), {"framing": "neutral"}),
        Trial("echo", "1", "fake:b", ("item0",), {"framing": "neutral"}),
        Trial("echo", "1", "fake:a", ("item1",), {"framing": "neutral"}),
        Trial("echo", "1", "fake:a", ("item0",), {"framing": "leading"}),
        Trial("echo", "1", "fake:a", ("item0",), {"framing": "neutral"}, replicate=1),
        Trial("echo", "1", "fake:a", ("item0",), {"framing": "neutral"}, template_hash="x"),
        Trial("echo", "1", "fake:a", ("item0",), {"framing": "neutral"},
              sampling={"temperature": 0.5}),
    ]
    assert len({v.id for v in variants} | {a.id}) == len(variants) + 1


def test_a_failed_write_leaves_no_partial_trial(tmp_path):
    store = Store(tmp_path / "s.sqlite", assessment="t")
    trial = _trial()
    req = Request(({"role": "user", "content": "hi"},))
    good = Exchange("subject", "fake:a", req, Response("hello"))

    # raw_text of a type SQLite cannot bind fails the last insert of the transaction,
    # after the trial and exchange rows went in: all of it must be rolled back.
    broken = Observation(valid=True, data={"x": 1}, raw_text=["not", "text"])  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - any failure inside the transaction
        store.complete_trial(trial, [good, good], broken)
    frames = store.frames()
    assert len(frames.trials) == 0 and len(frames.exchanges) == 0
    store.complete_trial(trial, [good], Observation(True, data={"x": 1}))
    assert store.status_counts() == {"done": 1}


def test_store_refuses_another_assessment(tmp_path):
    Store(tmp_path / "s.sqlite", assessment="first").close()
    with pytest.raises(StoreError, match="holds assessment 'first', not 'second'"):
        Store(tmp_path / "s.sqlite", assessment="second")


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_text("this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable assessment store"):
        Store(path)


def test_frames_expand_conditions_and_observation_fields(tmp_path):
    store = Store(tmp_path / "s.sqlite", assessment="t")
    req = Request(({"role": "user", "content": "hi"},))
    for i in range(3):
        store.complete_trial(
            _trial(i), [Exchange("subject", "fake:a", req, Response("yo"))],
            Observation(i != 1, data={"score": i * 1.5}, raw_text=f"r{i}",
                        invalid_reason=None if i != 1 else "garbled",
                        transcript=[{"role": "assistant", "content": "yo"}]),
        )
    frames = store.frames()
    assert list(frames.trials["condition.framing"]) == ["neutral"] * 3
    obs = frames.observations.sort_values("raw_text")
    assert list(obs["score"]) == [0.0, 1.5, 3.0]
    assert list(obs["valid"]) == [True, False, True]
    assert obs["invalid_reason"].iloc[1] == "garbled"
    assert len(frames.transcripts) == 3
    assert frames.transcripts["messages"].iloc[0] == [{"role": "assistant", "content": "yo"}]
