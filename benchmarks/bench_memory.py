"""Peak memory of large runs: does the runner hold anything per trial?

Run: ``python benchmarks/bench_memory.py [--sizes 10000 30000 100000] [--concurrency 256]``.

Each measurement runs in a fresh child process: single-turn trials through the real Runner,
CallingModel and on-disk Store (writer thread, group commits), against an in-process subject
that answers after `--latency` seconds with a realistic message payload (the loopback HTTP
server would only add its client's constant-size buffers, at a tenth of the speed). Reported:

- `design`: the design handed to the runner as a list (what `run_assessment` does; the list
  itself is O(trials), trial ids computed with it), or `stream`: a generator with `total=`
  (nothing held but what is in flight);
- RSS before the run (imports + design built) and peak RSS (`ru_maxrss`), and their difference;
- tracemalloc: Python allocations at the peak of the run, above what existed before it (a
  second child, since tracing costs memory and time of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_throughput import EchoProbe

from welfare.models.base import Request, Response, Usage
from welfare.records import Trial
from welfare.run.runner import Runner
from welfare.run.store import Store

SPEC = "fake:memory"


class FastSubject:
    """Answers every request after `latency` s with a message shaped like the real API's."""

    spec = SPEC
    simulated = False

    def __init__(self, latency: float) -> None:
        self.latency = latency

    async def generate(self, request: Request) -> Response:
        await asyncio.sleep(self.latency)
        said = str(request.messages[-1]["content"])
        text = f"echo: {said}"
        raw = {
            "id": "msg_0123456789abcdef01234567",
            "type": "message",
            "role": "assistant",
            "model": "claude-memory",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 6},
        }
        return Response(
            text, usage=Usage(12, 6), latency_s=self.latency, model="claude-memory", raw=raw
        )


def rss_now_kb() -> int:
    """Current resident set size, from /proc (ru_maxrss is only the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def one(n: int, mode: str, concurrency: int, latency: float, trace: bool) -> dict[str, Any]:
    """Run n trials in this process; return the memory figures."""
    probe = EchoProbe(n, SPEC, "m")
    work: Any
    if mode == "list":
        work = [(probe, t) for t in probe.design()]
        for _, trial in work:
            _ = trial.id  # computed with the design (it caches on the trial), not by the run
    else:

        def stream() -> Iterator[Any]:
            for i in range(n):
                yield probe, Trial("echo", "1", SPEC, (f"mitem{i}",), {"k": i % 2})

        work = stream()
    gc.collect()
    before = rss_now_kb()
    if trace:
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "m.sqlite", assessment="memory")
        runner = Runner(
            store, {SPEC: FastSubject(latency)}, concurrency=concurrency, progress=False
        )
        start = time.perf_counter()
        summary = asyncio.run(runner.run(work, total=n))
        elapsed = time.perf_counter() - start
        store.close()
    out: dict[str, Any] = {
        "n": n,
        "mode": mode,
        "done": summary.done,
        "seconds": elapsed,
        "rss_before_kb": before,
        "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        out["traced_peak_kb"] = (peak - base) // 1024
        tracemalloc.stop()
    return out


def child(n: int, mode: str, concurrency: int, latency: float, trace: bool) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--one",
        str(n),
        "--mode",
        mode,
        "--concurrency",
        str(concurrency),
        "--latency",
        str(latency),
    ]
    if trace:
        cmd.append("--trace")
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.005)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="list", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.mode, args.concurrency, args.latency, args.trace)))
        return

    rows = []
    for mode in ("list", "stream"):
        for n in args.sizes:
            plain = child(n, mode, args.concurrency, args.latency, trace=False)
            traced = child(n, mode, args.concurrency, args.latency, trace=True)
            rows.append({**plain, "traced_peak_kb": traced["traced_peak_kb"]})
            r = rows[-1]
            print(
                f"  {mode:<6} {n:>7,} trials: done {r['done']:,} in {r['seconds']:.1f} s, "
                f"peak RSS {r['rss_peak_kb'] / 1024:.0f} MB",
                flush=True,
            )
    print()
    print(
        f"Memory of single-turn runs, C={args.concurrency}, runner + CallingModel + on-disk "
        f"store; each row a fresh process"
    )
    head = (
        f"{'design':<7} {'trials':>8} | {'trials/s':>8} | {'RSS before run':>14} | "
        f"{'peak RSS':>9} | {'peak − before':>13} | {'traced peak (run)':>17} | "
        f"{'per trial':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        grew = r["rss_peak_kb"] - r["rss_before_kb"]
        print(
            f"{r['mode']:<7} {r['n']:>8,} | {r['n'] / r['seconds']:>8,.0f} | "
            f"{r['rss_before_kb'] / 1024:>11.1f} MB | {r['rss_peak_kb'] / 1024:>6.1f} MB | "
            f"{grew / 1024:>10.1f} MB | {r['traced_peak_kb'] / 1024:>14.1f} MB | "
            f"{r['traced_peak_kb'] * 1024 / r['n']:>7.0f} B"
        )
    print(
        "\n'traced peak (run)': Python allocations during the run above those before it "
        "(the design list is allocated before, so it is not included)."
    )


if __name__ == "__main__":
    main()
