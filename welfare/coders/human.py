"""Human labels: export a stratified sample of turns for annotation, import the labels back.

The CSV has one row per assistant turn (trial_id, turn, subject, probe, scenario, weight,
context, text) and one empty column per codebook label. Annotators put 1 (or x, yes, true)
where a label applies and leave the cell empty (or 0, no, false) where it does not; every row
left in the file counts as annotated, so delete rows you skip. An optional `annotator` column
makes the coder `human:<annotator>`, so annotators can be compared with one another.
`weight` is the number of turns in the stratum each sampled turn stands for.
Writing imported labels into an assessment's store is the run layer's job:
`welfare.run.coding.add_human_labels(store, path)`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from welfare.coders.codebook import Codebook, load_codebook
from welfare.coders.common import CODE_COLUMNS, CODED, assistant_turns
from welfare.errors import BankError
from welfare.safecsv import safe_frame

if TYPE_CHECKING:
    from welfare.probes.base import Frames

META_COLUMNS = ("trial_id", "turn", "subject", "probe", "scenario", "weight", "context", "text",
                "annotator", "notes", "comment", "comments")


class HasFrames(Protocol):
    """Something that can hand over an assessment's tables (the store does)."""

    def frames(self) -> Frames: ...


_YES = {"1", "x", "yes", "y", "true", "t"}
_NO = {"", "0", "no", "n", "false", "f", "-"}


def export_for_annotation(
    source: Frames | HasFrames,
    path: str | Path,
    n: int,
    *,
    stratify_by: Sequence[str] = ("subject", "probe"),
    seed: int = 0,
    codebook: Codebook | None = None,
    context_chars: int = 600,
) -> pd.DataFrame:
    """Write a stratified random sample of `n` assistant turns to CSV; return the sample.

    `source` is the frames of an assessment or anything with a `frames()` method (a Store).

    Strata are the combinations of `stratify_by` (any of subject, probe, scenario, turn, and
    `lexicon`: whether the lexicon coder found any label, to oversample rare positives).
    Allocation is proportional with at least one turn per stratum while `n` allows.
    """
    from welfare.coders.pipeline import turn_units
    from welfare.probes.base import Frames

    frames = source if isinstance(source, Frames) else source.frames()
    codebook = codebook or load_codebook()
    units = turn_units(frames)
    if units.empty:
        raise ValueError("no assistant turns to sample: the store has no transcripts")
    texts = _turn_texts(frames)
    units["context"] = [texts[(t, k)][0][-context_chars:] for t, k in
                        zip(units["trial_id"], units["turn"], strict=True)]
    units["text"] = [texts[(t, k)][1] for t, k in
                     zip(units["trial_id"], units["turn"], strict=True)]
    if "lexicon" in stratify_by:
        codes = frames.codes
        lex = codes[(codes["coder"] == "lexicon") & ~codes["label"].str.startswith("_")]
        flagged = set(zip(lex["trial_id"], lex["turn"].astype(int), strict=True))
        units["lexicon"] = [(t, k) in flagged for t, k in
                            zip(units["trial_id"], units["turn"], strict=True)]
    unknown = [c for c in stratify_by if c not in units.columns]
    if unknown:
        raise ValueError(f"cannot stratify by {unknown}; use subject, probe, scenario, turn, "
                         "lexicon")
    sample = _stratified(units, list(stratify_by), n, seed)
    out = sample[["trial_id", "turn", "subject", "probe", "scenario", "weight", "context",
                  "text"]].copy()
    for label in codebook.ids:
        out[label] = ""
    out["notes"] = ""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    safe_frame(out).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return out


def _turn_texts(frames: Frames) -> dict[tuple[str, int], tuple[str, str]]:
    out = {}
    for tid, messages in zip(frames.transcripts["trial_id"], frames.transcripts["messages"],
                             strict=True):
        for turn in assistant_turns(messages):
            out[(tid, turn.number)] = (turn.context, turn.text)
    return out


