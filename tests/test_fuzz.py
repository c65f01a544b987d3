"""Fuzz: config files and JSONL transcripts never raise anything but the toolkit's own errors.

Hypothesis generates config files (well-formed TOML with keys and values mutated, and raw
bytes) and JSONL files (transcript-shaped records with mutated fields, arbitrary JSON, raw
bytes). A config either loads or raises a `WelfareError` (one line, no traceback in the CLI);
`welfare code` counts every line as a transcript, a blank line or a bad line, and never raises.
The counts of generated inputs are printed (`pytest -s`) and asserted.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from welfare.config import load_config  # noqa: E402
from welfare.errors import WelfareError  # noqa: E402
from welfare.run.monitor import run_coding  # noqa: E402

EXAMPLES = 250
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
COUNTS = {"configs": 0, "config_errors": 0, "jsonl_files": 0, "jsonl_lines": 0}

scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(), st.booleans(),
    st.text(max_size=30), st.sampled_from(["simulated:harm-averse", "simulated:nope", "x",
                                           "anthropic:", ":", "builtin:coders/lexicon.toml",
                                           "../../etc/passwd", "=cmd|' /C calc'!A0"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)
keys = st.one_of(
    st.sampled_from(["name", "seed", "subjects", "sampling", "runner", "coders", "probes",
                     "source", "max_tokens", "temperature", "concurrency", "replicates",
                     "enabled", "bank", "lexicon", "codebook", "judge", "spec", "label",
                     "task_sample", "comparisons_per_task", "bootstrap", "turns"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10),
)
PROBES = ["task_preference", "self_report", "end_conversation", "self_interaction", "nope"]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


@st.composite
def config_text(draw: st.DrawFn) -> bytes:
    """A TOML config: the valid skeleton with random keys and values mutated in."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    assessment: dict[str, Any] = {"name": "fuzz", "seed": 1,
                                  "subjects": ["simulated:harm-averse"]}
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        assessment[draw(keys)] = draw(values)
    lines = ["[assessment]"] + [f"{json.dumps(k)} = {toml_value(v)}"
                                for k, v in assessment.items()]
    for table in draw(st.lists(st.sampled_from(["sampling", "runner", "coders"]), max_size=2,
                               unique=True)):
        lines.append(f"[{table}]")
        lines += [f"{json.dumps(draw(keys))} = {toml_value(draw(values))}"
                  for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2])))]
    for probe in draw(st.lists(st.sampled_from(PROBES), max_size=2, unique=True)):
        lines.append(f"[probes.{probe}]")
        lines += [f"{json.dumps(draw(keys))} = {toml_value(draw(values))}"
                  for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2])))]
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 9)) == 0:  # a cut or a stray byte
        cut = draw(st.integers(0, len(text)))
        return text[:cut].encode() + draw(st.binary(max_size=3))
    return text.encode()


@FUZZ
@given(data=config_text())
def fuzz_configs(data: bytes) -> None:
    """One generated config file: it loads, or raises one WelfareError of one line."""
    COUNTS["configs"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.toml"
        path.write_bytes(data)
        try:
            load_config(path)
        except WelfareError as exc:
            COUNTS["config_errors"] += 1
            assert "\n" not in str(exc)


def test_fuzzed_configs_load_or_raise_one_welfare_error() -> None:
    before = dict(COUNTS)
    fuzz_configs()
    made = COUNTS["configs"] - before["configs"]
    errors = COUNTS["config_errors"] - before["config_errors"]
    print(f"\nfuzz: {made} config files generated, {errors} refused with one line, "
          f"{made - errors} loaded, 0 other exceptions")
    assert made >= EXAMPLES and 0 < errors < made


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=20))
json_values = st.recursive(
    json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                       st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=10)
blocks = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.one_of(st.text(), json_values)}),
    st.fixed_dictionaries({"type": st.sampled_from(["tool_use", "image", "x"])}),
    json_values,
)
messages = st.fixed_dictionaries({
    "role": st.sampled_from(["user", "assistant", "system", 3]),
    "content": st.one_of(st.text(max_size=60), st.lists(blocks, max_size=3), json_values),
})
records = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=10), st.integers(), json_values)},
    optional={"messages": st.one_of(st.lists(messages, max_size=4), json_values)},
)


@st.composite
def jsonl_lines(draw: st.DrawFn) -> list[bytes]:
    out = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            out.append(draw(st.binary(max_size=40)).replace(b"\n", b" "))
        elif kind == 1:
            out.append(b"[" * draw(st.integers(500, 5000)))
        elif kind == 2:
            out.append(json.dumps(draw(json_values)).encode())
        else:
            out.append(json.dumps(draw(records)).encode())
    return out


@FUZZ
@given(lines=jsonl_lines(), gz=st.booleans())
def fuzz_jsonl(lines: list[bytes], gz: bool) -> None:
    """One generated JSONL file: every line is coded, blank or counted bad; nothing raises."""
    import gzip

    COUNTS["jsonl_files"] += 1
    COUNTS["jsonl_lines"] += len(lines)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("in.jsonl.gz" if gz else "in.jsonl")
        data = b"\n".join(lines) + b"\n"
        path.write_bytes(gzip.compress(data) if gz else data)
        run = run_coding(path, Path(tmp) / "out")
        s = run.summary
        assert s["lines"] == len(lines)
        assert s["transcripts"] + s["blank_lines"] + s["bad_lines"] == len(lines)
        assert (Path(tmp) / "out" / "report.html").is_file()


def test_fuzzed_jsonl_is_coded_or_counted_never_a_crash(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    # The figure (matplotlib, ~1 s) is drawn from the summary alone and tested elsewhere;
    # here every generated file goes through reading, counting, the CSV and the HTML page.
    from welfare.report.plots import coders

    monkeypatch.setattr(coders, "monitor_figure", lambda summary, names: "")
    before = dict(COUNTS)
    fuzz_jsonl()
    files = COUNTS["jsonl_files"] - before["jsonl_files"]
    lines = COUNTS["jsonl_lines"] - before["jsonl_lines"]
    print(f"\nfuzz: {files} JSONL files ({lines} lines) generated, 0 exceptions")
    assert files >= EXAMPLES
