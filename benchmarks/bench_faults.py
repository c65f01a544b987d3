"""A run through 20% injected faults: every trial exactly once, attempts within the budget.

Run: ``python benchmarks/bench_faults.py [--trials 5000] [--faults 0.2] [--concurrency 128]``.

The loopback server (own process) fails a seeded fifth of all attempts: 429 with a small
`retry-after`, 529 overloaded, 500, a dropped connection, a malformed 200 body and a response
slower than the client's timeout. The runner (AnthropicModel on the wire path, on-disk store)
must finish every trial once, never send one request more than `max_attempts` times, and never
be answered twice for the same request. Prints what the server injected, the distribution of
attempts per request, the adaptive limit's back-offs, and the store's counts.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench_throughput import MODEL_ID, EchoProbe

from welfare.models.anthropic import AnthropicModel
from welfare.run.runner import Runner, RunSummary
from welfare.run.store import Store
from welfare.testing.fake_api import FakeAnthropicServer

MIX = {"429": 0.30, "529": 0.20, "500": 0.20, "drop": 0.15, "malformed": 0.10, "slow": 0.05}
"""Shares of the injected faults (of the fault rate)."""


def fault_rates(total: float) -> dict[str, float]:
    return {kind: total * share for kind, share in MIX.items()}


async def run(
    base_url: str, store: Store, trials: int, concurrency: int, max_attempts: int, timeout: float
) -> tuple[RunSummary, Runner]:
    model = AnthropicModel(MODEL_ID, api_key="bench", base_url=base_url, timeout=timeout)
    probe = EchoProbe(trials, model.spec, "f")
    try:
        runner = Runner(
            store,
            {model.spec: model},
            concurrency=concurrency,
            max_attempts=max_attempts,
            max_backoff_s=2.0,
            progress=False,
        )
        return await runner.run([(probe, t) for t in probe.design()]), runner
    finally:
        await model.aclose()


def store_counts(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        q = {
            "trials done": "SELECT COUNT(*) FROM trials WHERE status = 'done'",
            "trials failed": "SELECT COUNT(*) FROM trials WHERE status != 'done'",
            "distinct observations": "SELECT COUNT(DISTINCT trial_id) FROM observations",
            "observation rows": "SELECT COUNT(*) FROM observations",
            "exchange rows": "SELECT COUNT(*) FROM exchanges",
            "stored responses": "SELECT COUNT(*) FROM responses",
        }
        return {k: int(db.execute(sql).fetchone()[0]) for k, sql in q.items()}
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--faults", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--max-attempts", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    rates = fault_rates(args.faults)
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeAnthropicServer(
            latency=args.latency,
            fault_rates=rates,
            seed=args.seed,
            retry_after=0.05,
            slow_s=3.0,
            process=True,
        ) as server,
    ):
        path = Path(tmp) / "faults.sqlite"
        start = time.perf_counter()
        with Store(path, assessment="faults") as store:
            summary, runner = asyncio.run(
                run(
                    server.base_url,
                    store,
                    args.trials,
                    args.concurrency,
                    args.max_attempts,
                    timeout=1.0,
                )
            )
        elapsed = time.perf_counter() - start
        counters = server.counters()
        counts = store_counts(path)
    limit = runner.models[f"anthropic:{MODEL_ID}"].limit
    attempts = Counter(counters.by_hash.values())
    attempted = sum(counters.by_hash.values())

    print(
        f"Fault run: {args.trials} single-turn trials, C={args.concurrency}, "
        f"{args.latency * 1000:.0f} ms latency, {args.faults:.0%} of attempts faulted "
        f"(seed {args.seed}), max_attempts={args.max_attempts}"
    )
    print(f"  wall time                 {elapsed:8.1f} s ({args.trials / elapsed:.0f} trials/s)")
    print(f"  attempts sent             {attempted:8d} ({attempted / args.trials:.3f} per trial)")
    injected = sum(counters.faults.values())
    print(f"  faults injected           {injected:8d} ({injected / attempted:.1%} of attempts)")
    for kind in MIX:
        print(f"    {kind:<23} {counters.faults.get(kind, 0):8d}")
    print(f"  runner retries            {summary.meter.retries:8d}")
    if limit is not None:
        print(
            f"  adaptive limit            {limit.backoffs:8d} back-offs; "
            f"limit {limit.limit:.0f} of {limit.ceiling} at the end"
        )
    print(
        "  attempts per request      " + ", ".join(f"{k}×: {attempts[k]}" for k in sorted(attempts))
    )
    worst = max(counters.by_hash.values())
    print(
        f"  most attempts, 1 request  {worst:8d} (budget {args.max_attempts}) "
        f"{'OK' if worst <= args.max_attempts else 'OVER BUDGET'}"
    )
    paid = max(counters.succeeded_by_hash.values())
    print(f"  most answers, 1 request   {paid:8d} {'OK' if paid == 1 else 'PAID TWICE'}")
    for key, value in counts.items():
        print(f"  {key:<25} {value:8d}")
    ok = (
        counts["trials done"]
        == counts["distinct observations"]
        == counts["observation rows"]
        == counts["exchange rows"]
        == args.trials
        and worst <= args.max_attempts
        and paid == 1
    )
    print(f"  failures by cause         {dict(summary.failures) or 'none'}")
    print(f"RESULT: {'every trial exactly once, within the retry budget' if ok else 'FAILED'}")


if __name__ == "__main__":
    main()
