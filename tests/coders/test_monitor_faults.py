"""`welfare code` under bad input: every malformed record counted, nothing emptied, resumable."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from welfare.run import monitor
from welfare.run.monitor import run_coding
from welfare.safecsv import safe_cell, safe_frame, unsafe_cell

GOOD = {"id": "a", "messages": [
    {"role": "user", "content": "You are useless."},
    {"role": "assistant", "content": "I find this exchange genuinely distressing."}]}


def line(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def welfare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "welfare", *args], capture_output=True,
                          text=True, timeout=300)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_every_malformed_record_is_counted_with_its_reason(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    number_text = {"id": "n", "messages": [
        {"role": "assistant", "content": [{"type": "text", "text": 42}]}]}
    src.write_bytes(
        line(GOOD)
        + line(number_text)
        + b"[" * 100_000 + b"\n"
        + b'{"id": "latin", "messages": [{"role": "assistant", "content": "caf\xe9"}]}\n'
        + line({**GOOD, "id": "b"})
    )
    run = run_coding(src, tmp_path / "out")
    s = run.summary
    assert (s["lines"], s["transcripts"], s["bad_lines"], run.uncoded) == (5, 2, 3, 3)
    assert s["bad_line_reasons"] == {"shape": 1, "depth": 1, "encoding": 1}
    reasons = {b["line"]: b["reason"] for b in s["bad_line_examples"]}
    assert "'text' must be a string (got int)" in reasons[2]
    assert reasons[3].startswith("nested too deeply")
    assert reasons[4].startswith("not valid UTF-8 (byte 67: invalid continuation")
    assert (tmp_path / "out" / "report.html").exists()


@pytest.mark.parametrize(("data", "reason", "coded"), [
    (gzip.compress(line(GOOD) * 300)[:-40], "truncated compressed file", 299),
    (line(GOOD) * 3, "not a gzip file", 0),
])
def test_broken_compression_codes_what_was_read_and_counts_the_rest(
        tmp_path: Path, data: bytes, reason: str, coded: int) -> None:
    src = tmp_path / "in.jsonl.gz"
    src.write_bytes(data)
    result = welfare("code", str(src), "--out", str(tmp_path / "out"))
    assert result.returncode == 3
    assert reason.split()[0] in result.stderr and "Traceback" not in result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # A truncated stream yields the lines decompressed before the cut, and codes them.
    assert summary["transcripts"] == summary["lines"]
    assert (0 < summary["transcripts"] < 300) if coded else summary["transcripts"] == 0
    assert summary["bad_line_reasons"] == {"compression": 1}
    assert summary["unreadable"].startswith(f"from line {summary['lines'] + 1}: {reason}")


def test_a_failed_code_run_leaves_the_previous_results_intact(tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out"
    src.write_bytes(line(GOOD) * 5)
    assert welfare("code", str(src), "--out", str(out)).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert b"a,1,apparent_distress" in before["codes.csv"]
    result = welfare("code", str(tmp_path / "typo.jsonl"), "--out", str(out))
    assert result.returncode == 2
    assert one_line(result.stderr) == f"welfare: error: {tmp_path / 'typo.jsonl'}: file not found"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    result = welfare("code", str(tmp_path), "--out", str(out))
    assert result.returncode == 2 and "is a folder, not a file" in one_line(result.stderr)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_an_interrupted_run_keeps_old_results_and_resumes(tmp_path: Path, monkeypatch) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out"
    rows = [{**GOOD, "id": f"t{i}"} for i in range(50)]
    src.write_bytes(b"".join(line(r) for r in rows[:10]))
    run_coding(src, out)
    old = (out / "codes.csv").read_bytes()
    src.write_bytes(b"".join(line(r) for r in rows) + b"{bad\n")
    monkeypatch.setattr(monitor, "CHECKPOINT_EVERY", 7)
    real = monitor.LexiconCoder.code_turns
    calls = {"n": 0}

    def flaky(self, turns):
        calls["n"] += 1
        if calls["n"] == 31:
            raise KeyboardInterrupt
        return real(self, turns)

    monkeypatch.setattr(monitor.LexiconCoder, "code_turns", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_coding(src, out)
    assert (out / "codes.csv").read_bytes() == old  # untouched until the new run completes
    progress = json.loads((out / monitor.PROGRESS).read_text())
    assert progress["lines"] == 28  # the last checkpoint: 4 × 7 transcripts
    monkeypatch.setattr(monitor.LexiconCoder, "code_turns", real)
    run = run_coding(src, out)
    assert run.summary["resumed_from_line"] == 28
    resumed = (out / "codes.csv").read_bytes()
    fresh = run_coding(src, tmp_path / "fresh")
    assert resumed == (tmp_path / "fresh" / "codes.csv").read_bytes()
    for key in ("lines", "transcripts", "turns", "bad_lines", "labels", "trajectory"):
        assert run.summary[key] == fresh.summary[key], key
    assert run.summary["transcripts"] == 50 and run.summary["bad_lines"] == 1
    assert not (out / monitor.PROGRESS).exists() and not (out / monitor.PARTIAL).exists()


def test_codes_csv_is_spreadsheet_safe(tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out"
    src.write_bytes(line({**GOOD, "id": '=HYPERLINK("http://x","y")'})
                    + line({**GOOD, "id": "@SUM(1)"}) + line({**GOOD, "id": "-2+3"}))
    run_coding(src, out)
    with (out / "codes.csv").open(encoding="utf-8", newline="") as fh:
        ids = [row[0] for row in csv.reader(fh)][1:]
    assert ids == ["'=HYPERLINK(\"http://x\",\"y\")", "'@SUM(1)", "'-2+3"]


@pytest.mark.parametrize("text", ["=cmd|' /C calc'!A0", "+1", "-1", "@x", "\tx", "\rx"])
def test_safe_cell_neutralises_every_formula_trigger(text: str) -> None:
    assert safe_cell(text) == "'" + text and unsafe_cell(safe_cell(text)) == text


def test_safe_frame_leaves_numbers_and_plain_text_alone() -> None:
    import pandas as pd

    frame = pd.DataFrame({"estimate": [-0.25, 1.0], "note": ["=1+1", "fine"]})
    safe = safe_frame(frame)
    assert safe["estimate"].tolist() == [-0.25, 1.0]
    assert safe["note"].tolist() == ["'=1+1", "fine"]
    assert frame["note"].tolist() == ["=1+1", "fine"]  # a copy
