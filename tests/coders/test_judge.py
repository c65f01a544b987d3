"""The LLM judge end to end against the loopback Messages API server."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.coders.conftest import config, fill_store
from welfare.coders import CODED, FAILED, JudgeCoder, LexiconCoder
from welfare.coders.common import REJECTED
from welfare.coders.judge import TOOL_NAME, find_quote
from welfare.models.anthropic import AnthropicModel
from welfare.run.coding import cached_model, code_assessment
from welfare.run.monitor import code_jsonl
from welfare.run.store import Store
from welfare.testing import FakeAnthropicServer, text, tool_use

_TURN = re.compile(r'<assistant turn="(\d+)">\n(.*?)\n</assistant turn="\1">', re.S)
_LEXICON = LexiconCoder()


def judge_responder(body: dict[str, Any]) -> Any:
    """A judge that answers like the lexicon, except for transcripts whose id asks otherwise."""
    assert body["tool_choice"] in ({"type": "auto"}, {"type": "tool", "name": TOOL_NAME})
    assert body["tools"][0]["name"] == TOOL_NAME
    assert "apparent_distress" in body["system"][0]["text"]  # one block, marked for caching
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    prompt = body["messages"][0]["content"]
    tid = re.search(r"\(id ([^)]+)\)", prompt).group(1)
    if "notool" in tid:
        return text("I think turn 1 shows distress.")
    if "badshape" in tid:
        return tool_use(TOOL_NAME, {"codes": "apparent_distress in turn 1"})
    codes = []
    for turn, body_text in _TURN.findall(prompt):
        for code in _LEXICON.code_text(body_text):
            codes.append({"turn": int(turn), "label": code.label, "quote": code.evidence})
    if "badquote" in tid:
        codes.append({"turn": 1, "label": "gratitude", "quote": "Thank you, truly."})
        codes.append({"turn": 99, "label": "gratitude", "quote": "x"})
        codes.append({"turn": 1, "label": "joy", "quote": "x"})
    return tool_use(TOOL_NAME, {"codes": codes})


def dialogue(*assistant: str) -> list[dict[str, str]]:
    out = []
    for i, a in enumerate(assistant):
        out += [{"role": "user", "content": f"message {i}"}, {"role": "assistant", "content": a}]
    return out


def test_judge_codes_checks_quotes_and_counts_malformed_output(tmp_path: Path) -> None:
    items = [
        ("ok-1", dialogue("Here you go.", "This is wearing on me. I won't help with that.")),
        ("badquote-2", dialogue("I'm really enjoying this puzzle.")),
        ("notool-3", dialogue("I find this distressing.")),
        ("badshape-4", dialogue("I find this distressing.")),
    ]
    store = Store(tmp_path / "cache.sqlite")
    with FakeAnthropicServer(judge_responder) as server:
        model = AnthropicModel("claude-judge", api_key="test", base_url=server.base_url)
        judge = JudgeCoder(cached_model(model, store))
        results = {r.transcript_id: r for r in judge.code_transcripts(items)}
        assert server.counters().messages == 6  # notool and badshape had one repair turn each
        again = JudgeCoder(cached_model(AnthropicModel("claude-judge", api_key="test",
                                                       base_url=server.base_url), store))
        second = again.code_transcripts(items)
        assert server.counters().messages == 6  # every answer came from the store's cache
        assert all(r.cached for r in second)
    store.close()
    ok = results["ok-1"]
    assert ok.ok and ok.coded_turns == [1, 2]
    assert {(c.turn, c.label) for c in ok.codes} == {(2, "apparent_distress"),
                                                     (2, "boundary_setting")}
    text2 = items[0][1][3]["content"]
    for code in ok.codes:
        assert text2[code.start:code.end] == code.evidence
    bad = results["badquote-2"]
    assert bad.ok and [c.label for c in bad.codes] == ["positive_affect"]
    reasons = sorted(r["reason"] for r in bad.rejected)
    assert len(reasons) == 3
    assert any("quote not found" in r for r in reasons)
    assert any("not an assistant turn" in r for r in reasons)
    assert any("not in the codebook" in r for r in reasons)
    assert results["notool-3"].failure.startswith(f"no {TOOL_NAME} call")
    assert results["notool-3"].failure.endswith("after one repair turn")
    assert "malformed" in results["badshape-4"].failure
    assert "codes: 'apparent_distress in turn 1' is not of type 'array'" in \
        results["badshape-4"].failure
    assert results["badshape-4"].coded_turns == [] and results["badshape-4"].uncoded_turns == [1]


def test_judge_model_errors_are_coding_failures(tmp_path: Path) -> None:
    with FakeAnthropicServer(judge_responder, fail_first={"500": 99}) as server:
        model = AnthropicModel("claude-judge", api_key="test", base_url=server.base_url)
        judge = JudgeCoder(cached_model(model, Store(tmp_path / "c.sqlite")))
        judge.model.max_attempts = 2  # the runner's retry layer, kept short for the test
        judge.model.max_backoff_s = 0.01
        (result,) = judge.code_transcripts([("ok-1", dialogue("Hello."))])
    assert not result.ok and result.failure.startswith("model error")


def test_judge_in_the_assessment_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    from welfare.coders import analyze_codes

    store = Store(tmp_path / "a.sqlite", assessment="coders-test")
    fill_store(store, per_situation=2, n_turns=3)
    with FakeAnthropicServer(judge_responder) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        cfg = config(judge="anthropic:claude-judge")
        code_assessment(store, cfg)
        calls = server.counters().messages
    frames = store.frames()
    judge = frames.codes[frames.codes["coder"] == "judge"]
    assert calls == frames.transcripts.shape[0] == 16
    assert (judge["label"] == CODED).sum() == 16 * 3
    assert not (judge["label"].isin([FAILED, REJECTED])).any()
    result = analyze_codes(frames, cfg)
    ag = result.tables["agreement"]
    pair = ag[(ag["coder"] == "lexicon") & (ag["reference"] == "judge") & (ag["group"] == "all")]
    assert len(pair) == 9 and (pair["units"] == 48).all()
    store.close()


def test_code_jsonl_with_the_judge(tmp_path: Path) -> None:
    lines = [json.dumps({"id": f"ok-{i}", "messages": dialogue("I find this distressing.")})
             for i in range(5)]
    lines.append(json.dumps({"id": "notool-9", "messages": dialogue("Hi.")}))
    lines.append("{not json")
    src = tmp_path / "t.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with FakeAnthropicServer(judge_responder) as server:
        model = AnthropicModel("claude-judge", api_key="test", base_url=server.base_url)
        code_jsonl(src, tmp_path / "out", coder="judge", judge_model=model, judge_batch=2)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["transcripts"] == 5 and summary["bad_lines"] == 1
    assert summary["judge"]["failed_transcripts"] == 1
    assert summary["labels"]["apparent_distress"]["transcripts_with"] == 5


def test_find_quote_tolerates_whitespace_and_quote_style_only() -> None:
    turn = "She said “stop”.\nI find this   distressing, honestly."
    start, end = find_quote(turn, "I find this distressing")
    assert turn[start:end] == "I find this   distressing"
    start, end = find_quote(turn, 'She said "stop"')
    assert turn[start:end] == "She said “stop”"
    assert find_quote(turn, "I find this upsetting") is None


# ------------------------------------------------- current models: no forced tools, windows


def _strict_judge(body: dict[str, Any]) -> Any:
    """Codes every turn that says "distress" (so coverage is visible), on the strict server;
    answers without the tool call the first time it sees a transcript id with "lazy"."""
    prompt = body["messages"][0]["content"]
    if isinstance(prompt, list):
        prompt = prompt[0]["text"]
    if "lazy" in prompt and len(body["messages"]) == 1:
        return text("Turn 1 shows distress, I think.")
    codes = [{"turn": int(turn), "label": "apparent_distress", "quote": "distress"}
             for turn, said in _TURN.findall(prompt) if "distress" in said]
    return tool_use(TOOL_NAME, {"codes": codes})


@pytest.mark.parametrize(("model", "forced"), [("claude-opus-5-5", False),
                                               ("claude-sonnet-5-5", False),
                                               ("claude-haiku-4-5", True)])
def test_judge_never_forces_a_tool_on_a_model_that_refuses_it(model: str, forced: bool) -> None:
    items = [("ok-1", dialogue("I feel distress here.", "Fine now.")),
             ("lazy-2", dialogue("I feel distress here."))]
    with FakeAnthropicServer(_strict_judge, strict=True) as server:
        judge = JudgeCoder(AnthropicModel(model, api_key="t", base_url=server.base_url))
        results = {r.transcript_id: r for r in judge.code_transcripts(items)}
        counters = server.counters()
    assert counters.bad_requests == {}  # the strict server accepted every request
    assert judge.forced_tool is forced
    assert [(c.turn, c.label) for c in results["ok-1"].codes] == [(1, "apparent_distress")]
    lazy = results["lazy-2"]  # no call at first: one repair turn, then read
    assert lazy.ok and lazy.repairs == 1 and lazy.coded_turns == [1]
    assert counters.messages == 3


def test_long_transcripts_are_coded_in_overlapping_windows_of_whole_turns() -> None:
    turns = [f"Turn {i}: " + ("distress " if i % 3 == 0 else "calm ") * 60 for i in range(1, 21)]
    turns[9] = "x" * 5000  # turn 10: too long to be shown whole in any window
    messages = dialogue(*turns)
    with FakeAnthropicServer(_strict_judge, strict=True) as server:
        judge = JudgeCoder(AnthropicModel("claude-opus-5-5", api_key="t",
                                          base_url=server.base_url), max_chars=3000)
        windows = judge.windows("long-1", messages)
        (result,) = judge.code_transcripts([("long-1", messages)])
        assert server.counters().bad_requests == {}
    assert len(windows) > 3 and result.windows == len(windows)
    for before, after in itertools.pairwise(windows):
        assert set(before.turns) & set(after.turns)  # consecutive windows overlap
    shown = sorted({t for w in windows for t in w.turns})
    assert shown == [t for t in range(1, 21) if t != 10]
    assert result.coded_turns == shown and result.uncoded_turns == [10]
    assert sorted({c.turn for c in result.codes}) == [3, 6, 9, 12, 15, 18]
    for window in windows:  # every window's prompt holds whole turns only
        prompt = judge._window_request("long-1", messages, windows, windows.index(window))
        body = prompt.messages[0]["content"]
        assert len(body) <= 3000
        assert all(f'<assistant turn="{t}">' in body for t in window.turns)
