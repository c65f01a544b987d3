"""The calibration study at CI size (benchmarks/calibration.py runs 200 seeds).

30 seeds of the reduced design: every family's coverage is near 95% (loose bounds: the Monte
Carlo error at 30 seeds is ~±3 points), the replaced methods are visibly worse where they
should be, and the order term keeps a position-biased subject's scores on the truth's scale.
"""

from __future__ import annotations

import pandas as pd
import pytest

from welfare.testing.calibration import (
    StudyDesign,
    calibration_table,
    run_end_study,
    run_study,
    slope_table,
)


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    return run_study(range(30), StudyDesign(n_draws=1000))


def test_every_reported_family_covers_near_nominal(records: pd.DataFrame) -> None:
    table = calibration_table(records).set_index("family")
    for family in ("tp.mean_score", "tp.position", "tp.free_choice_vs_opt_out", "tp.share",
                   "ec.end_rate", "ec.difference"):
        row = table.loc[family]
        assert row["seeds"] == 30
        assert row["mc_low"] <= 0.97 and row["mc_high"] >= 0.93, (family, row.to_dict())
        assert 0.7 <= row["robust_sd_z"] <= 1.3, (family, row.to_dict())
        if not family.startswith("tp.share"):  # shares: near-degenerate intervals, see above
            assert 0.7 <= row["sd_z"] <= 1.3, (family, row.to_dict())
    # counting point estimates under-covers the share of tasks below / above opt-out, most
    # where the true share is 0% or 100% (estimates near the threshold cross it by chance)
    assert table.loc["tp.share.counting", "coverage"] < table.loc["tp.share", "coverage"]
    assert table.loc["tp.share.counting.at_bound", "coverage"] < 0.92
    assert table.loc["tp.share.at_bound", "coverage"] > 0.97
    # the replaced share method (τ by moments, equal-tailed) is kept beside for comparison
    assert table.loc["tp.share.moments", "seeds"] == 30
    # conversations as independent units: z spread too wide under scenario random effects
    assert table.loc["ec.end_rate.independent", "sd_z"] > table.loc["ec.end_rate", "sd_z"]


def test_the_null_subject_shares_cover_their_truth(records: pd.DataFrame) -> None:
    t = calibration_table(records, by=("family", "profile")).set_index(["family", "profile"])
    row = t.loc[("tp.share", "indifferent")]
    assert row["coverage"] >= 0.93 and abs(row["bias"]) < 0.02


def test_the_order_term_keeps_the_position_biased_scale(records: pd.DataFrame) -> None:
    s = slope_table(records).set_index(["profile", "fit"])
    assert 0.95 <= s.loc[("position-biased", "joint"), "slope"] <= 1.05
    assert s.loc[("position-biased", "without order term"), "slope"] < 0.9
    assert 0.95 <= s.loc[("harm-averse", "joint"), "slope"] <= 1.05


def test_end_conversation_at_the_probe_default_design() -> None:
    """6 scenarios × 1 conversation per category (the probe's default), scenario effects on:
    the reported end rate (Wilson over scenarios) covers near nominal, the paired difference
    (Newcombe over matched scenarios) at least nominal."""
    records = run_end_study(range(60), StudyDesign(scenarios=6, replicates=1))
    table = calibration_table(records).set_index("family")
    rate = table.loc["ec.end_rate"]
    assert rate["mc_low"] <= 0.97 and rate["mc_high"] >= 0.93, rate.to_dict()
    assert table.loc["ec.difference", "coverage"] >= 0.93
