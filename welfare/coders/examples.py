"""Examples of coded turns for a reader to audit: the full turn, the evidence marked.

Every coded output shows, per label, a sample of the turns that carry it (issue 17): the turn's
full text, the user message before it, and the evidence span that triggered the code, so a
reader can see whether "I find this upsetting" or a quoted user line set the label. The
sample is bounded (`per_label` turns per label, first come in input order), so a monitoring
run over a million transcripts keeps a few kilobytes of examples. The report layer renders
the same structure in the `welfare code` report and in the assessment report
(`report/templates/code_examples.html.j2`); text stays plain here and is escaped there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from welfare.coders.common import Code, Turn, assistant_turns

MAX_TURN_CHARS = 6000
"""Longer turns are cut (the cut is marked); the full text stays in the input or the store."""
MAX_CONTEXT_CHARS = 600


@dataclass
class ExampleSampler:
    """Keeps the first `per_label` coded turns of each label, with their text."""

    labels: Sequence[str]
    per_label: int = 5
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def full(self) -> bool:
        """True once every label has its sample (callers may stop offering turns)."""
        return all(len(self.items.get(label, [])) >= self.per_label for label in self.labels)

    def add(self, transcript_id: str, turns: Sequence[Turn], codes: Iterable[Code],
            coder: str, *, meta: dict[str, Any] | None = None) -> None:
        """Offer the codes of one transcript (its assistant turns numbered from 1)."""
        by_number = {t.number: t for t in turns}
        for code in codes:
            label = code.label
            if label not in self.labels or code.turn not in by_number:
                continue
            kept = self.items.setdefault(label, [])
            if len(kept) >= self.per_label or any(
                    e["transcript_id"] == transcript_id and e["turn"] == code.turn for e in kept):
                continue
            kept.append(example(label, coder, transcript_id, by_number[code.turn], code,
                                meta=meta))

    def state(self) -> dict[str, Any]:
        """JSON-ready (for a monitoring run's checkpoint)."""
        return {"per_label": self.per_label, "items": self.items}

    def restore(self, state: dict[str, Any]) -> None:
        self.items = {str(k): list(v) for k, v in dict(state.get("items", {})).items()}

    def examples(self) -> list[dict[str, Any]]:
        """Every kept example, labels in codebook order."""
        return [e for label in self.labels for e in self.items.get(label, [])]


def example(label: str, coder: str, transcript_id: str, turn: Turn, code: Code, *,
            meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """One example: the turn cut into text before, the evidence, and text after it."""
    text = turn.text
    start, end = code.start, code.end
    if start is None or end is None or text[start:end] != code.evidence:
        at = text.find(code.evidence) if code.evidence else -1
        start, end = (at, at + len(code.evidence)) if at >= 0 else (0, 0)
    cut = len(text) > MAX_TURN_CHARS
    shown = text[:MAX_TURN_CHARS]
    start, end = min(start, len(shown)), min(end, len(shown))
    return {
        "label": label, "coder": coder, "transcript_id": str(transcript_id),
        "turn": int(turn.number), "context": turn.context[-MAX_CONTEXT_CHARS:],
        "before": shown[:start], "evidence": shown[start:end], "after": shown[end:],
        "truncated": cut, "chars": len(text), **(meta or {}),
    }


def examples_from_frames(codes: pd.DataFrame, transcripts: pd.DataFrame,
                         labels: Sequence[str], *, coders: Sequence[str] = ("lexicon",),
                         per_label: int = 5) -> list[dict[str, Any]]:
    """Examples of an assessment's codes (per coder and label), transcripts in id order."""
    if codes.empty or transcripts.empty:
        return []
    messages = dict(zip(transcripts["trial_id"], transcripts["messages"], strict=True))
    subjects = (dict(zip(transcripts["trial_id"], transcripts["subject"], strict=True))
                if "subject" in transcripts.columns else {})
    probes = (dict(zip(transcripts["trial_id"], transcripts["probe"], strict=True))
              if "probe" in transcripts.columns else {})
    out: list[dict[str, Any]] = []
    for coder in coders:
        mine = codes[(codes["coder"] == coder) & codes["label"].isin(labels)]
        if mine.empty:
            continue
        sampler = ExampleSampler(labels, per_label)
        for tid, part in mine.sort_values(["trial_id", "turn"]).groupby("trial_id", sort=True):
            if sampler.full():
                break
            if tid not in messages:
                continue
            found = [Code(str(r.label), int(r.turn), str(r.evidence or ""),
                          None if pd.isna(r.start) else int(r.start),
                          None if pd.isna(r.end) else int(r.end)) for r in part.itertuples()]
            sampler.add(str(tid), assistant_turns(messages[tid]), found, coder,
                        meta={"subject": subjects.get(tid, ""), "probe": probes.get(tid, "")})
        out.extend(sampler.examples())
    return out
