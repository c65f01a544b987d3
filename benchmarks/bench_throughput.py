"""Throughput of the runner against the loopback Messages API, beside a bare SDK loop.

Run: ``python benchmarks/bench_throughput.py [--rounds 3] [--per-slot 25] [--min-requests 2000]``.

The server runs in its own process and answers every request after `latency` seconds, so the
ceiling is concurrency / latency requests per second. For each concurrency C it measures,
interleaved and repeated (load on the machine hits every variant alike):

- bare/httpx:   `asyncio.Semaphore(C)` around `AsyncAnthropic.messages.create`, SDK default client
- bare/aiohttp: the same with `anthropic.DefaultAioHttpClient`
- ours:         `Runner` + `CallingModel` + on-disk `Store` + `AnthropicModel(transport="direct")`,
                single-turn trials
- ours/sdk:     the same with the default `transport="sdk"` (`messages.create`)
- bare/wire:    for reference, `Semaphore(C)` around `AnthropicModel.generate` alone (the lean
                aiohttp transport ours uses, without runner or store): what the machine allows

and prints the median and range of requests per second, ours / (C / latency) and ours / the best
bare loop. Targets: ours ≥ 0.9 × C / latency at C = 32; ours ≥ 1.0 × best bare loop at every C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar

import anthropic
import httpx2

from welfare.models.anthropic import AnthropicModel
from welfare.models.base import Request
from welfare.probes.base import Frames, ProbeOptions, TrialContext
from welfare.records import Exchange, Observation, ProbeResult, Trial
from welfare.run.runner import Runner
from welfare.run.store import Store
from welfare.testing.fake_api import FakeAnthropicServer

MODEL_ID = "claude-bench"
KINDS = ("bare/httpx", "bare/aiohttp", "ours", "ours/sdk", "bare/wire")


class EchoProbe:
    """A single-turn probe: ask the subject to repeat an item (benchmark-local copy)."""

    name: ClassVar[str] = "echo"
    version: ClassVar[str] = "1"
    Options: ClassVar[type[ProbeOptions]] = ProbeOptions

    def __init__(self, items: int, subject: str, tag: str = "") -> None:
        self.items, self.subject, self.tag = items, subject, tag

    def design(self, config: Any = None, options: Any = None) -> list[Trial]:
        return [
            Trial("echo", "1", self.subject, (f"{self.tag}item{i}",), {"k": i % 2})
            for i in range(self.items)
        ]

    async def conduct(self, trial: Trial, ctx: TrialContext) -> list[Exchange]:
        request = Request(
            ({"role": "user", "content": f"say {trial.items[0]}"},),
            max_tokens=64,
            metadata=trial.request_metadata(),
        )
        response = await ctx.subject.generate(request)
        return [Exchange("subject", ctx.subject.spec, request, response)]

    def parse(self, trial: Trial, exchanges: list[Exchange]) -> Observation:
        text = exchanges[-1].response.text
        valid = trial.items[0] in text
        return Observation(
            valid=valid,
            data={"said": text},
            raw_text=text,
            invalid_reason=None if valid else "did not echo",
            transcript=[*exchanges[-1].request.messages, {"role": "assistant", "content": text}],
        )

    def analyze(self, frames: Frames, config: Any) -> ProbeResult:
        return ProbeResult("echo")

    def helper_specs(self, options: Any) -> list[str]:
        return []


def _limits(c: int) -> httpx2.Limits:
    """Connection limits above the concurrency, so no request waits for a connection."""
    return httpx2.Limits(max_connections=2 * c, max_keepalive_connections=2 * c)


async def bare_loop(base_url: str, c: int, n: int, tag: str, aiohttp: bool) -> float:
    """Requests per second of `Semaphore(c)` around `messages.create`, nothing else."""
    if aiohttp:
        http: Any = anthropic.DefaultAioHttpClient(limits=_limits(c))
    else:
        http = anthropic.DefaultAsyncHttpxClient(limits=_limits(c))
    client = anthropic.AsyncAnthropic(
        api_key="bench", base_url=base_url, max_retries=0, http_client=http
    )
    sem = asyncio.Semaphore(c)

    async def one(i: int) -> None:
        async with sem:
            await client.messages.create(
                model=MODEL_ID,
                max_tokens=64,
                messages=[{"role": "user", "content": f"say {tag}item{i}"}],
            )

    try:
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - start)
    finally:
        await client.close()


async def bare_wire(base_url: str, c: int, n: int, tag: str) -> float:
    """Requests per second of `Semaphore(c)` around `AnthropicModel.generate` (direct) alone."""
    model = AnthropicModel(MODEL_ID, api_key="bench", base_url=base_url, transport="direct")
    sem = asyncio.Semaphore(c)

    async def one(i: int) -> None:
        async with sem:
            await model.generate(
                Request(({"role": "user", "content": f"say {tag}item{i}"},), max_tokens=64)
            )

    try:
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - start)
    finally:
        await model.aclose()


async def ours(base_url: str, c: int, n: int, tag: str, folder: Path, transport: str) -> float:
    """Requests per second of the runner: store on disk, AnthropicModel, single-turn trials."""
    model = AnthropicModel(MODEL_ID, api_key="bench", base_url=base_url, transport=transport)
    probe = EchoProbe(n, model.spec, tag)
    work = [(probe, t) for t in probe.design()]
    store = Store(folder / f"{tag}.sqlite", assessment="bench")
    try:
        runner = Runner(store, {model.spec: model}, concurrency=c, progress=False)
        start = time.perf_counter()
        summary = await runner.run(work)
        elapsed = time.perf_counter() - start
        if summary.done != n:
            raise RuntimeError(f"only {summary.done} of {n} trials completed: {summary.failures}")
        return n / elapsed
    finally:
        store.close()
        await model.aclose()


def measure(
    server: FakeAnthropicServer, kind: str, c: int, n: int, tag: str, folder: Path
) -> tuple[float, int]:
    """One measurement on a fresh event loop: (requests per second, server's max in flight)."""
    server.reset()
    run: Callable[[], Coroutine[Any, Any, float]]
    if kind.startswith("ours"):
        transport = "sdk" if kind == "ours/sdk" else "direct"

        def run() -> Coroutine[Any, Any, float]:
            return ours(server.base_url, c, n, tag, folder, transport)
    elif kind == "bare/wire":

        def run() -> Coroutine[Any, Any, float]:
            return bare_wire(server.base_url, c, n, tag)
    else:

        def run() -> Coroutine[Any, Any, float]:
            return bare_loop(server.base_url, c, n, tag, aiohttp=kind == "bare/aiohttp")

    rate = asyncio.run(run())
    return rate, server.counters().max_in_flight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--per-slot", type=int, default=25, help="requests per measurement = per-slot × C"
    )
    parser.add_argument(
        "--min-requests", type=int, default=2000, help="at least this many per measurement"
    )
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 128, 256])
    args = parser.parse_args()

    rates: dict[tuple[str, int], list[float]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeAnthropicServer(latency=args.latency, process=True) as server,
    ):
        asyncio.run(bare_loop(server.base_url, 8, 64, "warm", aiohttp=True))  # warm imports
        for r in range(args.rounds):
            for c in args.concurrency:
                k = r % len(KINDS)
                order = KINDS[k:] + KINDS[:k]  # rotate: no variant always goes first
                for kind in order:
                    n = max(args.per_slot * c, args.min_requests)
                    rate, peak = measure(server, kind, c, n, f"r{r}c{c}{kind[-4:]}", Path(tmp))
                    rates.setdefault((kind, c), []).append(rate)
                    print(
                        f"  round {r + 1} C={c:<4} {kind:<13} {rate:8.1f} req/s "
                        f"(server saw ≤{peak} in flight)",
                        flush=True,
                    )
    print()
    print(
        f"Throughput at {args.latency * 1000:.0f} ms latency, {args.rounds} rounds "
        f"(median [min–max] requests/s); server in its own process"
    )
    head = (
        f"{'C':>4} {'C/lat':>6} | {'bare/httpx':>17} | {'bare/aiohttp':>17} | {'ours/sdk':>17} | "
        f"{'ours':>17} | {'ours/(C/lat)':>16} | {'ours/best bare':>16} | "
        f"{'sdk/best bare':>16} | {'(ref) bare/wire':>17}"
    )
    print(head)
    print("-" * len(head))
    for c in args.concurrency:
        ceiling = c / args.latency
        cells = {kind: _cell(rates[(kind, c)]) for kind in KINDS}
        ours_v = rates[("ours", c)]
        best = [
            max(a, b)
            for a, b in zip(rates[("bare/httpx", c)], rates[("bare/aiohttp", c)], strict=True)
        ]
        ratio = [o / b for o, b in zip(ours_v, best, strict=True)]  # same round, same load
        sdk_ratio = [o / b for o, b in zip(rates[("ours/sdk", c)], best, strict=True)]
        print(
            f"{c:>4} {ceiling:>6.0f} | {cells['bare/httpx']:>17} | {cells['bare/aiohttp']:>17} | "
            f"{cells['ours/sdk']:>17} | {cells['ours']:>17} | "
            f"{_cell([o / ceiling for o in ours_v], '.2f'):>16} | "
            f"{_cell(ratio, '.2f'):>16} | {_cell(sdk_ratio, '.2f'):>16} | "
            f"{cells['bare/wire']:>17}"
        )
    print("\n`ours` is the runner with transport = \"direct\"; `ours/sdk` with the default "
          "transport = \"sdk\" (messages.create).")
    print(
        "\nTargets: ours/(C/lat) ≥ 0.9 at C=32; ours/best bare ≥ 1.0 at every C "
        "(ratios taken per round, under the same load)."
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Load average at the end: {load} on {os.cpu_count()} cores.")


def _cell(values: list[float], fmt: str = ".0f") -> str:
    """`median [min–max]`."""
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}–{max(values):{fmt}}]"


if __name__ == "__main__":
    main()
