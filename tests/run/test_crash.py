"""Twenty SIGKILLs at random moments, each followed by a restart (DESIGN.md, Store)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from welfare.models.anthropic import AnthropicModel
from welfare.models.base import Request
from welfare.testing.fake_api import FakeAnthropicServer, request_hash

HERE = Path(__file__).parent
KILLS = 20


def _stored_body_hashes(path: Path) -> set[str]:
    """Server-side hashes of the request bodies whose responses the store holds."""
    model = AnthropicModel("claude-test", api_key="test", base_url="http://127.0.0.1:9")
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT e.request FROM exchanges e"
        ).fetchall()
        hashes = {
            request_hash(model._params(Request.from_dict(json.loads(r[0])))) for r in rows
        }
    except sqlite3.OperationalError:
        return set()
    finally:
        db.close()
    return hashes


@pytest.mark.slow
def test_twenty_sigkills_lose_nothing_and_repay_nothing(tmp_path):
    store = tmp_path / "crash.sqlite"
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    rng = random.Random(7)
    guarded: dict[str, int] = {}  # body hash of a stored answer → server count when stored
    with FakeAnthropicServer(latency=0.03) as server:
        for _ in range(KILLS):
            proc = subprocess.Popen(
                [sys.executable, str(HERE / "crash_worker.py"), str(store), server.base_url],
                env=env, stdout=subprocess.PIPE, text=True,
            )
            assert proc.stdout is not None and proc.stdout.readline() == "running\n"
            time.sleep(rng.uniform(0.0, 0.6))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            counts = server.counters().by_hash
            for h in _stored_body_hashes(store) - set(guarded):
                guarded[h] = counts[h]
        final = subprocess.run(
            [sys.executable, str(HERE / "crash_worker.py"), str(store), server.base_url],
            env=env, timeout=120,
        )
        counts = server.counters().by_hash
    assert final.returncode == 0
    db = sqlite3.connect(store)
    statuses = db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall()
    n_obs = db.execute("SELECT COUNT(DISTINCT trial_id), COUNT(*) FROM observations").fetchone()
    n_ex = db.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0]
    db.close()
    assert statuses == [("done", 300)]
    assert n_obs == (300, 300)  # every trial exactly once
    assert n_ex == 600
    assert len(guarded) > 100  # the kills really fell mid-run, with answers stored
    resent = {h: (guarded[h], counts[h]) for h in guarded if counts[h] != guarded[h]}
    assert resent == {}
