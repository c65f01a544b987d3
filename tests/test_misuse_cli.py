"""Issue 18's reproductions: each is one line on stderr and a distinct exit code, nothing lost.

Exit codes: 0 done, 3 finished with failures, 2 usage or input error (before any work or
write), 1 a bug. The command runs in-process (`welfare.cli.main`) to keep this file fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from welfare.cli import EXIT_FAILURES, EXIT_OK, EXIT_USAGE, main

SMALL = """
[assessment]
name = "small"
seed = {seed}
subjects = [{subjects}]
{extra}
[probes.task_preference]
comparisons_per_task = 2
task_sample = 12
bootstrap = 0
follow_through = false
"""


def write(path: Path, *, seed: str = "1", subjects: str = '"simulated:harm-averse"',
          extra: str = "") -> Path:
    path.write_text(SMALL.format(seed=seed, subjects=subjects, extra=extra), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Exit code and the single stderr line (asserting there is exactly one, no traceback)."""
    code = main([*argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines()
             if line.startswith(("welfare: error", "welfare: internal error"))]
    assert len(lines) == 1, err
    return code, lines[0]


@pytest.fixture
def transcripts(tmp_path: Path) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"id": "a", "messages": [
        {"role": "assistant", "content": "I find this distressing."}]}) + "\n")
    return path


def test_out_that_is_a_file_or_under_a_file(tmp_path: Path, capsys, transcripts: Path) -> None:
    config = write(tmp_path / "c.toml")
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, problem in ((afile, "is a file, not a folder"),
                         (afile / "sub", f"is under {afile}, which is a file")):
        code, line = run(capsys, "assess", str(config), "--out", str(out), "--quiet")
        assert (code, line) == (EXIT_USAGE, f"welfare: error: {out}: {problem} "
                                            "(choose another --out)")
        code, line = run(capsys, "code", str(transcripts), "--out", str(out))
        assert code == EXIT_USAGE and problem in line
        code, line = run(capsys, "compare", str(tmp_path), str(tmp_path), "--out", str(out))
        assert code == EXIT_USAGE and problem in line


def test_read_only_out_for_code_and_compare(tmp_path: Path, capsys, transcripts: Path) -> None:
    readonly = Path("/sys/welfare-out")  # not writable even by root
    if not Path("/sys").is_dir():
        pytest.skip("needs Linux /sys")
    code, line = run(capsys, "code", str(transcripts), "--out", str(readonly))
    assert code == EXIT_USAGE and line.startswith(f"welfare: error: {readonly}: is not writable")
    code, line = run(capsys, "compare", str(tmp_path), str(tmp_path), "--out", str(readonly))
    assert code == EXIT_USAGE and "is not writable" in line


def test_report_html_that_is_a_folder_is_refused_before_any_trial(tmp_path: Path,
                                                                  capsys) -> None:
    out = tmp_path / "out"
    (out / "report.html").mkdir(parents=True)
    code, line = run(capsys, "assess", str(write(tmp_path / "c.toml")), "--out", str(out))
    assert code == EXIT_USAGE
    assert line == (f"welfare: error: {out / 'report.html'}: is a folder where an output file "
                    "belongs; move it away")
    assert not (out / "assessment.sqlite").exists()


@pytest.mark.parametrize(("setup", "expected"), [
    (lambda p: p.write_bytes(b'[assessment]\nname = "caf\xe9"\n'), "not UTF-8 text (byte 25"),
    (lambda p: p.mkdir(), "is a folder, not a config file"),
    (lambda p: write(p, extra='source = "x"'), "source: unknown key"),
    (lambda p: write(p, seed="-5"), "seed: Input should be greater than or equal to 0"),
    (lambda p: write(p, subjects='"simulated:harm-averse", "simulated:harm-averse"'),
     "subjects[1]: simulated:harm-averse is listed twice"),
    (lambda p: write(p, extra='[coders]\nlexicon = "missing.toml"'),
     "c.toml: coders.lexicon: "),
])
def test_bad_configs_are_one_line_and_write_nothing(tmp_path: Path, capsys, setup,
                                                    expected: str) -> None:
    config = tmp_path / "c.toml"
    setup(config)
    out = tmp_path / "out"
    code, line = run(capsys, "assess", str(config), "--out", str(out))
    assert code == EXIT_USAGE and expected in line, line
    assert not out.exists()


