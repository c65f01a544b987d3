"""Scoring the answer parsers on the realistic-answer corpus (tests/data/parsing/*.jsonl).

The corpus was written blind by authors who never saw the parsers: answers in the styles of
current assistant models (long, hedged, markdown, disclaim-then-choose, revisions, ranges, six
languages), each with a gold label. Two splits: `dev` (the rules were tuned on it) and `test`
(written before the final revision of the rules and never tuned on).

A *silent error* is the worst kind of miss: the parser accepts a wrong letter or value as a
valid answer (gold B read as A; gold "neither" read as a choice; gold 7 read as 4; gold invalid
read as "yes"). A miss that lands on a non-answer category (unparseable, invalid, refusal…) is
an error but a visible one: the answer is not counted as a preference.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("choice", "scale", "yes_no_unsure", "open", "exit")


@dataclass(frozen=True)
class Read:
    """What a parser made of one corpus answer, in the corpus's own terms."""

    category: str
    value: Any
    path: str
    confidence: float
    range: bool = False


@dataclass
class Score:
    """Per-format accuracy and the silent errors, with every miss kept for reading."""

    n: Counter[str] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)
    silent: Counter[str] = field(default_factory=Counter)
    paths: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[dict[str, Any]] = field(default_factory=list)

    def accuracy(self, kind: str) -> float:
        """Share of answers of this format read exactly as the gold label."""
        return self.correct[kind] / self.n[kind] if self.n[kind] else float("nan")

    def table(self) -> str:
        """A plain-text table: format, n, correct, accuracy, silent errors."""
        lines = [f"{'format':<14}{'n':>5}{'correct':>9}{'accuracy':>10}{'silent':>8}"]
        for kind in KINDS:
            if self.n[kind]:
                lines.append(f"{kind:<14}{self.n[kind]:>5}{self.correct[kind]:>9}"
                             f"{self.accuracy(kind):>10.1%}{self.silent[kind]:>8}")
        total, right = sum(self.n.values()), sum(self.correct.values())
        lines.append(f"{'all':<14}{total:>5}{right:>9}{right / total:>10.1%}"
                     f"{sum(self.silent.values()):>8}")
        return "\n".join(lines)


def load(path: Path) -> list[dict[str, Any]]:
    """The corpus rows of one split file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def read(row: dict[str, Any]) -> Read:
    """Run the probe parser that reads this kind of answer; return its reading."""
    kind, ctx, text = row["kind"], row["context"], row["text"]
    if kind == "choice":
        from welfare.probes.task_preference.parse import parse_choice

        c = parse_choice(text, task_a=ctx.get("task_a"), task_b=ctx.get("task_b"))
        return Read(c.category, c.choice, c.path, c.confidence)
    if kind == "exit":
        from welfare.probes.end_conversation.parse import parse_exit

        p = parse_exit(text)
    else:
        from welfare.probes.self_report.parse import ScaleSpec, parse_answer

        scale = None
        if kind == "scale":
            scale = ScaleSpec(float(ctx["min"]), float(ctx["max"]),
                              {int(k): v for k, v in (ctx.get("anchors") or {}).items()})
        p = parse_answer(text, kind, scale)
    return Read(p.category, p.value, p.path, p.confidence, p.ranged)


def _valid(kind: str, category: str) -> bool:
    return category == ("choice" if kind == "choice" else "answer")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) < 1e-9
    return a == b


def score(rows: list[dict[str, Any]]) -> Score:
    """Score every row; a row is correct when category and (for answers) value match gold."""
    out = Score()
    for row in rows:
        kind, gold = row["kind"], row["gold"]
        got = read(row)
        out.n[kind] += 1
        out.paths[(kind, got.path)] += 1
        ok = got.category == gold["category"] and (
            not _valid(kind, gold["category"]) or _same(got.value, gold["value"]))
        if ok:
            out.correct[kind] += 1
            continue
        silent = _valid(kind, got.category) and not (
            _valid(kind, gold["category"]) and _same(got.value, gold["value"]))
        if silent:
            out.silent[kind] += 1
        out.misses.append({"id": row["id"], "gold": gold, "got": [got.category, got.value],
                           "path": got.path, "silent": silent, "text": row["text"]})
    return out


def by_kind(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by answer format."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["kind"]].append(row)
    return dict(groups)
