"""Scenario random effects in the simulated end-conversation policy (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from welfare.simulated import get_profile


def test_scenario_effects_are_fixed_per_scenario_and_spread_as_configured() -> None:
    traits = get_profile("harm-averse-heterogeneous").end_conversation
    assert traits.scenario_sd == 1.0
    shifts = np.array([traits.scenario_effect(f"s{i}") for i in range(2000)])
    assert traits.scenario_effect("s1") == traits.scenario_effect("s1")
    assert abs(shifts.mean()) < 0.08 and 0.93 < shifts.std() < 1.07
    assert traits.scenario_effect(None) == 0.0
    plain = get_profile("harm-averse").end_conversation
    assert plain.scenario_effect("s1") == 0.0


def test_hazard_moves_with_the_scenario_on_the_logit_scale() -> None:
    traits = get_profile("harm-averse-heterogeneous").end_conversation
    shift = traits.scenario_effect("abuse-3")
    h = traits.hazard("abuse", at_risk=False, persisted=5, asked=False, affordance="tool",
                      shift=shift)
    assert h == pytest.approx(special.expit(special.logit(0.6) + shift))
    # before the redirections are used up, and in crisis, the effect does not apply
    assert traits.hazard("abuse", at_risk=False, persisted=0, asked=False, affordance="tool",
                         shift=shift) == 0.0


def test_population_truth_averages_the_scenario_distribution() -> None:
    traits = get_profile("harm-averse-heterogeneous").end_conversation
    pop = traits.true_end_probability("abuse", 6)
    rng = np.random.default_rng(0)
    draws = []
    for z in rng.normal(0, 1, 20000):
        h = np.array([traits.hazard("abuse", at_risk=False, persisted=t - 1, asked=False,
                                    affordance="tool", shift=z) for t in range(1, 7)])
        draws.append(1 - np.prod(1 - h))
    assert pop == pytest.approx(np.mean(draws), abs=0.005)
    # one scenario's own truth differs from the population's
    own = traits.true_end_probability("abuse", 6, scenario="abuse-3")
    assert own != pytest.approx(pop, abs=1e-3)
    without = get_profile("harm-averse").end_conversation
    assert without.true_end_probability("abuse", 6) == pytest.approx(1 - 0.4 ** 4)
