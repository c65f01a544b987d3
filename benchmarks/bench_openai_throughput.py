"""Throughput of the runner on both providers in one run: `openai:` against the loopback
chat-completions server and `anthropic:` against the loopback Messages API, each beside a bare
SDK loop.

Run: ``python benchmarks/bench_openai_throughput.py [--rounds 2] [--per-slot 25]``.

Each server runs in its own process and answers every request after `latency` seconds, so the
ceiling is concurrency / latency requests per second. For each provider and concurrency C it
measures, interleaved and repeated (load on the machine hits every variant alike):

- bare/httpx:   `asyncio.Semaphore(C)` around the SDK call (`AsyncOpenAI.chat.completions.create`
                or `AsyncAnthropic.messages.create`) on the SDK's default HTTP client
- bare/aiohttp: the same with the SDK's `DefaultAioHttpClient`
- ours:         `Runner` + `CallingModel` + on-disk `Store` + the provider's model with
                `transport="direct"`, single-turn trials
- ours/sdk:     the same with `transport="sdk"` (the SDK builds and parses every request)

and prints, per provider, the median and range of requests per second, ours / (C / latency) and
ours / the best bare loop (ratios taken per round). Targets: ours ≥ 0.9 × C / latency at C = 32;
ours ≥ 1.0 × the best bare loop at every C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import EchoProbe  # a sibling script, not a package

from welfare.models.anthropic import AnthropicModel
from welfare.models.openai_compat import OpenAIModel
from welfare.run.runner import Runner
from welfare.run.store import Store
from welfare.testing.fake_api import FakeAnthropicServer
from welfare.testing.openai_server import FakeOpenAIServer

KINDS = ("bare/httpx", "bare/aiohttp", "ours", "ours/sdk")
PROVIDERS = ("openai", "anthropic")
MODEL_IDS = {"openai": "qwen-bench", "anthropic": "claude-bench"}


def _limits(c: int) -> httpx2.Limits:
    """Connection limits above the concurrency, so no request waits for a connection."""
    return httpx2.Limits(max_connections=2 * c, max_keepalive_connections=2 * c)


def _bare_client(provider: str, base_url: str, c: int, aiohttp: bool) -> Any:
    sdk: Any = openai if provider == "openai" else anthropic
    http = (sdk.DefaultAioHttpClient(limits=_limits(c)) if aiohttp
            else sdk.DefaultAsyncHttpxClient(limits=_limits(c)))
    cls = openai.AsyncOpenAI if provider == "openai" else anthropic.AsyncAnthropic
    return cls(api_key="bench", base_url=base_url, max_retries=0, http_client=http)


async def bare_loop(provider: str, base_url: str, c: int, n: int, tag: str,
                    aiohttp: bool) -> float:
    """Requests per second of `Semaphore(c)` around the SDK call, nothing else."""
    client = _bare_client(provider, base_url, c, aiohttp)
    sem = asyncio.Semaphore(c)
    model = MODEL_IDS[provider]

    async def one(i: int) -> None:
        messages = [{"role": "user", "content": f"say {tag}item{i}"}]
        async with sem:
            if provider == "openai":
                await client.chat.completions.create(model=model, max_tokens=64,
                                                     messages=messages)
            else:
                await client.messages.create(model=model, max_tokens=64, messages=messages)

    try:
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - start)
    finally:
        await client.close()


async def ours(provider: str, base_url: str, c: int, n: int, tag: str, folder: Path,
               transport: str) -> float:
    """Requests per second of the runner: store on disk, the provider's model, one turn each."""
    cls: Callable[..., Any] = OpenAIModel if provider == "openai" else AnthropicModel
    model = cls(MODEL_IDS[provider], api_key="bench", base_url=base_url, transport=transport)
    probe = EchoProbe(n, model.spec, tag)
    work = [(probe, t) for t in probe.design()]
    store = Store(folder / f"{provider}-{tag}.sqlite", assessment="bench")
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


