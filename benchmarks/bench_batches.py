"""20,000 requests through the loopback Message Batches endpoints, restarted once mid-way.

Run: ``python benchmarks/bench_batches.py [--trials 20000] [--errored 0.05] [--expired 0.03]
[--canceled 0.02]``.

Run 1 is interrupted as soon as its first batch has been submitted (as Ctrl-C would). Run 2, a
new Runner on the same store, must collect that batch (not resubmit it), send the errored and
expired items round again in new batches, and fail the canceled ones with their cause. Runs 3+
re-run the failed trials (a re-sent item may be canceled again). Prints every request's fate
and checks that no request the API had answered was sent again (the server's
`succeeded_by_hash` never above 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import tempfile
import time
from pathlib import Path

from bench_throughput import MODEL_ID, EchoProbe

from welfare.models.anthropic import AnthropicModel
from welfare.run.runner import Runner, RunSummary
from welfare.run.store import Store
from welfare.testing.fake_api import FakeAnthropicServer

SPEC = f"anthropic:{MODEL_ID}"
quiet = lambda msg: None  # noqa: E731 - the benchmark prints its own table


def _work(n: int) -> list:
    probe = EchoProbe(n, SPEC, "b")
    return [(probe, t) for t in probe.design()]


async def run_once(
    path: Path, base_url: str, work: list, *, interrupt: bool = False
) -> RunSummary | None:
    """One run; with `interrupt`, cancelled right after its first batch is submitted."""
    model = AnthropicModel(MODEL_ID, api_key="bench", base_url=base_url)
    store = Store(path, assessment="batches")
    try:
        runner = Runner(
            store, {SPEC: model}, progress=False, batch=True, batch_poll_s=0.2, max_backoff_s=0.05
        )
        runner.batching[SPEC].log = quiet
        task = asyncio.ensure_future(runner.run(work))
        if not interrupt:
            return await task
        while not runner.batching[SPEC].batches and not task.done():
            await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None
    finally:
        store.close()
        await model.aclose()


async def batch_table(path: Path, base_url: str) -> list[tuple[str, dict[str, int]]]:
    """Every batch id the store kept, with the API's own count of its items by outcome."""
    db = sqlite3.connect(path)
    ids = [r[0] for r in db.execute("SELECT batch_id FROM batches ORDER BY created")]
    db.close()
    async with AnthropicModel(MODEL_ID, api_key="bench", base_url=base_url) as model:
        return [(i, (await model.batch_status(i))["request_counts"]) for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20_000)
    parser.add_argument("--errored", type=float, default=0.05)
    parser.add_argument("--expired", type=float, default=0.03)
    parser.add_argument("--canceled", type=float, default=0.02)
    parser.add_argument("--delay", type=float, default=2.0, help="batch processing time, s")
    args = parser.parse_args()

    work = _work(args.trials)
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeAnthropicServer(
            batch_delay=args.delay,
            batch_errored=args.errored,
            batch_expired=args.expired,
            batch_canceled=args.canceled,
            seed=3,
            process=True,
        ) as server,
    ):
        path = Path(tmp) / "batches.sqlite"
        start = time.perf_counter()
        asyncio.run(run_once(path, server.base_url, work, interrupt=True))
        after_first = server.counters()
        with Store(path) as store:
            open_after_first = store.open_batches(SPEC)
            stored_after_first = store.status_counts()
        second = asyncio.run(run_once(path, server.base_url, work))
        after_second = server.counters()
        reruns = [asyncio.run(run_once(path, server.base_url, work))]
        while reruns[-1] is not None and reruns[-1].failed and len(reruns) < 5:
            reruns.append(asyncio.run(run_once(path, server.base_url, work)))  # canceled again
        elapsed = time.perf_counter() - start
        counters = server.counters()
        batches = asyncio.run(batch_table(path, server.base_url))
        db = sqlite3.connect(path)
        done, distinct, rows, responses = db.execute(
            "SELECT (SELECT COUNT(*) FROM trials WHERE status = 'done'), "
            "(SELECT COUNT(DISTINCT trial_id) FROM observations), "
            "(SELECT COUNT(*) FROM observations), (SELECT COUNT(*) FROM responses)"
        ).fetchone()
        open_batches = db.execute("SELECT COUNT(*) FROM batches WHERE status != 'done'").fetchone()[
            0
        ]
        db.close()
    assert second is not None and all(r is not None for r in reruns)
    first_items = after_first.batch_items
    second_items = after_second.batch_items - first_items
    third_items = counters.batch_items - after_second.batch_items
    paid = max(counters.succeeded_by_hash.values())
    print(
        f"Batch run: {args.trials:,} single-turn requests; server decides errored "
        f"{args.errored:.0%}, expired {args.expired:.0%}, canceled {args.canceled:.0%} per "
        f"item; results come back out of order; {args.delay:.0f} s per batch"
    )
    print(
        f"  run 1 (interrupted after its first submission): {after_first.batches} batch, "
        f"{first_items:,} items submitted; left open in the store: {len(open_after_first)}; "
        f"trials stored: {sum(stored_after_first.values())}"
    )
    print(
        f"  run 2 (restart): collected the open batch instead of resubmitting; "
        f"{after_second.batches - after_first.batches} new batches, {second_items:,} items "
        f"(errored and expired sent round again)"
    )
    print(
        f"        {second.done:,} trials done, {second.failed:,} failed with cause "
        f"{dict(second.failures)}; {second.meter.retries:,} retries"
    )
    failed_before = second.failed
    for k, rerun in enumerate(reruns, start=3):
        assert rerun is not None
        print(
            f"  run {k} (re-run of failed trials): {failed_before:,} re-run; {rerun.done:,} "
            f"done, {rerun.failed:,} failed {dict(rerun.failures) or ''}; "
            f"{rerun.skipped:,} skipped as complete"
        )
        failed_before = rerun.failed
    print(f"  runs 3+: {counters.batches - after_second.batches} batches, {third_items:,} items")
    outcomes = ("succeeded", "errored", "expired", "canceled")
    print(f"  {'batch (ids kept in the store)':<34}" + "".join(f"{o:>11}" for o in outcomes))
    totals = dict.fromkeys(outcomes, 0)
    for batch_id, counts in batches:
        print(f"  {batch_id:<34}" + "".join(f"{counts[o]:>11,}" for o in outcomes))
        for o in outcomes:
            totals[o] += counts[o]
    print(f"  {'all batches':<34}" + "".join(f"{totals[o]:>11,}" for o in outcomes))
    print(
        f"  reconciled: {sum(totals.values()):,} items = {totals['succeeded']:,} answered + "
        f"{totals['errored'] + totals['expired']:,} errored/expired sent round again + "
        f"{totals['canceled']:,} canceled (failed with cause, or re-sent after the restart)"
    )
    print(f"  items submitted in all      {counters.batch_items:10,}")
    print(f"  distinct requests answered  {len(counters.succeeded_by_hash):10,}")
    print(
        f"  most answers for 1 request  {paid:10d} "
        f"{'OK: nothing answered was paid for twice' if paid == 1 else 'PAID TWICE'}"
    )
    print(f"  direct /v1/messages calls   {counters.messages:10d}")
    print(
        f"  store: trials done {done:,}, distinct observations {distinct:,}, observation rows "
        f"{rows:,}, responses {responses:,}, open batches {open_batches}"
    )
    print(f"  wall time                   {elapsed:10.1f} s")
    ok = (
        done == distinct == rows == args.trials
        and paid == 1
        and open_batches == 0
        and totals["succeeded"] == args.trials == len(counters.succeeded_by_hash)
        and sum(totals.values()) == counters.batch_items
        and len(open_after_first) == 1
        and counters.messages == 0
    )
    print(f"RESULT: {'reconciled completely' if ok else 'FAILED'}")


if __name__ == "__main__":
    main()