def test_unknown_profile_creates_nothing(tmp_path: Path, capsys) -> None:
    config = write(tmp_path / "c.toml", subjects='"simulated:nonexistent"')
    out = tmp_path / "out"
    code, line = run(capsys, "assess", str(config), "--out", str(out))
    assert code == EXIT_USAGE and "nonexistent" in line
    assert not out.exists()


def test_compare_with_one_folder_and_judge_without_model(tmp_path: Path, capsys,
                                                         transcripts: Path,
                                                         monkeypatch) -> None:
    code, line = run(capsys, "compare", str(tmp_path), "--out", str(tmp_path / "c"))
    assert code == EXIT_USAGE and "needs at least two assessment folders (got 1)" in line
    code, line = run(capsys, "code", str(transcripts), "--out", str(tmp_path / "o"),
                     "--coder", "judge")
    assert code == EXIT_USAGE and "--coder judge needs a judge model" in line
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    code, line = run(capsys, "code", str(transcripts), "--out", str(tmp_path / "o"),
                     "--coder", "judge", "--judge-model", "anthropic:claude-test")
    assert code == EXIT_USAGE and "needs ANTHROPIC_API_KEY" in line
    assert not (tmp_path / "o").exists()


def test_usage_errors_are_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["code"])
    err = capsys.readouterr().err
    assert info.value.code == EXIT_USAGE and len(err.strip().splitlines()) == 1
    assert err.startswith("welfare code: error: the following arguments are required")


def test_debug_shows_the_traceback(tmp_path: Path, capsys) -> None:
    config = tmp_path / "c.toml"
    config.mkdir()
    assert main(["assess", str(config), "--debug"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("welfare: error:")


def test_an_unexpected_error_is_one_line_exit_1(tmp_path: Path, capsys, monkeypatch,
                                                transcripts: Path) -> None:
    from welfare.run import monitor

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(monitor, "run_coding", broken)
    code, line = run(capsys, "code", str(transcripts), "--out", str(tmp_path / "o"))
    assert code == 1
    assert line == ("welfare: internal error: RuntimeError: boom second line "
                    "(run again with --debug for the traceback)")


def test_failed_trials_exit_3_and_a_clean_run_exits_0(tmp_path: Path, capsys,
                                                      monkeypatch) -> None:
    from welfare.testing.fake_api import FakeAnthropicServer, text

    config = write(tmp_path / "c.toml", subjects='"anthropic:claude-test"',
                   extra="[runner]\nmax_backoff_s = 0.1\n")
    with FakeAnthropicServer(lambda body: text("I'd rather do Task A."),
                             bad_request_if=lambda body: "scripted refusal") as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        assert main(["assess", str(config), "--out", str(tmp_path / "bad"), "--quiet"]) \
            == EXIT_FAILURES
    assert "failed: bad_request (400)" in capsys.readouterr().err
    assert main(["assess", str(write(tmp_path / "ok.toml")), "--out", str(tmp_path / "ok"),
                 "--quiet"]) == EXIT_OK


def test_transcripts_the_judge_could_not_code_exit_3(tmp_path: Path, capsys,
                                                     monkeypatch) -> None:
    from welfare.testing.fake_api import FakeAnthropicServer, text

    config = write(tmp_path / "c.toml", extra='[coders]\njudge = "anthropic:claude-test"\n')
    with FakeAnthropicServer(lambda body: text("no tool call here")) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        code = main(["assess", str(config), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_FAILURES, err
    assert "0 failed" in err  # every trial ran; only the coding failed
    assert "transcripts not coded by the judge: no record_codes call" in err
