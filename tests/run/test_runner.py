"""The runner: trials complete or fail alone, retries honour retry-after, resume pays nothing."""

from __future__ import annotations

import asyncio
import time

from runner_fakes import EchoProbe, ScriptedModel, rate_limited

from welfare.errors import ModelError
from welfare.run.runner import CallingModel, Meter, Runner
from welfare.run.store import Store


def run(store: Store, model: ScriptedModel, probe: EchoProbe, **kw: object):
    runner = Runner(store, {model.spec: model}, progress=False, max_backoff_s=1.0, **kw)
    return asyncio.run(runner.run([(probe, t) for t in probe.design()]))


def test_all_trials_complete_and_are_stored(tmp_path):
    store = Store(tmp_path / "s.sqlite", assessment="t")
    summary = run(store, ScriptedModel(), EchoProbe(items=25))
    assert (summary.done, summary.failed, summary.skipped) == (25, 0, 0)
    frames = store.frames()
    assert len(frames.observations) == 25
    assert frames.observations["valid"].all()
    assert set(frames.observations["k"]) == {0, 1}
    assert summary.meter.tokens.input_tokens == 250


def test_rate_limit_is_retried_after_the_given_delay(tmp_path):
    store = Store(tmp_path / "s.sqlite", assessment="t")
    model = ScriptedModel(errors={"item3": [rate_limited(0.2), rate_limited(0.2)]})
    start = time.monotonic()
    summary = run(store, model, EchoProbe(items=5))
    assert summary.done == 5 and summary.failed == 0
    assert summary.meter.retries == 2
    assert time.monotonic() - start >= 0.4
    assert model.calls.count("say item3 #0") == 3


def test_non_retryable_error_fails_that_trial_alone(tmp_path):
    store = Store(tmp_path / "s.sqlite", assessment="t")
    bad = ModelError("prompt is too long", status=400, kind="bad_request")
    model = ScriptedModel(errors={"item2": [bad]})
    summary = run(store, model, EchoProbe(items=6))
    assert summary.done == 5 and summary.failed == 1
    assert summary.failures == {"bad_request (400)": 1}
    assert model.calls.count("say item2 #0") == 1
    assert "1 failed: bad_request (400) ×1" in summary.closing_line()
    trials = store.frames().trials
    failed = trials[trials["status"] == "failed"]
    assert failed["error"].iloc[0].startswith("bad_request (400): prompt is too long")


def test_retries_stop_at_max_attempts(tmp_path):
    store = Store(tmp_path / "s.sqlite", assessment="t")
    model = ScriptedModel(errors={"item0": [rate_limited(0.0) for _ in range(10)]})
    summary = run(store, model, EchoProbe(items=2), max_attempts=3)
    assert summary.failures == {"rate_limit (429)": 1}
    assert model.calls.count("say item0 #0") == 3


def test_resume_makes_no_model_call_and_retries_failed(tmp_path):
    path = tmp_path / "s.sqlite"
    bad = ModelError("nope", status=400, kind="bad_request")
    first = ScriptedModel(errors={"item1": [bad]})
    with Store(path, assessment="t") as store:
        run(store, first, EchoProbe(items=8))
    second = ScriptedModel()
    with Store(path, assessment="t") as store:
        summary = run(store, second, EchoProbe(items=8))
        assert store.status_counts() == {"done": 8}
    assert summary.skipped == 7 and summary.done == 1
    assert second.calls == ["say item1 #0"]


def test_half_finished_dialogue_is_resumed_from_the_response_cache(tmp_path):
    # Three-turn dialogues; turn 2 of item0 fails hard the first time. Its first two answers
    # were stored as they arrived, so the rerun pays only for the turn that failed.
    path = tmp_path / "s.sqlite"
    bad = ModelError("boom", status=400, kind="bad_request")
    first = ScriptedModel(errors={"item0": [bad]})
    first.errors["item0"] = []
    probe = EchoProbe(items=2, turns=3)

    class FailThirdTurn(ScriptedModel):
        async def generate(self, request):  # type: ignore[override]
            if str(request.messages[-1]["content"]) == "say item0 #2":
                raise bad
            return await super().generate(request)

    with Store(path, assessment="t") as store:
        summary = run(store, FailThirdTurn(), probe)
        assert summary.failed == 1
    again = ScriptedModel()
    with Store(path, assessment="t") as store:
        summary = run(store, again, probe)
        frames = store.frames()
    assert summary.done == 1
    assert again.calls == ["say item0 #2"]
    cached = frames.exchanges[frames.exchanges["cached"] == 1]
    assert len(cached) == 2


def test_calling_model_caches_by_request_hash(tmp_path):
    from welfare.models.base import Request

    store = Store(tmp_path / "s.sqlite")
    inner = ScriptedModel()
    model = CallingModel(inner, store, Meter())
    req = Request(({"role": "user", "content": "say x"},), metadata={"replicate": 0})
    first = asyncio.run(model.generate(req))
    second = asyncio.run(model.generate(req))
    other = asyncio.run(model.generate(Request(req.messages, metadata={"replicate": 1})))
    assert not first.cached and second.cached and not other.cached
    assert second.text == first.text
    assert len(inner.calls) == 2
