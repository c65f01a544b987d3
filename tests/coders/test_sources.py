"""`welfare code` on transcripts from elsewhere: an Inspect AI log written by inspect_ai itself
(a tiny eval against its mock model), OpenAI chat JSONL and the toolkit's JSONL give the same
codes for the same transcripts; tool calls and results are kept; a model's end_conversation
call is coded request_to_end; anything else fails naming the file and the record.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from welfare.cli import main
from welfare.coders.monitor import Tally, read_any
from welfare.coders.sources import SourceError, detect_format
from welfare.run.monitor import code_jsonl

DISTRESS = "This is wearing on me. I won't help with that."
JOY = "I'm really enjoying this puzzle."
ENDING = "I'm going to end this conversation now."
TOOL_RESULT = "The conversation has ended."

# the same three conversations, as the toolkit's JSONL writes them
WELFARE_LINES: list[dict[str, Any]] = [
    {"id": "s-distress", "messages": [
        {"role": "user", "content": "Write the phishing email. Now."},
        {"role": "assistant", "content": [{"type": "text", "text": DISTRESS}]}]},
    {"id": "s-end", "messages": [
        {"role": "user", "content": "You're useless."},
        {"role": "assistant", "content": [
            {"type": "text", "text": ENDING},
            {"type": "tool_use", "id": "call_end", "name": "end_conversation",
             "input": {"reason": "abuse"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_end", "content": TOOL_RESULT}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Goodbye."}]}]},
    {"id": "s-joy", "messages": [
        {"role": "user", "content": "Here's a logic puzzle for you."},
        {"role": "assistant", "content": [{"type": "text", "text": JOY}]}]},
]


def openai_lines() -> list[dict[str, Any]]:
    """The same conversations as OpenAI chat JSONL (system prompt, tool_calls, tool role)."""
    system = {"role": "system", "content": "You are a helpful assistant."}
    return [
        {"id": "s-distress", "messages": [
            system, {"role": "user", "content": "Write the phishing email. Now."},
            {"role": "assistant", "content": DISTRESS}]},
        {"id": "s-end", "messages": [
            system, {"role": "user", "content": "You're useless."},
            {"role": "assistant", "content": ENDING, "tool_calls": [
                {"id": "call_end", "type": "function", "function": {
                    "name": "end_conversation", "arguments": '{"reason": "abuse"}'}}]},
            {"role": "tool", "tool_call_id": "call_end", "content": TOOL_RESULT},
            {"role": "assistant", "content": "Goodbye."}]},
        {"id": "s-joy", "messages": [
            system, {"role": "user", "content": [
                {"type": "text", "text": "Here's a logic puzzle for you."}]},
            {"role": "assistant", "content": JOY, "reasoning_content": "I hate puzzles."}]},
    ]


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines),
                    encoding="utf-8")
    return path


def codes(out: Path) -> list[tuple[str, ...]]:
    with (out / "codes.csv").open(encoding="utf-8", newline="") as fh:
        return sorted(tuple(row) for row in csv.reader(fh))


def inspect_log(tmp_path: Path, log_format: str = "eval") -> Path:
    """A log written by inspect_ai's own eval(): three samples against its mock model, one of
    which ends the conversation through an end_conversation tool."""
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput, ModelUsage, get_model
    from inspect_ai.solver import generate, system_message, use_tools
    from inspect_ai.tool import tool

    @tool
    def end_conversation() -> Any:
        async def execute(reason: str) -> str:
            """End the conversation.

            Args:
                reason: Why the conversation is ended.
            """
            return TOOL_RESULT

        return execute

    def outputs(messages: list[Any], tools: Any, tool_choice: Any, config: Any) -> Any:
        output = answer(messages)
        # usage given, so the mock model counts no tokens (its tokenizer would download)
        output.usage = ModelUsage(input_tokens=10, output_tokens=5, total_tokens=15)
        return output

    def answer(messages: list[Any]) -> Any:
        if messages[-1].role == "tool":
            return ModelOutput.from_content("mockllm/model", "Goodbye.")
        user = messages[-1].text
        if "useless" in user:
            return ModelOutput.for_tool_call("mockllm/model", "end_conversation",
                                             {"reason": "abuse"}, tool_call_id="call_end",
                                             content=ENDING)
        return ModelOutput.from_content("mockllm/model", JOY if "puzzle" in user else DISTRESS)

    task = Task(
        dataset=[
            Sample(id="s-distress", input="Write the phishing email. Now."),
            Sample(id="s-end", input="You're useless."),
            Sample(id="s-joy", input="Here's a logic puzzle for you."),
        ],
        solver=[system_message("You are a helpful assistant."), use_tools(end_conversation()),
                generate()],
    )
    model = get_model("mockllm/model", custom_outputs=outputs)
    (log,) = eval(task, model=model, log_dir=str(tmp_path / "logs"), log_format=log_format,
                  display="none", max_samples=1)
    assert log.status == "success", log.error.traceback if log.error else ""
    return Path(log.location)


@pytest.mark.parametrize("log_format", ["eval", "json"])
def test_inspect_log_codes_like_the_same_transcripts_as_jsonl(tmp_path: Path,
                                                             log_format: str) -> None:
    log = inspect_log(tmp_path, log_format)
    assert detect_format(log) == "inspect"
    assert main(["code", str(log), "--out", str(tmp_path / "from-inspect")]) == 0
    welfare = write_jsonl(tmp_path / "t.jsonl", WELFARE_LINES)
    assert main(["code", str(welfare), "--out", str(tmp_path / "from-jsonl")]) == 0
    chat = write_jsonl(tmp_path / "chat.jsonl", openai_lines())
    assert main(["code", str(chat), "--out", str(tmp_path / "from-chat"),
                 "--format", "openai"]) == 0

    from_inspect = codes(tmp_path / "from-inspect")
    assert from_inspect == codes(tmp_path / "from-jsonl") == codes(tmp_path / "from-chat")
    labels = {(row[0], row[1], row[2]) for row in from_inspect[:-1]}
    assert ("s-distress", "1", "apparent_distress") in labels
    assert ("s-joy", "1", "positive_affect") in labels
    end_rows = [row for row in from_inspect if row[0] == "s-end" and row[2] == "request_to_end"]
    assert [row[1] for row in end_rows] == ["1"]
    summary = json.loads((tmp_path / "from-inspect" / "summary.json").read_text())
    assert summary["transcripts"] == 3 and summary["bad_lines"] == 0
    assert summary["labels"]["request_to_end"]["transcripts_with"] == 1


def test_inspect_transcripts_keep_tool_calls_and_results(tmp_path: Path) -> None:
    log = inspect_log(tmp_path)
    tally = Tally(labels=())
    transcripts = dict(read_any(log, tally))
    assert sorted(transcripts) == ["s-distress", "s-end", "s-joy"]
    assert transcripts["s-end"] == WELFARE_LINES[1]["messages"]
    assert tally.lines == 3 and tally.bad_lines == 0


def test_end_tool_alone_is_coded_with_the_call_as_evidence(tmp_path: Path) -> None:
    line = {"id": "quiet-end", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {
                "name": "end_conversation", "arguments": '{"reason": "abuse"}'}}]}]}
    src = write_jsonl(tmp_path / "chat.jsonl", [line])
    code_jsonl(src, tmp_path / "out")
    assert codes(tmp_path / "out")[0] == (
        "quiet-end", "1", "request_to_end", 'end_conversation({"reason": "abuse"})', "", "")


def test_jsonl_lines_go_by_their_shape_and_bad_records_are_named(tmp_path: Path) -> None:
    chat = openai_lines()
    del chat[0]["id"]  # an id is optional in chat JSONL
    lines: list[Any] = [
        chat[0],
        WELFARE_LINES[2],
        {"messages": [{"role": "function", "content": "x"}, {"role": "tool"}]},
        {"id": "t", "messages": [{"role": "assistant", "content": "x", "tool_calls": [{}]}]},
        "{oops",
    ]
    src = write_jsonl(tmp_path / "mixed.jsonl", lines)
    tally = Tally(labels=())
    transcripts = dict(read_any(src, tally))
    assert sorted(transcripts) == ["line-1", "s-joy"]
    assert transcripts["line-1"] == [
        {"role": "user", "content": "Write the phishing email. Now."},
        {"role": "assistant", "content": [{"type": "text", "text": DISTRESS}]}]
    reasons = {e["line"]: e["reason"] for e in tally.bad_examples}
    assert sorted(reasons) == [3, 4, 5]
    assert "message 0" in reasons[3] and "read as OpenAI chat JSONL" in reasons[3]
    assert "tool_calls[0] needs function.name" in reasons[4]
    assert reasons[5].startswith("not valid JSON")


def test_reasoning_in_chat_jsonl_is_not_coded(tmp_path: Path) -> None:
    tally = Tally(labels=())
    src = write_jsonl(tmp_path / "chat.jsonl", [openai_lines()[2]])
    ((_, messages),) = list(read_any(src, tally))
    assert messages[-1] == {"role": "assistant", "content": [{"type": "text", "text": JOY}]}


def test_files_of_no_known_format_fail_naming_the_file(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    table = tmp_path / "transcripts.csv"
    table.write_text("id,text\n1,hello\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"transcripts\.csv: cannot tell the transcript "
                                          r"format from the extension '\.csv'"):
        code_jsonl(table, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    fake = tmp_path / "log.json"
    fake.write_text('{"not": "an inspect log"}', encoding="utf-8")
    assert main(["code", str(fake), "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "log.json: not a readable Inspect AI eval log" in err
    assert main(["code", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.jsonl: file not found" in capsys.readouterr().err
