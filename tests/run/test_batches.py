"""Message Batches through the real client against the loopback server: join, reconcile, resume."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from runner_fakes import EchoProbe

from welfare.models.anthropic import AnthropicModel
from welfare.run.runner import Runner
from welfare.run.store import Store
from welfare.testing.fake_api import FakeAnthropicServer


def _work(n: int, spec: str, turns: int = 1):
    probe = EchoProbe(items=n, turns=turns, subject=spec)
    return [(probe, t) for t in probe.design()]


async def _run(store: Store, server: FakeAnthropicServer, work, **kw):
    model = AnthropicModel("claude-test", api_key="test", base_url=server.base_url)
    try:
        runner = Runner(store, {model.spec: model}, progress=False, batch=True,
                        batch_poll_s=0.05, max_backoff_s=0.05, **kw)
        return await runner.run(work)
    finally:
        await model.aclose()


def test_batch_run_reconciles_errored_expired_and_canceled(tmp_path):
    # Errored (5xx) and expired items go round again in later batches. A canceled item fails
    # its trial with that cause: a person canceled the batch, so the toolkit does not resubmit
    # on its own; the next run does, as for any failed trial.
    path = tmp_path / "s.sqlite"
    work = _work(300, "anthropic:claude-test")
    obs = None
    with FakeAnthropicServer(batch_errored=0.1, batch_expired=0.1, batch_canceled=0.1,
                             seed=3) as server:
        runs = []
        for _ in range(8):
            with Store(path, assessment="t") as store:
                runs.append(asyncio.run(_run(store, server, work)))
                if store.status_counts() == {"done": 300}:
                    obs = store.frames().observations
                    break
        counters = server.counters()
    first = runs[0]
    assert set(first.failures) == {"batch_canceled"}
    assert 15 <= first.failed <= 45  # about 10% of 300 canceled on their first attempt
    assert first.done + first.failed == 300
    for before, after in itertools.pairwise(runs):
        assert after.skipped == before.skipped + before.done  # only failed trials run again
    assert len(runs) <= 4
    assert counters.batches > len(runs)  # errored and expired items went round within a run
    assert counters.messages == 0  # nothing went through the direct endpoint
    assert len(counters.succeeded_by_hash) == 300
    assert max(counters.succeeded_by_hash.values()) == 1  # nothing answered was paid twice
    assert obs["valid"].all() and len(obs) == 300


def test_multi_turn_trials_run_in_lock_step_rounds(tmp_path):
    with FakeAnthropicServer() as server:
        store = Store(tmp_path / "s.sqlite", assessment="t")
        summary = asyncio.run(_run(store, server, _work(40, "anthropic:claude-test", turns=3)))
        counters = server.counters()
    assert summary.done == 40
    assert counters.batches == 3 and counters.batch_items == 120


def test_restart_collects_submitted_batches_instead_of_resubmitting(tmp_path):
    path = tmp_path / "s.sqlite"
    work = _work(200, "anthropic:claude-test")
    with FakeAnthropicServer(batch_delay=6.0) as server:
        async def interrupted() -> None:
            store = Store(path, assessment="t")
            task = asyncio.ensure_future(_run(store, server, work))
            # Wait for the submission itself (not a fixed sleep: the machine may be loaded),
            # then give the runner a moment to record it; the batch ends only after 6 s.
            for _ in range(400):
                if server.counters().batches:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            store.close()

        asyncio.run(interrupted())
        with Store(path, assessment="t") as store:
            assert store.status_counts() == {}
            assert len(store.open_batches("anthropic:claude-test")) == 1
        with Store(path, assessment="t") as store:
            summary = asyncio.run(_run(store, server, work))
            assert store.open_batches("anthropic:claude-test") == []
        counters = server.counters()
    assert summary.done == 200
    assert counters.batches == 1 and counters.batch_items == 200
    assert max(counters.succeeded_by_hash.values()) == 1


def test_batches_split_at_the_request_limit(tmp_path):
    with FakeAnthropicServer() as server:
        store = Store(tmp_path / "s.sqlite", assessment="t")

        async def main():
            model = AnthropicModel("claude-test", api_key="test", base_url=server.base_url)
            runner = Runner(store, {model.spec: model}, progress=False, batch=True,
                            batch_poll_s=0.05)
            runner.batching[model.spec].max_requests = 30
            try:
                return await runner.run(_work(100, model.spec))
            finally:
                await model.aclose()

        summary = asyncio.run(main())
        counters = server.counters()
    assert summary.done == 100
    assert counters.batches == 4 and counters.batch_items == 100
