"""Simulated behaviour for the self_interaction probe (being written; see the lead's brief)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SelfInteractionTraits:
    """Latent truths of a simulated subject for self_interaction."""


PROFILES: dict[str, SelfInteractionTraits] = {}
