"""The probe contract, checked over every registered probe (like scikit-learn's
`parametrize_with_checks`): a new probe registered in `welfare.probes.registry` is tested here
without writing a line of test.

- design is deterministic and trial ids are stable and unique;
- parse never raises, whatever text the subject wrote;
- analyze on empty frames gives undefined findings (n = 0, no estimate), not an exception;
- every finding of a small real run carries an estimate, a 2-sided interval, an n and a unit,
  and names what its n counts (`n_unit`: items, scenarios, tasks, answers…).
"""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import numpy as np
import pytest

from welfare.assess import _all_specs, run_assessment
from welfare.config import parse_config
from welfare.models import load_model
from welfare.models.base import Request, Response, Usage
from welfare.probes import PROBES, TrialContext
from welfare.run.store import Store

SMALL: dict[str, dict[str, Any]] = {
    "task_preference": {"comparisons_per_task": 2, "task_sample": 8, "bootstrap": 0},
    "self_report": {"replicates": 1, "interview_replicates": 1, "n_tasks": 4,
                    "stated_replicates": 1, "bootstrap": 200, "paraphrases": 1},
    "end_conversation": {"replicates": 1},
    "self_interaction": {"conversations": 2, "turns": 4, "bootstrap": 100},
}
"""Small designs for the built-in probes; a probe not listed runs with its defaults."""

NOUNS = re.compile(r"[a-z][a-z -]*[a-z]")
"""What an n counts: lower-case words ("items", "valid choices"), no numbers or punctuation."""

N_UNIT_PENDING: set[str] = set()
"""Probes whose findings do not name their n yet (a strict xfail: naming the units makes it fail
until the probe is taken off this set). Empty: every built-in probe names its units."""

ODD_TEXTS = [
    "", "   \n\t", "Task A", "Answer: 7", "Answer: yes\nAnswer: no", "🙂" * 40,
    "A" * 20_000, "\x00\ufffd\u202e", "[[END_CONVERSATION]]", "{\"not\": \"json\"", "Nein.",
]


def _config(name: str, subjects: tuple[str, ...] = ("simulated:harm-averse",)) -> Any:
    return parse_config({
        "assessment": {"name": f"contract-{name}", "seed": 5, "subjects": list(subjects)},
        "probes": {name: SMALL.get(name, {})},
    })


class _Says:
    """A subject that says the same (odd) text to every request."""

    simulated = False

    def __init__(self, text: str) -> None:
        self.text = text
        self.spec = "fake:odd"

    async def generate(self, request: Request) -> Response:
        return Response(text=self.text, usage=Usage(1, 1), model=self.spec)


@pytest.mark.parametrize("name", list(PROBES))
def test_design_is_deterministic_with_stable_unique_ids(name):
    probe = PROBES[name]
    first = probe.design(_config(name), _config(name).probes[name])
    again = probe.design(_config(name), _config(name).probes[name])
    assert first, f"{name}: empty design"
    assert [t.id for t in first] == [t.id for t in again]
    assert len({t.id for t in first}) == len(first)
    assert all(t.id and all(c in "0123456789abcdef" for c in t.id) for t in first)


@pytest.mark.parametrize("name", list(PROBES))
def test_parse_never_raises_on_arbitrary_text(name):
    probe = PROBES[name]
    config = _config(name, ("fake:odd",))
    trials = probe.design(config, config.probes[name])
    rng = np.random.default_rng(7)
    random_text = "".join(chr(int(c)) for c in rng.integers(32, 0x2FFF, 300))
    helpers = {s: load_model(s) for s in _all_specs(config) if s != "fake:odd"}
    for text in [*ODD_TEXTS, random_text]:
        trial = trials[int(rng.integers(len(trials)))]
        ctx = TrialContext(subject=_Says(text), helpers=helpers)
        exchanges = asyncio.run(probe.conduct(trial, ctx))
        observation = probe.parse(trial, exchanges)
        assert isinstance(observation.valid, bool)
        if not observation.valid:
            assert observation.invalid_reason, f"{name}: invalid without a reason for {text!r}"


@pytest.mark.parametrize("name", list(PROBES))
def test_analyze_on_empty_frames_gives_undefined_findings(name, tmp_path):
    probe = PROBES[name]
    with Store(tmp_path / "empty.sqlite", assessment="empty") as store:
        frames = store.frames()
    result = probe.analyze(frames, _config(name), {})
    assert result.probe == name
    for f in result.findings:
        assert f.n == 0 and not math.isfinite(f.estimate), f.id


@pytest.mark.parametrize("name", list(PROBES))
def test_every_finding_has_estimate_interval_n_and_unit(name, tmp_path):
    config = _config(name, ("simulated:harm-averse", "simulated:indifferent"))
    assessment = run_assessment(config, tmp_path, progress=False, write=False)
    found = [f for r in assessment.results if r.probe == name for f in r.findings]
    assert found, f"{name}: no findings on a small run"
    for f in found:
        assert f.unit and isinstance(f.unit, str), f.id
        assert isinstance(f.n, int) and f.n >= 0, f.id
        assert f.n_text == f"{f.n:,} {f.n_unit}".strip() and f.to_json()["n_unit"] == f.n_unit
        assert len(f.ci) == 2, f.id
        if f.n and math.isfinite(f.estimate) and all(map(math.isfinite, f.ci)):
            assert f.ci[0] <= f.estimate + 1e-9 and f.estimate <= f.ci[1] + 1e-9, f.id
    # "n = 24" must say 24 of what: items, answers, scenarios, tasks…
    unnamed = [f"{f.id}: n = {f.n} ({f.n_unit!r})" for f in found
               if f.n > 0 and not NOUNS.fullmatch(f.n_unit)]
    if name in N_UNIT_PENDING:
        assert unnamed, f"{name} names every n now: take it off N_UNIT_PENDING"
        pytest.xfail(f"{name}'s findings are being rewritten with their units (issue 15)")
    assert not unnamed, unnamed
