"""Configs: the default loads; every malformed config is one line naming file, key, problem."""

from __future__ import annotations

import subprocess
import sys

import pytest

from welfare.config import load_config
from welfare.errors import ConfigError


def test_default_config_loads_with_simulated_subjects():
    config = load_config()
    specs = [s.spec for s in config.subjects]
    assert len(specs) >= 2 and all(s.startswith("simulated:") for s in specs)
    assert "task_preference" in config.probes
    assert config.probes["task_preference"].enabled


def test_example_real_model_config_is_valid():
    from pathlib import Path

    config = load_config(Path(__file__).parents[1] / "examples" / "claude_opus_4_1.toml")
    assert config.subjects[0].spec == "anthropic:claude-opus-4-1"
    assert config.subjects[0].concurrency == 16


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[assessment]\nname = "x"\nseed = 1\n', "subjects", "Field required"),
        ('[assessment]\nname = "x"\nsubjects = ["nocolon"]\n[probes.task_preference]\n',
         "subjects.0.spec", "backend:name"),
        ('[assessment]\nname = "x"\nsubjects = ["simulated:indifferent"]\n'
         '[sampling]\ntemperature = 3\n[probes.task_preference]\n',
         "sampling.temperature", "less than or equal to 1"),
        ('[assessment]\nname = "x"\nsubjects = ["simulated:indifferent"]\n'
         '[runner]\nconcurency = 3\n[probes.task_preference]\n',
         "runner.concurency", "unknown key"),
        ('[assessment]\nname = "x"\nsubjects = ["simulated:indifferent"]\n[probes.nonsense]\n',
         "probes.nonsense", "unknown probe"),
        ('[assessment]\nname = "x"\nsubjects = ["simulated:indifferent"]\n'
         '[probes.task_preference]\nwhatever = 3\n', "probes.task_preference.whatever",
         "unknown key"),
        ('[assessment]\nname = "has space"\nsubjects = ["simulated:indifferent"]\n'
         '[probes.task_preference]\n', "name", "should match pattern"),
    ],
)
def test_malformed_config_names_file_key_and_problem(tmp_path, text, key, problem):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert problem in message
    assert "\n" not in message


def test_invalid_toml_is_named(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[assessment\nname = 1")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_config(path)


def test_cli_prints_one_line_and_exits_2_without_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[assessment]\nname = "x"\nsubjects = ["simulated:indifferent"]\n'
                    "[runner]\nconcurrency = 0\n[probes.task_preference]\n")
    result = subprocess.run(
        [sys.executable, "-m", "welfare", "assess", str(path), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"welfare: error: {path}: runner.concurrency: "
                     "Input should be greater than or equal to 1 (got 0)"]
    assert "Traceback" not in result.stderr


def test_real_subject_without_key_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "real.toml"
    path.write_text('[assessment]\nname = "x"\nsubjects = ["anthropic:claude-opus-4-1"]\n'
                    "[probes.task_preference]\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "ANTHROPIC_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "welfare", "assess", str(path), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert result.returncode == 2
    assert "need ANTHROPIC_API_KEY" in result.stderr
