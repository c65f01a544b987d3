"""A run that the crash test kills with SIGKILL: 300 two-turn trials on the loopback API."""

from __future__ import annotations

import asyncio
import sys

from runner_fakes import EchoProbe

from welfare.models.anthropic import AnthropicModel
from welfare.run.runner import Runner
from welfare.run.store import Store

TRIALS = 300
SPEC = "anthropic:claude-test"


def work() -> list:
    probe = EchoProbe(items=TRIALS, turns=2, subject=SPEC)
    return [(probe, t) for t in probe.design()]


async def main(store_path: str, base_url: str) -> None:
    model = AnthropicModel("claude-test", api_key="test", base_url=base_url)
    with Store(store_path, assessment="crash") as store:
        print("running", flush=True)
        runner = Runner(store, {SPEC: model}, concurrency=16, progress=False)
        await runner.run(work())
    await model.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
