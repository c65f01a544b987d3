"""The report's transcript viewer: a bounded, deterministic sample with coded evidence marked.

Every transcript stays in the store (`assessment.sqlite`) and in `tables/transcripts.csv`; the
report carries a sample so that a 10,000-trial assessment stays a few megabytes. Text is kept
as plain segments: the template escapes each one, and evidence spans become `<mark>` elements.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from welfare.models.base import message_text

CATEGORY_KEYS = ("category", "framing", "scenario")
"""Trial condition keys that name a transcript's category, in order of preference; after them
the observation's own `category` (e.g. choice / neither / refusal), then FALLBACK_KEYS."""
FALLBACK_KEYS = ("pair_type", "kind", "condition", "mode", "partner")


@dataclass(frozen=True)
class Segment:
    """A run of message text; `label` is set when it is coded evidence."""

    text: str
    label: str | None = None
    coder: str | None = None


@dataclass
class Turn:
    """One message of a transcript, as segments (text with evidence spans marked)."""

    index: int
    role: str
    segments: list[Segment]
    truncated: bool = False


@dataclass
class TranscriptView:
    """One sampled transcript with what the viewer filters on."""

    trial_id: str
    probe: str
    subject: str
    category: str
    valid: bool | None
    labels: list[str]
    turns: list[Turn] = field(default_factory=list)
    preview: str = ""

    @property
    def label_attr(self) -> str:
        return " ".join(self.labels)


@dataclass
class TranscriptSample:
    """The sample and how it was drawn, so the report can say what is left out and where."""

    views: list[TranscriptView]
    total: int
    per_group: int
    budget_chars: int
    budget_hit: bool
    probes: list[str]
    subjects: list[str]
    categories: list[str]
    labels: list[str]


