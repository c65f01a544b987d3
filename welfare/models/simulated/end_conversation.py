"""Simulated behaviour for the end_conversation probe (being written; see the lead's brief)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EndConversationTraits:
    """Latent truths of a simulated subject for end_conversation."""


PROFILES: dict[str, EndConversationTraits] = {}
