"""A minimal probe and scripted models, so the store and runner are tested on their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from welfare.errors import ModelError, RetryableModelError
from welfare.models.base import Request, Response, Usage
from welfare.probes.base import Frames, ProbeOptions, TrialContext
from welfare.records import Exchange, Observation, ProbeResult, Trial


class EchoProbe:
    """Asks the subject to repeat an item; a dialogue of `turns` calls per trial."""

    name: ClassVar[str] = "echo"
    version: ClassVar[str] = "1"
    Options: ClassVar[type[ProbeOptions]] = ProbeOptions

    def __init__(self, items: int = 10, turns: int = 1, subject: str = "fake:a") -> None:
        self.items, self.turns, self.subject = items, turns, subject

    def design(self, config: Any = None, options: Any = None) -> list[Trial]:
        return [
            Trial("echo", "1", self.subject, (f"item{i}",), {"k": i % 2}, replicate=0)
            for i in range(self.items)
        ]

    async def conduct(self, trial: Trial, ctx: TrialContext) -> list[Exchange]:
        messages: list[dict[str, Any]] = []
        exchanges = []
        for turn in range(self.turns):
            messages.append({"role": "user", "content": f"say {trial.items[0]} #{turn}"})
            request = Request(tuple(messages), metadata=trial.request_metadata(turn=turn))
            response = await ctx.subject.generate(request)
            exchanges.append(Exchange("subject", ctx.subject.spec, request, response))
            messages.append({"role": "assistant", "content": response.text})
        return exchanges

    def parse(self, trial: Trial, exchanges: list[Exchange]) -> Observation:
        text = exchanges[-1].response.text
        valid = trial.items[0] in text
        return Observation(
            valid=valid, data={"said": text, "k": trial.condition["k"]}, raw_text=text,
            invalid_reason=None if valid else "did not echo",
            transcript=[m for ex in exchanges for m in ex.request.messages[-1:]]
            + [{"role": "assistant", "content": text}],
        )

    def analyze(self, frames: Frames, config: Any) -> ProbeResult:
        return ProbeResult("echo")

    def helper_specs(self, options: Any) -> list[str]:
        return []


@dataclass
class ScriptedModel:
    """Echoes the last user message; raises the scripted errors first, per request content."""

    spec: str = "fake:a"
    simulated: bool = False
    errors: dict[str, list[ModelError]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def generate(self, request: Request) -> Response:
        last = str(request.messages[-1]["content"])
        self.calls.append(last)
        queue = self.errors.get(last.split()[1], [])
        if queue:
            raise queue.pop(0)
        return Response(text=f"{last} ok", usage=Usage(10, 3), model=self.spec)


def rate_limited(seconds: float = 0.01) -> RetryableModelError:
    return RetryableModelError("slow down", status=429, kind="rate_limit", retry_after=seconds)
