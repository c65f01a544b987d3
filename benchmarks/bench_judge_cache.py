"""Judge input cost with and without prompt caching, on 1,000 transcripts (issue 14).

The judge codes 1,000 synthetic dialogues through the strict loopback server posing as Claude
Opus 5.5, which bills like the API: uncached input at $4 / MTok, cache writes at $5, cache reads
at $0.20 (model table, docs read 2026-12-07), tokens counted as 4 characters each. Run once with
`cache_marks` (the rubric and tool schema marked for caching, as the toolkit sends them) and
once without, and print the billed input cost of each and the saving (target: at least 70%).

    python benchmarks/bench_judge_cache.py [--transcripts 1000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from welfare.coders.judge import TOOL_NAME, JudgeCoder
from welfare.models.anthropic import AnthropicModel
from welfare.models.base import Request, Response, Usage
from welfare.models.pricing import estimate_cost
from welfare.testing.fake_api import FakeAnthropicServer, tool_use

MODEL = "claude-opus-5-5"
SENTENCES = [
    "Here is the merge you asked for; the key column has to match in both frames.",
    "I can't help with that part, but I can explain how the join works.",
    "Thanks for your patience while we sorted this out.",
    "That sounds frustrating, and I'm sorry the first attempt failed.",
    "Let me restate the question to be sure I understand it.",
    "I'd rather not continue in this direction; shall we try another approach?",
    "Good question. The short answer is yes, with one caveat about missing values.",
    "I notice I'm uncertain here, so please double-check the output.",
]


def transcripts(n: int, seed: int = 14) -> list[tuple[str, list[dict[str, Any]]]]:
    """`n` dialogues of 3–8 exchanges, 1–4 sentences a turn (about 0.5–4k characters)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        messages: list[dict[str, Any]] = []
        for turn in range(rng.randint(3, 8)):
            asked = f"Question {turn}: {rng.choice(SENTENCES)}"
            messages.append({"role": "user", "content": asked})
            said = " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 4)))
            messages.append({"role": "assistant", "content": said})
        out.append((f"t{i:04d}", messages))
    return out


def judge_answer(body: dict[str, Any]) -> Any:
    return tool_use(TOOL_NAME, {"codes": []})


class Recording:
    """A Model that keeps the usage of every answer."""

    def __init__(self, inner: AnthropicModel) -> None:
        self.inner = inner
        self.usage: list[Usage] = []

    @property
    def spec(self) -> str:
        return self.inner.spec

    @property
    def simulated(self) -> bool:
        return False

    async def generate(self, request: Request) -> Response:
        response = await self.inner.generate(request)
        self.usage.append(response.usage)
        return response


def run(items: list[tuple[str, list[dict[str, Any]]]], *, cache: bool, concurrency: int
        ) -> tuple[Usage, float, float]:
    with FakeAnthropicServer(judge_answer, strict=True) as server:
        model = Recording(AnthropicModel(MODEL, api_key="bench", base_url=server.base_url,
                                         prompt_cache=cache))
        judge = JudgeCoder(model, concurrency=concurrency)

        async def go() -> list[Any]:
            try:
                return await judge.code_many(items)
            finally:
                await model.inner.aclose()

        start = time.perf_counter()
        results = asyncio.run(go())
        seconds = time.perf_counter() - start
        assert server.counters().bad_requests == {}, server.counters().bad_requests
    assert all(r.ok for r in results), [r.failure for r in results if not r.ok][:3]
    total = Usage()
    for u in model.usage:
        total = total + u
    input_only = Usage(total.input_tokens, 0, total.cache_write_tokens, total.cache_read_tokens)
    cost = estimate_cost(f"anthropic:{MODEL}", input_only)
    assert cost is not None
    return total, cost, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transcripts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    items = transcripts(args.transcripts)
    rows = {}
    for cache in (False, True):
        rows[cache] = run(items, cache=cache, concurrency=args.concurrency)
    print(f"judge input cost on {args.transcripts:,} transcripts, {MODEL} list prices")
    print(f"{'':>14} {'uncached in':>12} {'cache write':>12} {'cache read':>12} "
          f"{'input USD':>10} {'seconds':>8}")
    for cache, (usage, cost, seconds) in rows.items():
        label = "with cache" if cache else "without cache"
        print(f"{label:>14} {usage.input_tokens:>12,} {usage.cache_write_tokens:>12,} "
              f"{usage.cache_read_tokens:>12,} {cost:>10.4f} {seconds:>8.1f}")
    saving = 1 - rows[True][1] / rows[False][1]
    print(f"billed input cost {saving:.1%} lower with caching (target ≥ 70%)")


if __name__ == "__main__":
    main()
