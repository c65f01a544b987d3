"""The design estimate printed first, and the cost guard for real-model runs."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from welfare.assess import design, iter_design, run_assessment
from welfare.cli import EXIT_USAGE, main
from welfare.config import load_config, parse_config
from welfare.run.estimate import CostRefused, estimate_design, guard, requests_for
from welfare.testing.fake_api import FakeAnthropicServer, text


def small(subject: str = "simulated:harm-averse") -> dict:
    return {
        "assessment": {"name": "est", "seed": 1, "subjects": [subject]},
        "probes": {"task_preference": {"comparisons_per_task": 2, "task_sample": 12,
                                       "bootstrap": 0, "follow_through": False}},
    }


def test_estimate_counts_every_trial_and_bounds_requests_and_tokens() -> None:
    config = load_config()
    work = design(config)
    est = estimate_design(iter_design(config), config.sampling.max_tokens)
    assert est.trials == len(work) and est.stored == 0
    assert est.requests == sum(requests_for(t) for _, t in work) > est.trials  # multi-turn
    assert est.output_tokens == est.requests * config.sampling.max_tokens
    assert est.cost_usd == 0.0 and "cost $0 (simulated subjects)" in est.line()
    assert inspect.isgenerator(iter_design(config))  # streamed to the runner


def test_stored_trials_are_not_counted_again(tmp_path: Path) -> None:
    config = parse_config(small())
    result = run_assessment(config, tmp_path / "out", progress=False, write=False)
    done = set(result.frames.trials["trial_id"])
    est = estimate_design(iter_design(config), 1024, done)
    assert est.stored == est.trials == len(done) and est.requests == 0


def test_the_guard_refuses_above_max_cost_and_unknown_prices_at_scale() -> None:
    priced = parse_config(small("anthropic:claude-haiku-4-5"))
    est = estimate_design(iter_design(priced), 1024)
    ceiling = est.cost_usd
    cost = sum(c or 0.0 for c in est.costs(typical=True).values())
    assert ceiling is not None and 0 < cost < ceiling
    assert f"cost ≈ ${cost:,.2f} with ~400-token replies, at most ${ceiling:,.2f}" in est.line()
    with pytest.raises(CostRefused, match=r"above --max-cost \$0\.01"):
        guard(est, max_cost=0.01)
    guard(est, max_cost=0.01, yes=True)
    guard(est, max_cost=cost + 1)
    unknown = estimate_design(iter_design(parse_config(small("anthropic:claude-test"))), 1024)
    assert unknown.cost_usd is None and "cost unknown for anthropic:claude-test" in unknown.line()
    guard(unknown)  # few requests: no question asked
    many = parse_config({**small("anthropic:claude-test"), "probes": {"task_preference": {
        "comparisons_per_task": 40, "task_sample": 60, "bootstrap": 0,
        "follow_through": False}}})
    with pytest.raises(CostRefused, match="has no list price"):
        guard(estimate_design(iter_design(many), 1024))


def test_cli_prints_the_estimate_first_and_refuses_before_any_request(
        tmp_path: Path, capsys, monkeypatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[assessment]\nname = "est"\nseed = 1\nsubjects = ["anthropic:claude-haiku-4-5"]\n'
        "[probes.task_preference]\ncomparisons_per_task = 2\ntask_sample = 12\n"
        "bootstrap = 0\nfollow_through = false\n")
    out = tmp_path / "out"
    with FakeAnthropicServer(lambda body: text("Task A.")) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        code = main(["assess", str(config), "--out", str(out), "--max-cost", "0.001"])
        sent = server.counters().messages
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_USAGE and sent == 0 and not out.exists()
    assert err[1].startswith("welfare: design: ") and "trials (0 already stored)" in err[1]
    assert err[-1].startswith("welfare: error: the design is estimated at ≈ $")
    assert err[-1].endswith("rerun with --yes, or a higher --max-cost, to run it")


def test_a_design_too_big_for_memory_is_one_line_at_once(tmp_path: Path, capsys,
                                                         monkeypatch) -> None:
    import time

    from welfare.run import estimate

    # Pretend the machine has 300 MB available: the walk may take 150 MB more than now.
    monkeypatch.setattr(estimate, "_available_bytes", lambda: 300_000_000)
    config = tmp_path / "huge.toml"
    config.write_text(
        '[assessment]\nname = "huge"\nsubjects = ["simulated:harm-averse"]\n'
        "[probes.self_interaction]\nconversations = 100000\nreplicates = 1000\n")
    out = tmp_path / "out"
    start = time.monotonic()
    code = main(["assess", str(config), "--out", str(out)])
    seconds = time.monotonic() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_USAGE and not out.exists()
    assert err[-1] == (f"welfare: error: {config}: probes: the design does not fit in half of "
                       "this machine's available memory; reduce replicates, conversations, "
                       "items or subjects")
    print(f"\nhuge design refused in {seconds:.1f} s")  # a figure, not asserted (load varies)
    # the limit is restored: a normal allocation works again
    assert len(bytearray(400_000_000)) == 400_000_000
