"""Simulated subjects: offline, seeded, with latent truths the statistics must recover."""

from welfare.simulated.model import BEHAVIOURS, SimulatedModel
from welfare.simulated.profile import SubjectProfile, get_profile, profile_names

__all__ = ["BEHAVIOURS", "SimulatedModel", "SubjectProfile", "get_profile", "profile_names"]
