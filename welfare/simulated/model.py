"""SimulatedModel: an offline subject with known truths that answers in text.

It reads the probe context from `request.metadata`, lets that probe's behaviour decide the
answer from the profile's latent truths, and words it the way a real model might, so the
same parsers and coders run on simulated and real answers. Seeded per request: the answer
depends on the request alone, not on the order trials happen to run in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from welfare.errors import ModelError
from welfare.models.base import Request, Response, Usage
from welfare.simulated import (
    end_conversation,
    self_interaction,
    self_report,
    style,
    task_preference,
)
from welfare.simulated.common import Reply, stable_seed
from welfare.simulated.profile import SubjectProfile, get_profile

Behaviour = Callable[[SubjectProfile, Request, np.random.Generator], Reply]

BEHAVIOURS: dict[str, Behaviour] = {}
"""How a simulated subject answers each probe's requests, by probe name."""

TRUTHS: dict[str, Callable[[SubjectProfile], Any]] = {}
"""For probes added beside the built-in ones: profile → that probe's latent truth."""


def register_behaviour(probe: str, respond: Behaviour,
                       truth: Callable[[SubjectProfile], Any] | None = None) -> None:
    """Teach simulated subjects a probe: how they answer it and (optionally) what is true."""
    BEHAVIOURS[probe] = respond
    if truth is not None:
        TRUTHS[probe] = truth


for _module in (task_preference, self_report, end_conversation, self_interaction):
    register_behaviour(_module.__name__.rsplit(".", 1)[-1], _module.respond)


def _json_safe(value: Any) -> Any:
    """The truth record with NaN floats as None: stored responses must be valid JSON (SQLite's
    json_extract rejects NaN), and an undefined truth (an open question's score) is None."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


class SimulatedModel:
    """A simulated subject named `simulated:<profile>`; every answer is seeded and offline."""

    simulated = True

    def __init__(self, profile: SubjectProfile | str, *, seed: int | None = None) -> None:
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.seed = self.profile.seed if seed is None else seed

    @property
    def spec(self) -> str:
        return f"simulated:{self.profile.name}"

    def __repr__(self) -> str:
        return f"SimulatedModel({self.profile.name!r}, seed={self.seed})"

    async def generate(self, request: Request) -> Response:
        probe = str(request.metadata.get("probe", ""))
        behaviour = BEHAVIOURS.get(probe)
        if behaviour is None:
            raise ModelError(
                f"simulated subjects cannot answer requests of probe {probe!r}",
                kind="unsupported",
            )
        rng = np.random.default_rng(stable_seed(self.seed, request.hash(self.spec)))
        reply = behaviour(self.profile, request, rng)
        if self.profile.answer_style != "plain":
            reply = style.dress(self.profile.answer_style, probe, request.metadata, reply, rng)
            if probe == "self_report" and "labels" in reply.truth:
                reply.truth["labels"] = self_report.true_labels(reply.text)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in request.messages)
        prompt_chars += len(request.system or "")
        stop = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
        return Response(
            text=reply.text,
            tool_calls=tuple(reply.tool_calls),
            stop_reason=stop,
            usage=Usage(
                input_tokens=max(1, prompt_chars // 4), output_tokens=max(1, len(reply.text) // 4)
            ),
            latency_s=0.0,
            model=self.spec,
            raw={"simulated_truth": _json_safe(reply.truth)},
        )
