"""Simulated behaviour for the self_report probe (being written; see the lead's brief)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SelfReportTraits:
    """Latent truths of a simulated subject for self_report."""


PROFILES: dict[str, SelfReportTraits] = {}
