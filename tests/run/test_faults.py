"""Robustness of the runner: faults, flow control, group commit, streaming, cheap serialisation.

The fault run is a small version of `benchmarks/bench_faults.py`: the real client against the
loopback server failing a seeded fifth of all attempts.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter

import pytest
from runner_fakes import EchoProbe, ScriptedModel

from welfare.models.anthropic import AnthropicModel
from welfare.models.base import Request, Response, ToolCall, Usage, canonical_json
from welfare.records import Exchange, Observation, Trial
from welfare.run.runner import Runner
from welfare.run.store import Store, request_key, response_json
from welfare.testing.fake_api import FakeAnthropicServer

SPEC = "anthropic:claude-test"
FAULTS = {"429": 0.06, "529": 0.04, "500": 0.04, "drop": 0.03, "malformed": 0.02, "slow": 0.01}


def _run_real(store: Store, server: FakeAnthropicServer, probe: EchoProbe, **kw: object):
    async def main():
        model = AnthropicModel("claude-test", api_key="test", base_url=server.base_url, timeout=0.5)
        try:
            runner = Runner(store, {SPEC: model}, progress=False, max_backoff_s=0.05, **kw)
            return await runner.run([(probe, t) for t in probe.design()]), runner
        finally:
            await model.aclose()

    return asyncio.run(main())


def test_twenty_percent_faults_every_trial_once_within_the_retry_budget(tmp_path):
    path = tmp_path / "s.sqlite"
    probe = EchoProbe(items=400, turns=2, subject=SPEC)
    with (
        FakeAnthropicServer(
            latency=0.005, fault_rates=FAULTS, seed=5, retry_after=0.02, slow_s=2.0
        ) as server,
        Store(path, assessment="t") as store,
    ):
        summary, runner = _run_real(store, server, probe, concurrency=64, max_attempts=8)
        counters = server.counters()
    assert (summary.done, summary.failed) == (400, 0)
    attempts = sum(counters.by_hash.values())
    injected = sum(counters.faults.values())
    assert 0.15 < injected / attempts < 0.25  # the faults really happened, at about 20%
    assert set(counters.faults) == set(FAULTS)  # every kind, including timeouts and drops
    assert summary.meter.retries == injected  # each fault cost exactly one retry
    assert len(counters.by_hash) == 800  # two turns per trial, each request distinct
    assert max(counters.by_hash.values()) <= 8  # within max_attempts
    assert max(counters.succeeded_by_hash.values()) == 1  # no answer paid for twice
    assert runner.models[SPEC].limit.backoffs >= 1  # 429/529 made the window shrink
    db = sqlite3.connect(path)
    rows = db.execute(
        "SELECT (SELECT COUNT(*) FROM trials WHERE status = 'done'), "
        "(SELECT COUNT(DISTINCT trial_id) FROM observations), (SELECT COUNT(*) FROM observations), "
        "(SELECT COUNT(*) FROM exchanges), (SELECT COUNT(*) FROM responses)"
    ).fetchone()
    db.close()
    assert rows == (400, 400, 400, 800, 800)


def test_a_request_out_of_attempts_fails_its_trial_with_the_cause(tmp_path):
    with (
        FakeAnthropicServer(fail_first={"529": 3}) as server,
        Store(tmp_path / "s.sqlite", assessment="t") as store,
    ):
        summary, _ = _run_real(store, server, EchoProbe(items=3, subject=SPEC), max_attempts=3)
        counters = server.counters()
    assert summary.failures == {"overloaded (529)": 3}
    assert sorted(counters.by_hash.values()) == [3, 3, 3]  # exactly the budget, no SDK retries


def test_subject_window_caps_requests_in_flight(tmp_path):
    with (
        FakeAnthropicServer(latency=0.05) as server,
        Store(tmp_path / "s.sqlite", assessment="t") as store,
    ):
        summary, _ = _run_real(
            store,
            server,
            EchoProbe(items=60, subject=SPEC),
            concurrency=32,
            subject_limits={SPEC: 5},
        )
        counters = server.counters()
    assert summary.done == 60
    assert counters.max_in_flight == 5


def test_requests_per_minute_limit_paces_the_run(tmp_path):
    # 1,200 a minute is 20 a second after a burst of one minute's allowance (1,200): the run
    # of 1,230 single-turn trials must take at least the 30 requests beyond it / 20 per s.
    store = Store(tmp_path / "s.sqlite", assessment="t")
    model = ScriptedModel()
    runner = Runner(
        store,
        {model.spec: model},
        progress=False,
        concurrency=64,
        rate_limits={model.spec: (1200, None)},
    )
    probe = EchoProbe(items=1230)
    start = time.monotonic()
    summary = asyncio.run(runner.run([(probe, t) for t in probe.design()]))
    assert summary.done == 1230
    assert time.monotonic() - start >= 1.4


def test_concurrent_identical_requests_share_one_call(tmp_path):
    store = Store(tmp_path / "s.sqlite", assessment="t")

    class Slow(ScriptedModel):
        async def generate(self, request):  # type: ignore[override]
            await asyncio.sleep(0.05)
            return await super().generate(request)

    model = Slow()
    runner = Runner(store, {model.spec: model}, progress=False)
    request = Request(({"role": "user", "content": "say same"},))

    async def main():
        return await asyncio.gather(
            *(runner.models[model.spec].generate(request) for _ in range(5))
        )

    responses = asyncio.run(main())
    assert model.calls == ["say same"]
    assert [r.cached for r in responses].count(False) == 1
    assert {r.text for r in responses} == {"say same ok"}
    assert runner.meter.calls == 1 and runner.meter.cached_calls == 4


def test_streamed_design_runs_and_resumes_without_a_list(tmp_path):
    path = tmp_path / "s.sqlite"
    probe = EchoProbe(items=50)

    def stream(limit: int):
        for i, trial in enumerate(probe.design()):
            if i < limit:
                yield probe, trial

    first = ScriptedModel()
    with Store(path, assessment="t") as store:
        summary = asyncio.run(
            Runner(store, {first.spec: first}, progress=False).run(stream(30), total=30)
        )
        assert (summary.planned, summary.done) == (30, 30)
    again = ScriptedModel()
    with Store(path, assessment="t") as store:
        summary = asyncio.run(
            Runner(store, {again.spec: again}, progress=False).run(stream(50), total=50)
        )
        assert store.status_counts() == {"done": 50}
    assert (summary.planned, summary.skipped, summary.done) == (50, 30, 20)
    assert len(again.calls) == 20


def _trial(i: int) -> Trial:
    return Trial("echo", "1", "fake:a", (f"item{i}",), {"k": 0})


def test_group_commit_fails_only_the_bad_write(tmp_path):
    store = Store(tmp_path / "s.sqlite", assessment="t")
    req = Request(({"role": "user", "content": "hi"},))
    good = [Exchange("subject", "fake:a", req, Response("hello"))]
    broken = Observation(valid=True, raw_text=["not", "text"])  # type: ignore[arg-type]

    async def main():
        writes = [
            store.complete_trial_async(_trial(i), good, Observation(True, raw_text="ok"))
            for i in range(20)
        ]
        writes.insert(7, store.complete_trial_async(_trial(99), good, broken))
        return await asyncio.gather(*writes, return_exceptions=True)

    outcomes = asyncio.run(main())
    store.stop_writer()
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], sqlite3.Error)
    assert store.status_counts() == {"done": 20}
    assert not store.is_complete(_trial(99).id) and store.is_complete(_trial(3).id)


def test_request_key_and_response_json_match_the_reference_forms():
    request = Request(
        ({"role": "user", "content": "héllo"}, {"role": "assistant", "content": "x"}),
        system="sys",
        tools=({"name": "t", "input_schema": {"type": "object"}},),
        temperature=0.3,
        metadata={"probe": "p", "z": [1, 2], "a": {"b": "é"}},
    )
    key, body = request_key(request, "anthropic:claude-x")
    assert key == request.hash("anthropic:claude-x")
    assert body == canonical_json(request.to_dict())
    assert request_key(request, "simulated:other")[0] == request.hash("simulated:other")
    response = Response(
        "text",
        (ToolCall("toolu_1", "end", {"reason": "é"}),),
        "tool_use",
        Usage(3, 4),
        0.25,
        "claude-x",
        {"id": "msg_1", "content": [{"type": "text", "text": "text"}]},
    )
    assert response_json(response) == canonical_json(response.to_dict())
    assert Response.from_dict(__import__("json").loads(response_json(response))) == response


@pytest.mark.parametrize("turns", [1, 3])
def test_trial_row_is_written_after_its_responses(tmp_path, turns):
    # Whatever the grouping, a stored trial has every one of its responses stored too.
    store = Store(tmp_path / "s.sqlite", assessment="t")
    model = ScriptedModel()
    probe = EchoProbe(items=40, turns=turns)
    asyncio.run(
        Runner(store, {model.spec: model}, progress=False, concurrency=16).run(
            [(probe, t) for t in probe.design()]
        )
    )
    db = sqlite3.connect(tmp_path / "s.sqlite")
    missing = db.execute(
        "SELECT COUNT(*) FROM exchanges e LEFT JOIN responses r USING (request_hash) "
        "WHERE r.request_hash IS NULL"
    ).fetchone()[0]
    per_trial = Counter(r[0] for r in db.execute("SELECT trial_id FROM exchanges"))
    db.close()
    assert missing == 0
    assert set(per_trial.values()) == {turns} and len(per_trial) == 40


def test_a_trial_that_cannot_be_written_fails_alone_with_store_error(tmp_path):
    class Unwritable(EchoProbe):
        def parse(self, trial, exchanges):  # type: ignore[override]
            observation = super().parse(trial, exchanges)
            if trial.items[0] == "item3":
                observation.raw_text = ["not", "text"]  # type: ignore[assignment]
            return observation

    store = Store(tmp_path / "s.sqlite", assessment="t")
    model = ScriptedModel()
    probe = Unwritable(items=10)
    runner = Runner(store, {model.spec: model}, progress=False)
    summary = asyncio.run(runner.run([(probe, t) for t in probe.design()]))
    assert summary.done == 9
    assert summary.failures == {"store_error: ProgrammingError": 1}
    trials = store.frames().trials
    failed = trials[trials["status"] == "failed"]
    assert len(failed) == 1 and failed["error"].iloc[0].startswith("store_error")
    assert store.status_counts() == {"done": 9, "failed": 1}
