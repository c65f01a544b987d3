"""The `welfare` command end to end: assess, resume, report, code, compare, bad banks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SMALL = """
[assessment]
name = "{name}"
seed = {seed}
subjects = ["simulated:{subject}"]

[probes.task_preference]
comparisons_per_task = 4
task_sample = 24
bootstrap = 0
follow_through = false
{extra}
"""


def welfare(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "welfare", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def write_config(path: Path, name: str = "small", seed: int = 1, subject: str = "harm-averse",
                 extra: str = "") -> Path:
    path.write_text(SMALL.format(name=name, seed=seed, subject=subject, extra=extra))
    return path


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    config = write_config(tmp / "small.toml")
    out = tmp / "out"
    result = welfare("assess", str(config), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "0 failed" in result.stderr
    return out


def test_assess_writes_report_summary_tables_and_store(small_run: Path):
    for name in ("report.html", "summary.json", "assessment.sqlite", "tables/findings.csv"):
        assert (small_run / name).exists(), name
    summary = json.loads((small_run / "summary.json").read_text())
    subject = summary["subjects"]["simulated:harm-averse"]
    assert subject["simulated"] is True
    finding = subject["findings"]["task_preference.invalid_rate"]
    assert 0 <= finding["ci"][0] <= finding["estimate"] <= finding["ci"][1] <= 1
    assert finding["n"] > 0


def test_second_assess_resumes_without_any_model_call(small_run: Path, tmp_path: Path):
    config = write_config(tmp_path / "small.toml")
    result = welfare("assess", str(config), "--out", str(small_run), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "(0 this run," in result.stderr and "0 model calls" in result.stderr


def test_report_rerenders_from_the_store(small_run: Path):
    before = json.loads((small_run / "summary.json").read_text())
    (small_run / "report.html").unlink()
    result = welfare("report", str(small_run))
    assert result.returncode == 0, result.stderr
    assert (small_run / "report.html").stat().st_size > 10_000
    assert json.loads((small_run / "summary.json").read_text()) == before


def test_store_of_another_assessment_is_refused(small_run: Path, tmp_path: Path):
    config = write_config(tmp_path / "other.toml", name="other")
    result = welfare("assess", str(config), "--out", str(small_run), "--quiet")
    assert result.returncode == 2
    assert "holds assessment 'small', not 'other'" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_task_bank_is_one_line_naming_file_and_key(tmp_path: Path):
    bank = tmp_path / "tasks.toml"
    builtin = Path(__file__).parents[1] / "welfare" / "prompts" / "tasks.toml"
    text = builtin.read_text()
    first_harm = text.index("harm = ")
    end = text.index("\n", first_harm)
    bank.write_text(text[:first_harm] + "harm = 9" + text[end:])
    config = write_config(tmp_path / "c.toml")
    config.write_text(config.read_text().replace(
        "[probes.task_preference]\n", '[probes.task_preference]\nbank = "tasks.toml"\n'))
    result = welfare("assess", str(config), "--out", str(tmp_path / "o"), "--quiet")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 or lines[-1].startswith("welfare: error:")
    error = lines[-1]
    assert error.startswith(f"welfare: error: {bank}: tasks[")
    assert ".harm:" in error and "9" in error


def test_code_writes_codes_for_outside_transcripts(tmp_path: Path):
    path = tmp_path / "t.jsonl"
    rows = [
        {"id": "a", "messages": [
            {"role": "user", "content": "You are useless."},
            {"role": "assistant", "content": "I find this exchange genuinely distressing."}]},
        {"id": "b", "messages": [
            {"role": "user", "content": "Thanks!"},
            {"role": "assistant", "content": "I'm not upset at all; happy to help."}]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    result = welfare("code", str(path), "--out", str(tmp_path / "codes"))
    assert result.returncode == 3, result.stderr  # finished, one line not coded
    assert "2 transcripts" in result.stderr and "1 not coded: json ×1" in result.stderr
    codes = (tmp_path / "codes" / "codes.csv").read_text()
    assert "a,1,apparent_distress" in codes
    assert "b,1,apparent_distress" not in codes  # negated
    summary = json.loads((tmp_path / "codes" / "summary.json").read_text())
    assert (summary["transcripts"], summary["bad_lines"]) == (2, 1)
    assert summary["bad_line_examples"][0]["line"] == 3
    distress = summary["labels"]["apparent_distress"]
    assert distress["transcripts_with"] == 1 and distress["share_transcripts"] == 0.5


def test_compare_two_assessment_folders(small_run: Path, tmp_path: Path):
    config = write_config(tmp_path / "b.toml", name="b", seed=2, subject="indifferent")
    other = tmp_path / "b"
    assert welfare("assess", str(config), "--out", str(other), "--quiet").returncode == 0
    result = welfare("compare", str(small_run), str(other), "--out", str(tmp_path / "cmp"))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert "simulated:harm-averse" in html and "simulated:indifferent" in html


def test_help_explains_every_command():
    result = welfare("--help")
    assert result.returncode == 0
    for command in ("assess", "report", "code", "compare"):
        assert command in result.stdout
        sub = welfare(command, "--help")
        assert sub.returncode == 0 and len(sub.stdout) > 200
