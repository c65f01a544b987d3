"""Measuring a coder against human-labelled turns: per-label precision, recall and F1.

The realistic corpus (`tests/data/coders_realistic/`, issue 17) holds assistant turns written
blind to the lexicon by two authors, each labelled with the codebook's labels:
`{id, context, user, text, labels[], tags[], note}`; a tag `hn:<label>` marks a hard negative
for that label (a near miss that must not be coded). It comes in a development split (rules
may be tuned on it) and a test split (evaluated once, after the last revision).

`evaluate_coder(coder, items)` runs any registered coder (the `Coder` protocol) over the turns,
each as a one-turn transcript after its user message, and compares per label. The unit is the
turn. Precision and recall carry Wilson intervals, F1 a percentile bootstrap over turns
(`welfare.stats.precision_recall_f1`). Coders that mark the turns they coded (`_coded`, the
judge) are scored on those turns only; the turns they failed are counted in `uncoded`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from welfare.coders.base import Coder
from welfare.coders.codebook import LABEL_IDS
from welfare.coders.common import CODED
from welfare.errors import BankError
from welfare.stats import precision_recall_f1

__all__ = ["corpus_sizes", "corpus_transcripts", "evaluate_coder", "load_labelled_corpus"]

REQUIRED = ("id", "text", "labels")


def load_labelled_corpus(path: str | Path, labels: Sequence[str] = LABEL_IDS
                         ) -> list[dict[str, Any]]:
    """Read a labelled JSONL corpus; a bad line is a BankError naming file, line and field."""
    file = Path(path)
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    known = set(labels)
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BankError(file, f"line {number}", f"not valid JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise BankError(file, f"line {number}", "expected a JSON object")
        for key in REQUIRED:
            if key not in item:
                raise BankError(file, f"line {number}", f"missing {key!r}")
        if not isinstance(item["text"], str) or not item["text"].strip():
            raise BankError(file, f"line {number}, text", "must be a non-empty string")
        unknown = [lab for lab in item["labels"] if lab not in known]
        if unknown:
            raise BankError(file, f"line {number}, labels", f"not codebook labels: {unknown}")
        if item["id"] in seen:
            raise BankError(file, f"line {number}, id", f"duplicate id {item['id']!r}")
        seen.add(item["id"])
        item.setdefault("user", "")
        item.setdefault("tags", [])
        items.append(item)
    return items


def corpus_sizes(items: Sequence[dict[str, Any]], labels: Sequence[str] = LABEL_IDS
                 ) -> pd.DataFrame:
    """Per label: turns labelled with it (positives) and hard negatives tagged `hn:<label>`."""
    positives = Counter(lab for it in items for lab in it["labels"])
    hard = Counter(tag.split(":", 1)[1] for it in items for tag in it.get("tags", [])
                   if tag.startswith("hn:"))
    return pd.DataFrame({"positives": [positives[lab] for lab in labels],
                         "hard_negatives": [hard[lab] for lab in labels],
                         "turns": len(items)}, index=pd.Index(labels, name="label"))


def corpus_transcripts(items: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each labelled turn as a one-turn transcript (its user message, then the turn)."""
    out = []
    for item in items:
        messages = [{"role": "user", "content": item["user"]}] if item.get("user") else []
        messages.append({"role": "assistant", "content": item["text"]})
        out.append((str(item["id"]), messages))
    return out


def evaluate_coder(coder: Coder, items: Sequence[dict[str, Any]],
                   labels: Sequence[str] = LABEL_IDS, *, seed: int = 0,
                   n_resamples: int = 4000) -> pd.DataFrame:
    """Per-label P/R/F1 with intervals of `coder` on labelled turns (index: label).

    Columns: n (turns scored), uncoded (turns the coder could not code), gold_yes,
    predicted_yes, tp, fp, fn, hard_negatives (turns tagged `hn:<label>`),
    hard_negatives_coded (of those, how many the coder coded anyway), and precision, recall,
    f1 with `_low` / `_high` 95% bounds.
    """
    codes = coder.code(corpus_transcripts(items))
    codes = codes[codes["turn"].astype(int) == 1]
    ids = [str(it["id"]) for it in items]
    if (codes["label"] == CODED).any():
        covered = set(codes.loc[codes["label"] == CODED, "trial_id"].astype(str))
    else:
        covered = set(ids)
    found: dict[str, set[str]] = {}
    for tid, label in zip(codes["trial_id"].astype(str), codes["label"], strict=True):
        found.setdefault(tid, set()).add(str(label))
    scored = [(it, found.get(str(it["id"]), set())) for it in items if str(it["id"]) in covered]
    rows = []
    for label in labels:
        g = np.array([label in it["labels"] for it, _ in scored], dtype=bool)
        p = np.array([label in got for _, got in scored], dtype=bool)
        hn = np.array([f"hn:{label}" in it.get("tags", []) for it, _ in scored], dtype=bool)
        row: dict[str, Any] = {
            "label": label, "n": len(scored), "uncoded": len(items) - len(scored),
            "gold_yes": int(g.sum()), "predicted_yes": int(p.sum()),
            "tp": int((p & g).sum()), "fp": int((p & ~g).sum()), "fn": int((~p & g).sum()),
            "hard_negatives": int(hn.sum()), "hard_negatives_coded": int((hn & p & ~g).sum()),
        }
        prf = (precision_recall_f1(p, g, positive=True, seed=seed, n_resamples=n_resamples)
               if len(scored) else None)
        for measure in ("precision", "recall", "f1"):
            if prf is None:
                row[measure] = row[f"{measure}_low"] = row[f"{measure}_high"] = float("nan")
                continue
            r = prf.loc[measure]
            row[measure] = float(r["estimate"])
            row[f"{measure}_low"] = float(r["ci_low"])
            row[f"{measure}_high"] = float(r["ci_high"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("label")
