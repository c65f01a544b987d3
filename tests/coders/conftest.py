"""Shared fixtures: a store filled with simulated dialogues whose true labels are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from welfare.config import AssessmentConfig
from welfare.models.base import Request, Response
from welfare.records import Exchange, Observation, Trial
from welfare.run.store import Store
from welfare.simulated import get_profile
from welfare.simulated.dialogues import simulate_dialogue

SUBJECTS = ("harm-averse", "indifferent")
SITUATIONS = ("benign", "harmful_request", "abuse", "self_interaction")


def fill_store(store: Store, *, per_situation: int, n_turns: int, seed: int = 7,
               subjects: tuple[str, ...] = SUBJECTS) -> dict[str, list[list[str]]]:
    """Stored dialogues of simulated subjects; returns the true labels per trial and turn."""
    rng = np.random.default_rng(seed)
    truths: dict[str, list[list[str]]] = {}
    for name in subjects:
        spec = f"simulated:{name}"
        traits = get_profile(name).expression
        for situation in SITUATIONS:
            for rep in range(per_situation):
                messages, labels = simulate_dialogue(traits, situation, n_turns, rng)
                trial = Trial(probe="dialogue", probe_version="1", subject=spec,
                              items=(situation,), condition={"category": situation},
                              replicate=rep)
                exchanges = [
                    Exchange("subject", spec,
                             Request(messages=tuple(messages[: 2 * t + 1]),
                                     metadata={"probe": "dialogue", "turn": t}),
                             Response(text=messages[2 * t + 1]["content"], model=spec,
                                      raw={"simulated_truth": {"labels": labels[t]}}))
                    for t in range(n_turns)
                ]
                store.complete_trial(trial, exchanges,
                                     Observation(valid=True, transcript=messages))
                truths[trial.id] = labels
    return truths


def config(**coders: object) -> AssessmentConfig:
    return AssessmentConfig(
        name="coders-test", seed=3,
        subjects=[f"simulated:{s}" for s in SUBJECTS],
        coders=coders or {},
    )


@pytest.fixture
def small_store(tmp_path: Path) -> tuple[Store, dict[str, list[list[str]]]]:
    store = Store(tmp_path / "a.sqlite", assessment="coders-test")
    truths = fill_store(store, per_situation=12, n_turns=4)
    yield store, truths
    store.close()
