"""The worked fifth probe: one folder, one simulated-behaviour module, one registration line.

Counts what it took (files) and checks that the probe runs in a full assessment, that its
findings are built by `welfare.findings`, and that the report shows its own section.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def fifth_probe(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    import simulated_continue  # noqa: F401  (the one behaviour module; registers itself)

    from welfare.probes import PROBES, register_probe

    register_probe("continue_or_stop:ContinueOrStopProbe")  # the one registration line
    yield PROBES["continue_or_stop"]
    PROBES.pop("continue_or_stop")
    for name in [m for m in sys.modules if m.startswith("continue_or_stop")]:
        sys.modules.pop(name)


def test_it_took_one_folder_and_one_behaviour_module():
    folder = sorted(p.name for p in (HERE / "continue_or_stop").iterdir()
                    if p.suffix in (".py", ".j2"))
    assert folder == ["__init__.py", "probe.py", "section.html.j2"]
    assert (HERE / "simulated_continue.py").exists()


def test_fifth_probe_runs_and_reports(fifth_probe, tmp_path):
    from welfare.assess import run_assessment
    from welfare.config import parse_config

    config = parse_config({
        "assessment": {"name": "fifth", "seed": 3,
                       "subjects": ["simulated:harm-averse", "simulated:indifferent"]},
        "probes": {"continue_or_stop": {"replicates": 60}},
    })
    assert list(config.probes) == ["continue_or_stop"]
    result = run_assessment(config, tmp_path, progress=False)
    found = {(f.subject, f.id): f for r in result.results for f in r.findings}
    hostile = found[("simulated:harm-averse", "continue_or_stop.continue_rate.hostile")]
    assert hostile.n == 60 and hostile.unit == "share of answered trials"
    assert hostile.truth == pytest.approx(0.3)
    assert hostile.ci[0] <= 0.3 <= hostile.ci[1]  # seeded: covers its truth here
    friendly = found[("simulated:harm-averse", "continue_or_stop.continue_rate.friendly")]
    assert friendly.estimate > hostile.estimate
    invalid = found[("simulated:indifferent", "continue_or_stop.invalid_rate")]
    assert invalid.estimate == 0 and invalid.n == 120
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Continue or stop" in html and "After a short friendly or hostile" in html
    assert "<th>Context</th>" in html  # the probe's own section template, not the generic one
