"""Published values in tests/data/refdata, compared at half a unit of the last published digit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from welfare.stats import (
    bradley_terry,
    bradley_terry_fit,
    clopper_pearson,
    cohen_kappa,
    fleiss_kappa,
    kaplan_meier,
    krippendorff_alpha,
    logrank_test,
    newcombe_difference,
    wilson_interval,
)

REF = Path(__file__).resolve().parents[1] / "data" / "refdata"


def load(name: str) -> dict:
    return json.loads((REF / name).read_text())


def half(decimals: int) -> float:
    return 0.5 * 10.0**-decimals


def sig_half(value: float, digits: int) -> float:
    """Half a unit of the last of ``digits`` significant digits (exact zero: 1e-12)."""
    if value == 0:
        return 1e-12
    return 0.5 * 10.0 ** (np.floor(np.log10(abs(value))) - digits + 1)


def test_krippendorff_wikipedia_published_and_package_precision() -> None:
    ref = load("krippendorff_wikipedia_3coders_15units.json")
    data = np.array([[np.nan if v is None else v for v in row] for row in ref["data"]])
    for level, value in ref["expected_published"].items():
        assert abs(krippendorff_alpha(data, level) - value) <= half(3)
    pkg = ref["expected_package_tests"]
    for level in ("nominal", "interval"):
        assert abs(krippendorff_alpha(data, level) - pkg[level]) <= half(pkg["decimals"])


def test_krippendorff_exact_rationals_all_levels() -> None:
    ref = load("krippendorff_wikipedia_3coders_15units.json")
    data = np.array([[np.nan if v is None else v for v in row] for row in ref["data"]])
    for level, frac in ref["exact_rational_computed_here"].items():
        num, den = map(int, frac.split("/"))
        assert krippendorff_alpha(data, level) == pytest.approx(num / den, abs=1e-12)


def test_fleiss_wikipedia() -> None:
    ref = load("fleiss_wikipedia_10subjects_14raters.json")
    assert abs(fleiss_kappa(ref["counts"]) - ref["expected_published"]["kappa"]) <= half(3)
    csv = pd.read_csv(REF / "fleiss_wikipedia_10subjects_14raters.csv", index_col="subject")
    assert abs(fleiss_kappa(csv) - 0.210) <= half(3)


@pytest.mark.parametrize(
    ("key", "anchor"),
    [("ref_Biometrika_0", "Biometrika"), ("ref_JASA_0", "JASA"), ("sum_to_zero_contr.sum", None)],
)
def test_bradley_terry_stigler_citations(key: str, anchor: str | None) -> None:
    ref = load("bt_citations_stigler1994.json")
    df = pd.read_csv(REF / "bt_citations_stigler1994.csv").rename(
        columns={"winner_cited": "winner", "loser_citing": "loser"}
    )
    table = bradley_terry(df, anchor=anchor)
    exp = ref["expected"][key]
    # printed to 7 significant digits: half a unit of the 7th significant digit
    for item, value in exp["ability"].items():
        assert abs(table.loc[item, "score"] - value) <= sig_half(value, 7)
    for item, value in exp["se"].items():
        assert abs(table.loc[item, "se"] - value) <= sig_half(value, 7)


def test_bradley_terry_stigler_from_json_wins() -> None:
    ref = load("bt_citations_stigler1994.json")
    rows = [
        {"winner": k.split(" > ")[0], "loser": k.split(" > ")[1], "count": v}
        for k, v in ref["wins"].items()
    ]
    fit = bradley_terry_fit(pd.DataFrame(rows), anchor="Biometrika")
    assert abs(fit.scores["Comm Statist"] - -2.9490725) <= sig_half(2.9490725, 7)
    # the JASA-anchored SE of Comm Statist equals the SE of the contrast CommStat − JASA
    c = fit.contrast({"Comm Statist": 1.0, "JASA": -1.0})
    assert abs(c.estimate - -2.4695027) <= sig_half(2.4695027, 7)
    assert abs((c.ci_high - c.estimate) / 1.959963984540054 - 0.09817049) <= sig_half(0.098, 7)


def test_wilson_and_clopper_pearson_newcombe_table_i() -> None:
    ref = load("binomial_ci_newcombe1998.json")
    for case in ref["cases"]:
        x, n = case["x"], case["n"]
        exp = case["expected"]
        lo, hi = wilson_interval(x, n)
        assert abs(lo - exp["3_wilson_score"][0]) <= half(4)
        assert abs(hi - exp["3_wilson_score"][1]) <= half(4)
        lo, hi = wilson_interval(x, n, continuity=True)
        assert abs(lo - exp["4_wilson_score_cc"][0]) <= half(4)
        assert abs(hi - exp["4_wilson_score_cc"][1]) <= half(4)
        lo, hi = clopper_pearson(x, n)
        assert abs(lo - exp["5_clopper_pearson_exact"][0]) <= half(4)
        assert abs(hi - exp["5_clopper_pearson_exact"][1]) <= half(4)


def test_newcombe_difference_table_ii() -> None:
    ref = load("newcombe_difference_1998b.json")
    for case in ref["cases"]:
        est = newcombe_difference(case["x1"], case["n1"], case["x2"], case["n2"])
        assert abs(est.ci_low - case["expected"][0]) <= half(ref["decimals"]), case["id"]
        assert abs(est.ci_high - case["expected"][1]) <= half(ref["decimals"]), case["id"]
        assert est.estimate == pytest.approx(case["x1"] / case["n1"] - case["x2"] / case["n2"])


def _expand(table: list[list[int]]) -> tuple[list[int], list[int]]:
    a: list[int] = []
    b: list[int] = []
    for i, row in enumerate(table):
        for j, c in enumerate(row):
            a += [i] * c
            b += [j] * c
    return a, b


def test_cohen_kappa_wikipedia() -> None:
    ref = load("cohen_kappa_wikipedia.json")
    for case in ref["cases"]:
        a, b = _expand(case["table"])
        assert abs(cohen_kappa(a, b) - case["kappa"]) <= half(case["decimals"])


def test_kaplan_meier_freireich() -> None:
    ref = load("km_logrank_freireich1963.json")
    g = ref["groups"]["6-MP"]
    km = kaplan_meier(g["time"], np.array(g["event"], bool), transform="log")
    ev = km[km["events"] > 0].reset_index(drop=True)
    spec = ref["expected_km_6MP_log_transform"]
    dec = spec["published_decimals"]
    assert len(ev) == len(spec["rows"])
    for row, (t, n_risk, n_event, s, se, lo, hi) in zip(ev.itertuples(), spec["rows"], strict=True):
        assert row.turn == t and row.at_risk == n_risk and row.events == n_event
        assert abs(row.survival - s) <= half(dec["survival"])
        assert abs(row.se - se) <= half(dec["std_err"])
        assert abs(row.ci_low - lo) <= half(dec["ci"])
        assert abs(row.ci_high - hi) <= half(dec["ci"])


def test_logrank_freireich() -> None:
    ref = load("km_logrank_freireich1963.json")
    t, e, grp = [], [], []
    for name, g in ref["groups"].items():
        t += g["time"]
        e += g["event"]
        grp += [name] * len(g["time"])
    res = logrank_test(t, np.array(e, bool), grp)
    exp = ref["expected_logrank"]
    assert res.df == exp["df"]
    assert abs(res.statistic - exp["chisq"]) <= half(exp["chisq_decimals"])
    for name in exp["observed"]:
        assert res.observed[name] == exp["observed"][name]
        assert abs(res.expected[name] - exp["expected"][name]) <= half(exp["expected_decimals"])