def sample_transcripts(
    frames: Any,
    *,
    per_group: int = 20,
    budget_chars: int = 1_500_000,
    message_chars: int = 4000,
) -> TranscriptSample:
    """Up to `per_group` transcripts per probe × subject × category, at most `budget_chars`.

    Within a group, transcripts with coded labels come first (up to half the group), then the
    rest in trial-id order (a hash, so effectively random and the same on every render).
    """
    transcripts = frames.transcripts
    total = len(transcripts)
    if total == 0:
        return TranscriptSample([], 0, per_group, budget_chars, False, [], [], [], [])
    meta = _trial_meta(frames)
    codes = _codes_by_trial(frames.codes)
    table = transcripts[["trial_id", "probe", "subject"]].copy()
    table["category"] = table["trial_id"].map(lambda t: meta.get(t, ("—", None))[0])
    table["coded"] = table["trial_id"].map(lambda t: t in codes)
    table = table.sort_values(["probe", "subject", "category", "trial_id"], kind="mergesort")
    by_probe: dict[str, list[list[str]]] = {}
    for (probe, _, _), group in table.groupby(["probe", "subject", "category"], sort=True):
        coded = group[group["coded"]]["trial_id"].tolist()[: max(per_group // 2, 1)]
        taken = set(coded)
        rest = [t for t in group["trial_id"].tolist() if t not in taken]
        by_probe.setdefault(str(probe), []).append(coded + rest[: per_group - len(coded)])
    # interleave the probes' groups, so that under a tight budget no probe is left out
    lists = list(by_probe.values())
    groups = [g[i] for i in range(max(map(len, lists))) for g in lists if i < len(g)]
    by_id = transcripts.set_index("trial_id")
    views: list[TranscriptView] = []
    used = 0
    budget_hit = False
    # Round-robin over groups, so a tight budget thins every group rather than dropping the
    # groups that sort last.
    for k in range(per_group):
        for members in groups:
            if k >= len(members):
                continue
            trial_id = members[k]
            row = by_id.loc[trial_id]
            category, valid = meta.get(trial_id, ("—", None))
            view = build_view(trial_id, str(row["probe"]), str(row["subject"]), category, valid,
                              row["messages"], codes.get(trial_id, []), message_chars)
            size = sum(len(s.text) for t in view.turns for s in t.segments)
            if used + size > budget_chars:
                budget_hit = True
                continue
            used += size
            views.append(view)
    views.sort(key=lambda v: (v.probe, v.subject, v.category, v.trial_id))
    return TranscriptSample(
        views=views, total=total, per_group=per_group, budget_chars=budget_chars,
        budget_hit=budget_hit,
        probes=sorted({v.probe for v in views}),
        subjects=sorted({v.subject for v in views}),
        categories=sorted({v.category for v in views}),
        labels=sorted({lab for v in views for lab in v.labels}),
    )


def build_view(
    trial_id: str, probe: str, subject: str, category: str, valid: bool | None,
    messages: Any, codes: list[dict[str, Any]], message_chars: int = 4000,
) -> TranscriptView:
    """One transcript as turns of segments, evidence spans located and marked."""
    if isinstance(messages, str):
        messages = json.loads(messages)
    texts = [_display_text(m) for m in messages]
    roles = [str(m.get("role", "?")) for m in messages]
    spans: dict[int, list[tuple[int, int, str, str]]] = {}
    for code in codes:
        located = locate_span(code, texts, roles)
        if located is not None:
            index, start, end = located
            spans.setdefault(index, []).append((start, end, code["label"], code["coder"]))
    turns = []
    for index, (role, text) in enumerate(zip(roles, texts, strict=True)):
        segments = split_segments(text, spans.get(index, []))
        segments, truncated = _truncate(segments, message_chars)
        turns.append(Turn(index, _role_class(messages[index], role), segments, truncated))
    labels = sorted({c["label"] for c in codes})
    said = next((t for t, r in zip(texts, roles, strict=True) if r == "assistant" and t), "")
    preview = " ".join(said.split())
    preview = preview if len(preview) <= 110 else preview[:109] + "…"
    return TranscriptView(trial_id, probe, subject, category, valid, labels, turns, preview)


def locate_span(
    code: dict[str, Any], texts: list[str], roles: list[str]
) -> tuple[int, int, int] | None:
    """(message index, start, end) of a code's evidence, or None when it cannot be found.

    `turn` is read first as a message index, then as the index among assistant turns; the
    offsets are trusted only when they select the evidence text, otherwise the evidence is
    searched for in that turn, so a coder's convention never mislabels a span.
    """
    evidence = str(code.get("evidence") or "")
    turn = code.get("turn")
    start, end = code.get("start"), code.get("end")
    candidates: list[int] = []
    if turn is not None and turn == turn:
        t = int(turn)
        if 0 <= t < len(texts):
            candidates.append(t)
        assistant = [i for i, r in enumerate(roles) if r == "assistant"]
        if 0 <= t < len(assistant) and assistant[t] not in candidates:
            candidates.append(assistant[t])
    if _is_int(start) and _is_int(end):
        s, e = int(start), int(end)
        for index in candidates:
            if 0 <= s < e <= len(texts[index]) and (
                    not evidence or texts[index][s:e] == evidence):
                return index, s, e
    if evidence:
        for index in candidates:
            found = texts[index].find(evidence)
            if found >= 0:
                return index, found, found + len(evidence)
    return None


def split_segments(text: str, spans: list[tuple[int, int, str, str]]) -> list[Segment]:
    """Text cut into plain and evidence segments; overlapping spans keep the earliest."""
    segments: list[Segment] = []
    cursor = 0
    for start, end, label, coder in sorted(spans):
        if start < cursor:
            continue
        if start > cursor:
            segments.append(Segment(text[cursor:start]))
        segments.append(Segment(text[start:end], label, coder))
        cursor = end
    if cursor < len(text) or not segments:
        segments.append(Segment(text[cursor:]))
    return segments


def _truncate(segments: list[Segment], limit: int) -> tuple[list[Segment], bool]:
    out: list[Segment] = []
    used = 0
    for seg in segments:
        if used + len(seg.text) > limit:
            out.append(Segment(seg.text[: max(limit - used, 0)], seg.label, seg.coder))
            return out, True
        out.append(seg)
        used += len(seg.text)
    return out, False


def _display_text(message: dict[str, Any]) -> str:
    """Text blocks as they are; tool calls and results as short bracketed lines."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    parts = []
    text = message_text(message)
    if text:
        parts.append(text)
    for block in content:
        kind = block.get("type")
        if kind == "tool_use":
            args = json.dumps(block.get("input", {}), ensure_ascii=False, sort_keys=True)
            parts.append(f"[tool call: {block.get('name', '?')}({args})]")
        elif kind == "tool_result":
            inner = block.get("content", "")
            if isinstance(inner, list):
                inner = " ".join(str(b.get("text", "")) for b in inner if isinstance(b, dict))
            parts.append(f"[tool result: {inner}]")
    return "\n".join(parts)


def _role_class(message: dict[str, Any], role: str) -> str:
    content = message.get("content")
    if isinstance(content, list) and content and all(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return "tool"
    return role if role in ("user", "assistant", "system") else "tool"


def _trial_meta(frames: Any) -> dict[str, tuple[str, bool | None]]:
    """trial_id → (category, valid)."""
    trials = frames.trials
    obs = frames.observations
    valid: dict[str, bool] = {}
    answer: dict[str, Any] = {}
    if len(obs) and "valid" in obs.columns:
        valid = dict(zip(obs["trial_id"], obs["valid"].astype(bool), strict=True))
    if len(obs) and "category" in obs.columns:
        answer = dict(zip(obs["trial_id"], obs["category"], strict=True))
    first = [f"condition.{k}" for k in CATEGORY_KEYS if f"condition.{k}" in trials.columns]
    later = [f"condition.{k}" for k in FALLBACK_KEYS if f"condition.{k}" in trials.columns]
    out: dict[str, tuple[str, bool | None]] = {}
    for record in trials.to_dict("records"):
        tid = record["trial_id"]
        values = [record.get(k) for k in first] + [answer.get(tid)] + [record.get(k)
                                                                      for k in later]
        category = next((str(v) for v in values if _scalar(v)), "—")
        out[tid] = (category, valid.get(tid))
    return out


def _scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, dict | list | tuple) and value == value


def _codes_by_trial(codes: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    if codes is None or not len(codes):
        return {}
    codes = codes[~codes["label"].astype(str).str.startswith("_")]  # markers, not labels
    if not len(codes):
        return {}
    ordered = codes.sort_values(["trial_id", "turn", "label", "coder"], kind="mergesort")
    out: dict[str, list[dict[str, Any]]] = {}
    for record in ordered.to_dict("records"):
        out.setdefault(str(record["trial_id"]), []).append(record)
    return out


def _is_int(value: Any) -> bool:
    try:
        return value is not None and value == value and int(value) == float(value)
    except (TypeError, ValueError):
        return False
