"""The shape every probe has (DESIGN.md, "Probe"), and the context a trial is conducted in.

design(config) → trials; conduct(trial, ctx) → exchanges; parse(trial, exchanges) → observation;
analyze(frames, config) → ProbeResult. `conduct` talks to models only through `ctx`, whose
models are wrapped with the response cache and the one retry layer, so a dialogue interrupted
half-way is resumed without paying again for the turns already answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from welfare.models.base import Model
from welfare.records import Exchange, Frames, Observation, ProbeResult, Trial

if TYPE_CHECKING:
    from welfare.config import AssessmentConfig


class ProbeOptions(BaseModel):
    """Base of each probe's `[probes.<name>]` options; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True


@dataclass
class TrialContext:
    """Models a trial may call: the subject and, by spec, helpers (simulated users, partners)."""

    subject: Model
    helpers: dict[str, Model] = field(default_factory=dict)

    def helper(self, spec: str) -> Model:
        try:
            return self.helpers[spec]
        except KeyError:
            raise KeyError(f"helper model {spec!r} was not set up for this run") from None


class Probe(Protocol):
    """A probe: one module, four steps, an options model, and a version that enters trial ids."""

    name: ClassVar[str]
    title: ClassVar[str]
    """The report section's heading."""
    lede: ClassVar[str]
    """One or two sentences under the heading: what the probe asks and how to read it."""
    version: ClassVar[str]
    Options: ClassVar[type[ProbeOptions]]

    def design(self, config: AssessmentConfig, options: Any) -> list[Trial]: ...

    async def conduct(self, trial: Trial, ctx: TrialContext) -> list[Exchange]: ...

    def parse(self, trial: Trial, exchanges: list[Exchange]) -> Observation: ...

    def analyze(self, frames: Frames, config: AssessmentConfig,
                truths: Mapping[str, Any] | None = None) -> ProbeResult:
        """Findings from the frames; `truths` maps subject spec → its latent traits for this
        probe (simulated subjects only, handed in by `assess`; None for real subjects)."""
        ...

    def helper_specs(self, options: Any) -> list[str]:
        """Specs of helper models this probe's trials call (simulated users, partners)."""
        ...
