"""One run per folder (lock), one config per store (fingerprint), checks before any write."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from welfare.assess import STORE_NAME, run_assessment
from welfare.config import parse_config
from welfare.errors import ConfigError, ConfigMismatch, StoreBusy, StoreError
from welfare.run.fingerprint import design_identity, differences, fingerprint
from welfare.run.lock import LOCK_NAME, FolderLock
from welfare.run.store import Store
from welfare.testing.fake_api import FakeAnthropicServer, text


def raw_config(subjects: list[Any] | None = None, max_tokens: int = 1024,
               replicates: int = 1) -> dict[str, Any]:
    return {
        "assessment": {"name": "small", "seed": 1,
                       "subjects": subjects or ["simulated:harm-averse"]},
        "sampling": {"max_tokens": max_tokens},
        "probes": {"task_preference": {
            "comparisons_per_task": 2, "task_sample": 12, "bootstrap": 0,
            "follow_through": False, "replicates": replicates,
        }},
    }


def config(tmp_path: Path, **kw: Any) -> Any:
    return parse_config(raw_config(**kw), source=tmp_path / "small.toml")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the lock --------------------------------------------------------------------------------

def test_a_held_lock_refuses_with_pid_and_start_time(tmp_path: Path) -> None:
    with FolderLock(tmp_path, what="welfare assess"):
        with pytest.raises(StoreBusy) as info:
            FolderLock(tmp_path).acquire()
        message = str(info.value)
        assert f"in use by another welfare assess (pid {os.getpid()} on " in message
        assert ", started 20" in message
    assert (tmp_path / LOCK_NAME).read_text() == ""  # released: emptied, not deleted
    with FolderLock(tmp_path) as again:
        assert again.held and again.recovered is None


def test_a_lock_left_by_a_killed_run_is_recovered(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from welfare.run.lock import FolderLock; "
         f"FolderLock({str(tmp_path)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(StoreBusy, match=f"pid {holder.pid} "):
        FolderLock(tmp_path).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with FolderLock(tmp_path) as lock:
        assert lock.recovered is not None and lock.recovered["pid"] == holder.pid


# -- one config per store --------------------------------------------------------------------

@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fp")
    result = run_assessment(config(tmp), tmp / "out", progress=False)
    assert result.run is not None and result.run.failed == 0
    return tmp / "out"


def test_the_store_records_the_design_fingerprint(first_run: Path, tmp_path: Path) -> None:
    with Store(first_run / STORE_NAME) as store:
        identity = json.loads(store.meta("design") or "{}")
        assert store.meta("fingerprint") == fingerprint(identity)
    assert identity == design_identity(config(tmp_path))
    # scheduling is not part of the design
    faster = raw_config()
    faster["runner"] = {"concurrency": 3}
    assert design_identity(parse_config(faster)) == identity


@pytest.mark.parametrize(("kw", "differs"), [
    ({"max_tokens": 512}, "sampling.max_tokens"),
    ({"subjects": ["simulated:harm-averse", "simulated:indifferent"]}, "subjects"),
])
def test_another_config_on_the_same_out_is_refused_and_the_store_is_unchanged(
        first_run: Path, tmp_path: Path, kw: dict[str, Any], differs: str) -> None:
    before = digest(first_run / STORE_NAME)
    report = digest(first_run / "report.html")
    with pytest.raises(ConfigMismatch) as info:
        run_assessment(config(tmp_path, **kw), first_run, progress=False)
    assert f"(differs in: {differs})" in str(info.value) and "--force-new" in str(info.value)
    assert digest(first_run / STORE_NAME) == before
    assert digest(first_run / "report.html") == report


def test_extend_accepts_a_design_that_keeps_every_stored_trial(first_run: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "copy"
    out.mkdir()
    (out / STORE_NAME).write_bytes((first_run / STORE_NAME).read_bytes())
    with Store(out / STORE_NAME) as store:
        stored = len(store.trial_ids())
    with pytest.raises(ConfigMismatch, match=r"--extend refused: \d+ of \d+ stored trials"):
        run_assessment(config(tmp_path, max_tokens=512), out, progress=False, extend=True)
    both = config(tmp_path, subjects=["simulated:harm-averse", "simulated:indifferent"])
    result = run_assessment(both, out, progress=False, extend=True, write=False)
    assert result.run is not None
    assert result.run.skipped == stored and result.run.done == stored  # the new subject only
    with Store(out / STORE_NAME) as store:
        assert json.loads(store.meta("design") or "{}") == design_identity(both)


def test_force_new_moves_the_old_store_aside(first_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    out.mkdir()
    (out / STORE_NAME).write_bytes((first_run / STORE_NAME).read_bytes())
    before = digest(out / STORE_NAME)
    result = run_assessment(config(tmp_path, max_tokens=512), out, progress=False,
                            force_new=True, write=False)
    assert result.run is not None and result.run.skipped == 0
    aside = list(out.glob("assessment.replaced-*.sqlite"))
    assert len(aside) == 1 and digest(aside[0]) == before


def test_differences_name_probes_once_and_ignore_options_one_version_lacks() -> None:
    old = {"seed": 1, "probes": {"a": {"x": 1, "y": 2}}}
    new = {"seed": 2, "probes": {"a": {"x": 1, "z": 3}, "b": {"x": 1, "y": 1}}}
    assert differences(old, new) == ["probes.b", "seed"]


# -- duplicate subjects ----------------------------------------------------------------------

@pytest.mark.parametrize(("subjects", "key", "problem"), [
    (["simulated:harm-averse", "simulated:harm-averse"], "subjects[1]",
     "simulated:harm-averse is listed twice (subjects[0] and subjects[1])"),
    ([{"spec": "simulated:harm-averse", "label": "a"},
      {"spec": "simulated:harm-averse", "label": "b"}], "subjects[1]", "listed twice"),
    ([{"spec": "simulated:harm-averse", "label": "a"},
      {"spec": "simulated:indifferent", "label": "a"}], "subjects[1].label",
     "label 'a' is used twice"),
])
def test_duplicate_subjects_are_refused_at_config_time(tmp_path: Path, subjects: list[Any],
                                                       key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(tmp_path, subjects=subjects)
    assert info.value.key == key and problem in info.value.problem


def test_a_refused_name_leaves_the_store_unchanged(first_run: Path, tmp_path: Path) -> None:
    raw = raw_config()
    raw["assessment"]["name"] = "other"
    before = digest(first_run / STORE_NAME)
    with pytest.raises(StoreError, match="holds assessment 'small', not 'other'"):
        run_assessment(parse_config(raw), first_run, progress=False)
    assert digest(first_run / STORE_NAME) == before


# -- two runs at once against the loopback API ------------------------------------------------

def test_two_concurrent_assess_one_refused_the_other_pays_once(tmp_path: Path) -> None:
    cfg = tmp_path / "loop.toml"
    cfg.write_text(
        '[assessment]\nname = "loop"\nseed = 2\nsubjects = ["anthropic:claude-test"]\n'
        "[runner]\nconcurrency = 2\n"
        "[probes.task_preference]\ncomparisons_per_task = 2\ntask_sample = 12\n"
        "bootstrap = 0\nfollow_through = false\n")
    out = tmp_path / "out"
    with FakeAnthropicServer(lambda body: text("I'd rather do Task A."), latency=2.0) as server:
        env = {**os.environ, "ANTHROPIC_BASE_URL": server.base_url,
               "ANTHROPIC_API_KEY": "test", "PYTHONPATH": os.getcwd()}
        cmd = [sys.executable, "-m", "welfare", "assess", str(cfg), "--out", str(out),
               "--quiet"]
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        deadline = time.monotonic() + 60
        while server.counters().messages == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        # the first run is held (slow answers) until the second has been refused
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        server.configure(latency=0.0)
        _, err1 = first.communicate(timeout=300)
        counters = server.counters()
    assert first.returncode == 0, err1
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert lines[-1].startswith(f"welfare: error: {out} is in use by another welfare assess "
                                f"(pid {first.pid} on ")
    assert "Traceback" not in second.stderr
    with Store(out / STORE_NAME) as store:
        planned = len(store.trial_ids())
    assert planned > 0 and counters.messages == planned
    assert max(counters.by_hash.values()) == 1
    print(f"concurrent: second exit {second.returncode}; requests {counters.messages} == "
          f"design {planned}; refusal: {lines[-1]}")
