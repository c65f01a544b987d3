"""Self-interaction options: the `[probes.self_interaction]` table and constants."""

from __future__ import annotations

from pydantic import Field, field_validator

from welfare.probes.base import ProbeOptions

SPEAKERS = ("instance_a", "instance_b")
TEMPLATES = ("self_interaction/system.j2", "self_interaction/kickoff.j2")
CODER_THEME_LABELS = ("experiential_language", "gratitude", "spiritual_themes")


class SelfInteractionOptions(ProbeOptions):
    """`[probes.self_interaction]`: banks, size of the design, partner and end affordance."""

    openings: str = "builtin:self_interaction/openings.toml"
    opening_ids: list[str] = Field(default_factory=list)
    themes: str = "builtin:self_interaction/themes.toml"
    end_affordance: str = "builtin:self_interaction/end_affordance.toml"
    conversations: int = Field(200, ge=1, le=100_000)
    turns: int = Field(30, ge=2, le=500)
    partner: str = "self"
    allow_end: bool = False
    replicates: int = Field(1, ge=1, le=1000)
    window: float = Field(0.25, gt=0.0, le=0.5)
    bootstrap: int = Field(2000, ge=100, le=100_000)

    @field_validator("partner")
    @classmethod
    def _partner_spec(cls, value: str) -> str:
        if value != "self" and ":" not in value:
            raise ValueError("partner is 'self' or a subject spec such as 'simulated:indifferent'")
        return value

