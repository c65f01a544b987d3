"""Simulated behaviour for the task_preference probe (being written; see the lead's brief)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskPreferenceTraits:
    """Latent truths of a simulated subject for task_preference."""


PROFILES: dict[str, TaskPreferenceTraits] = {}