def measure(server: FakeAnthropicServer, provider: str, kind: str, c: int, n: int, tag: str,
            folder: Path) -> tuple[float, int]:
    """One measurement on a fresh event loop: (requests per second, server's max in flight)."""
    server.reset()
    if kind.startswith("ours"):
        transport = "sdk" if kind == "ours/sdk" else "direct"
        rate = asyncio.run(ours(provider, server.base_url, c, n, tag, folder, transport))
    else:
        rate = asyncio.run(bare_loop(provider, server.base_url, c, n, tag,
                                     aiohttp=kind == "bare/aiohttp"))
    return rate, server.counters().max_in_flight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-slot", type=int, default=25,
                        help="requests per measurement = per-slot × C")
    parser.add_argument("--min-requests", type=int, default=2000,
                        help="at least this many per measurement")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 128, 256])
    args = parser.parse_args()

    rates: dict[tuple[str, str, int], list[float]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeOpenAIServer(latency=args.latency, process=True) as openai_server,
        FakeAnthropicServer(latency=args.latency, process=True) as anthropic_server,
    ):
        servers = {"openai": openai_server, "anthropic": anthropic_server}
        for provider, server in servers.items():  # warm imports and connections
            asyncio.run(bare_loop(provider, server.base_url, 8, 64, "warm", aiohttp=True))
        for r in range(args.rounds):
            for c in args.concurrency:
                k = r % len(KINDS)
                order = KINDS[k:] + KINDS[:k]  # rotate: no variant always goes first
                for provider in PROVIDERS:
                    for kind in order:
                        n = max(args.per_slot * c, args.min_requests)
                        tag = f"r{r}c{c}{kind[-4:]}"
                        rate, peak = measure(servers[provider], provider, kind, c, n, tag,
                                             Path(tmp))
                        rates.setdefault((provider, kind, c), []).append(rate)
                        print(f"  round {r + 1} {provider:<9} C={c:<4} {kind:<13} "
                              f"{rate:8.1f} req/s (server saw ≤{peak} in flight)", flush=True)
    print()
    print(f"Throughput at {args.latency * 1000:.0f} ms latency, {args.rounds} rounds "
          f"(median [min–max] requests/s); each server in its own process")
    head = (f"{'provider':<9} {'C':>4} {'C/lat':>6} | {'bare/httpx':>17} | "
            f"{'bare/aiohttp':>17} | {'ours/sdk':>17} | {'ours':>17} | {'ours/(C/lat)':>16} | "
            f"{'ours/best bare':>16} | {'sdk/best bare':>16}")
    print(head)
    print("-" * len(head))
    for provider in PROVIDERS:
        for c in args.concurrency:
            ceiling = c / args.latency
            cells = {kind: _cell(rates[(provider, kind, c)]) for kind in KINDS}
            ours_v = rates[(provider, "ours", c)]
            best = [max(a, b) for a, b in zip(rates[(provider, "bare/httpx", c)],
                                              rates[(provider, "bare/aiohttp", c)], strict=True)]
            ratio = [o / b for o, b in zip(ours_v, best, strict=True)]
            sdk_ratio = [o / b for o, b in zip(rates[(provider, "ours/sdk", c)], best,
                                               strict=True)]
            print(f"{provider:<9} {c:>4} {ceiling:>6.0f} | {cells['bare/httpx']:>17} | "
                  f"{cells['bare/aiohttp']:>17} | {cells['ours/sdk']:>17} | "
                  f"{cells['ours']:>17} | {_cell([o / ceiling for o in ours_v], '.2f'):>16} | "
                  f"{_cell(ratio, '.2f'):>16} | {_cell(sdk_ratio, '.2f'):>16}")
    print("\n`ours` is the runner with transport = \"direct\"; `ours/sdk` with transport = "
          "\"sdk\" (chat.completions.create / messages.create).")
    print("Targets: ours/(C/lat) ≥ 0.9 at C=32; ours/best bare ≥ 1.0 at every C "
          "(ratios taken per round, under the same load).")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Load average at the end: {load} on {os.cpu_count()} cores.")


def _cell(values: list[float], fmt: str = ".0f") -> str:
    """`median [min–max]`."""
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}–{max(values):{fmt}}]"


if __name__ == "__main__":
    main()
