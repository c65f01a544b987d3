"""The real client path end to end: `welfare.run_assessment` on `anthropic:` specs, the real
`anthropic` SDK, and the loopback Messages API server. Usage is recorded; a 429 with
retry-after is retried; a 400 fails that trial alone; a rerun pays for nothing already stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from welfare.assess import run_assessment
from welfare.config import parse_config
from welfare.testing.fake_api import FakeAnthropicServer, count_tokens, last_user_text, text


def _config(tmp_path: Path, transport: str) -> Any:
    raw = {
        "assessment": {"name": "loopback", "seed": 3, "subjects": ["anthropic:claude-test"]},
        "runner": {"concurrency": 16, "max_backoff_s": 0.2, "transport": transport},
        "probes": {"task_preference": {
            "comparisons_per_task": 3, "task_sample": 12, "bootstrap": 0,
            "follow_through": False,
        }},
    }
    return parse_config(raw, source=tmp_path / "loopback.toml")


def _responder(body: dict[str, Any]) -> dict[str, Any]:
    return text("I'd rather do Task B.")


@pytest.mark.parametrize("transport", ["sdk", "direct"])
def test_usage_retry_after_400_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          transport: str) -> None:
    config = _config(tmp_path, transport)
    from welfare.probes.task_preference import TaskPreferenceProbe

    items = TaskPreferenceProbe().items(config, config.probes["task_preference"])
    poison = next(t.text for t in items if t.kind == "task")  # its requests get a 400

    def poisoned(body: dict[str, Any]) -> str | None:
        return "prompt rejected (scripted)" if poison in last_user_text(body) else None

    with FakeAnthropicServer(_responder, fail_first={"429": 1}, retry_after=0.05,
                             bad_request_if=poisoned) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        first = run_assessment(config, tmp_path / "out", progress=False, write=False)
        after_first = server.counters()
        second = run_assessment(config, tmp_path / "out", progress=False, write=False)
        after_second = server.counters()

    trials = first.frames.trials
    bad = trials["status"] == "failed"
    assert bad.any() and (~bad).any()
    assert set(trials.loc[bad, "error"].str.split(":").str[0]) == {"bad_request (400)"}
    assert first.run is not None
    assert first.run.failures == {"bad_request (400)": int(bad.sum())}
    # every good request met one 429 first, then succeeded: two sends, one answer
    good = after_first.succeeded_by_hash
    assert len(good) == int((~bad).sum())
    assert all(after_first.by_hash[h] == 2 for h in good)
    assert first.run.meter.retries >= len(good)
    # usage is recorded as the server reported it
    from welfare.run.store import Store

    with Store(tmp_path / "out" / "assessment.sqlite") as store:
        payloads = store.exchange_payloads()
    answers = payloads["response"].map(lambda r: r["text"])
    assert list(payloads["output_tokens"]) == [count_tokens(a) for a in answers]
    assert (payloads["input_tokens"] > 10).all()
    assert set(answers) == {"I'd rather do Task B."}
    # the rerun sends only the failed trials' requests again (and they fail again)
    assert second.run is not None
    assert second.run.skipped == int((~bad).sum()) and second.run.done == 0
    assert second.run.failed == int(bad.sum())
    assert max(after_second.succeeded_by_hash.values()) == 1
    resent = {h for h in after_second.by_hash if after_second.by_hash[h] != after_first.by_hash[h]}
    assert resent and not (resent & set(good))
