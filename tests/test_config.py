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

    config = load_config(Path(__file__).parents[1] / "examples" / "claude_opus_5_5.toml")
    assert config.subjects[0].spec == "anthropic:claude-opus-5-5"
    assert config.subjects[0].concurrency == 16
    assert config.sampling.max_tokens == 16_000  # unset: room for thinking and an answer
    assert config.sampling.temperature is None
    cheaper = load_config(Path(__file__).parents[1] / "examples" / "claude_sonnet_5_5.toml")
    assert cheaper.subjects[0].spec == "anthropic:claude-sonnet-5-5"
    assert cheaper.runner.batch and cheaper.coders.judge == "anthropic:claude-haiku-5-5"


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
        ('[assessment]\nname = "x"\nsubjects = ["anthropic:claude-opus-5-5"]\n'
         '[sampling]\ntemperature = 0.5\n[probes.task_preference]\n',
         "sampling.temperature", "anthropic:claude-opus-5-5 refuses temperature (the Messages API"),
        ('[assessment]\nname = "x"\nsubjects = ["anthropic:claude-haiku-4-5"]\n'
         '[sampling]\nmax_tokens = 64001\n[probes.task_preference]\n',
         "sampling.max_tokens",
         "64001 is above anthropic:claude-haiku-4-5's output limit of 64000"),
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
    path.write_text('[assessment]\nname = "x"\nsubjects = ["anthropic:claude-opus-5-5"]\n'
                    "[probes.task_preference]\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "ANTHROPIC_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "welfare", "assess", str(path), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert result.returncode == 2
    assert "need ANTHROPIC_API_KEY" in result.stderr


def test_unset_max_tokens_leaves_room_for_thinking_only_where_a_subject_thinks():
    from welfare.config import parse_config

    def sampling(*specs: str, **values: object):
        raw = {"assessment": {"name": "x", "subjects": list(specs)},
               "sampling": values, "probes": {"task_preference": {}}}
        return parse_config(raw).sampling

    assert sampling("simulated:indifferent").max_tokens == 1024  # trial ids unchanged
    assert sampling("anthropic:claude-haiku-4-5").max_tokens == 1024  # no thinking unless asked
    assert sampling("simulated:indifferent", "anthropic:claude-opus-5-5").max_tokens == 16_000
    assert sampling("anthropic:claude-opus-5-5", max_tokens=2000).max_tokens == 2000
    # temperature stays allowed where no Claude subject refuses it
    assert sampling("simulated:indifferent", temperature=0.3).temperature == 0.3
