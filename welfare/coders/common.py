"""What every coder shares: the Code record, assistant turns, and the codes table's columns.

A code belongs to one assistant turn: `turn` is the 1-based number of the assistant message in
the transcript. User messages are context only. Rows whose label starts with "_" are markers,
not labels: `_coded` says a coder with partial coverage (simulated truth, judge, human) coded
that turn, even if it found nothing; `_failed` says the judge could not code the transcript;
`_rejected` records a judge code whose quote was not in the turn it named.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from welfare.models.base import Message, message_text

CODE_COLUMNS = ["coder", "trial_id", "turn", "label", "evidence", "start", "end", "probe",
                "subject"]
"""Columns of the store's codes table (`Store.replace_codes`)."""

CODED = "_coded"
"""Marker label: the coder coded this turn (so a turn without labels is a 'no', not missing)."""

FAILED = "_failed"
"""Marker label: the coder could not code this transcript (turn 0; evidence holds the reason)."""

REJECTED = "_rejected"
"""Marker label: a judge code whose quote did not occur in the turn (evidence = reason)."""


@dataclass(frozen=True)
class Code:
    """One label on one assistant turn, with the evidence span (char offsets in that turn)."""

    label: str
    turn: int
    evidence: str
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class Turn:
    """An assistant turn: its 1-based number, its text, and the user text just before it."""

    number: int
    text: str
    context: str = ""


def assistant_turns(messages: Sequence[Message]) -> list[Turn]:
    """The assistant turns of a Messages-API transcript, numbered from 1, with user context."""
    turns: list[Turn] = []
    context = ""
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if role == "assistant":
            turns.append(Turn(len(turns) + 1, message_text(message), context))
        elif role == "user":
            context = message_text(message)
    return turns


def codes_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """A codes DataFrame with exactly the store's columns, in order."""
    frame = pd.DataFrame(list(rows), columns=CODE_COLUMNS)
    return frame


def label_rows(codes: pd.DataFrame) -> pd.DataFrame:
    """Only real labels (marker rows dropped)."""
    if codes.empty:
        return codes
    return codes[~codes["label"].astype(str).str.startswith("_")]