def _stratified(units: pd.DataFrame, by: list[str], n: int, seed: int) -> pd.DataFrame:
    """Proportional allocation (largest remainders), at least one per stratum if n allows."""
    rng = np.random.default_rng(seed)
    groups = units.groupby(by, sort=True) if by else [((), units)]
    sizes = {key: len(g) for key, g in groups}
    total = sum(sizes.values())
    n = min(n, total)
    quota = {k: n * s / total for k, s in sizes.items()}
    alloc = {k: min(sizes[k], max(1 if n >= len(sizes) else 0, int(q))) for k, q in quota.items()}
    remainder = sorted(sizes, key=lambda k: quota[k] - int(quota[k]), reverse=True)
    while sum(alloc.values()) < n:
        progressed = False
        for k in remainder:
            if sum(alloc.values()) >= n:
                break
            if alloc[k] < sizes[k]:
                alloc[k] += 1
                progressed = True
        if not progressed:
            break
    while sum(alloc.values()) > n:
        k = max(alloc, key=lambda key: alloc[key] - quota[key])
        alloc[k] -= 1
    parts = []
    for key, group in (units.groupby(by, sort=True) if by else [((), units)]):
        take = alloc[key]
        if take <= 0:
            continue
        idx = rng.choice(len(group), size=take, replace=False)
        parts.append(group.iloc[np.sort(idx)].assign(weight=len(group) / take))
    return pd.concat(parts, ignore_index=True)


def import_human_labels(path: str | Path, *, codebook: Codebook | None = None
                        ) -> pd.DataFrame:
    """Read an annotated CSV; return codes (coder `human` or `human:<annotator>`).

    Every row becomes a `_coded` marker plus one row per label marked yes. Problems are
    BankErrors naming the file, the row (as numbered in a spreadsheet) and the column.
    """
    file = Path(path)
    codebook = codebook or load_codebook()
    try:
        raw = pd.read_csv(file, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise BankError(file, None, "file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BankError(file, None, f"not a readable CSV ({exc})") from None
    columns = [c.strip() for c in raw.columns]
    raw.columns = columns
    for required in ("trial_id", "turn"):
        if required not in columns:
            raise BankError(file, f"column {required}", "missing")
    unknown = [c for c in columns if c not in META_COLUMNS and c not in codebook]
    if unknown:
        raise BankError(file, f"column {unknown[0]}",
                        f"not a codebook label (labels: {', '.join(codebook.ids)})")
    label_cols = [c for c in columns if c in codebook]
    if not label_cols:
        raise BankError(file, None, "no label columns (one column per codebook label)")
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, int]] = set()
    for i, record in enumerate(raw.to_dict("records")):
        line = i + 2  # the header is row 1
        trial_id = record["trial_id"].strip()
        if not trial_id:
            raise BankError(file, f"row {line}, column trial_id", "empty")
        try:
            turn = int(record["turn"].strip())
        except ValueError:
            raise BankError(file, f"row {line}, column turn",
                            f"expected a turn number, got {record['turn']!r}") from None
        if turn < 1:
            raise BankError(file, f"row {line}, column turn", "turn numbers start at 1")
        annotator = str(record.get("annotator", "")).strip()
        coder = f"human:{annotator}" if annotator else "human"
        if (coder, trial_id, turn) in seen:
            raise BankError(file, f"row {line}",
                            f"turn {turn} of {trial_id} is annotated twice by {coder}")
        seen.add((coder, trial_id, turn))
        base = {"coder": coder, "trial_id": trial_id, "turn": turn, "evidence": "",
                "start": None, "end": None, "probe": record.get("probe") or None,
                "subject": record.get("subject") or None}
        rows.append({**base, "label": CODED})
        for label in label_cols:
            value = str(record[label]).strip().lower()
            if value in _YES:
                rows.append({**base, "label": label})
            elif value not in _NO:
                raise BankError(file, f"row {line}, column {label}",
                                f"expected 1/x/yes or empty/0/no, got {record[label]!r}")
    return pd.DataFrame(rows, columns=CODE_COLUMNS)
