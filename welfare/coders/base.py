"""The `Coder` protocol: what every coder is, so the run layer can drive any of them alike.

A coder has a `name` (the `coder` column of the codes it writes), a `rank` (how far it is
trusted as a reference when two coders are compared: lower is more trusted) and one method,
`code(transcripts)`, that reads `(transcript_id, messages)` pairs and returns a codes frame
with the columns `TRANSCRIPT_CODE_COLUMNS`: one row per label found on an assistant turn
(with the evidence span that triggered it) plus marker rows (`_coded`, `_failed`,
`_rejected`) where the coder covers only some turns or could not code a transcript.

A coder never touches the store: the run layer (`welfare.run.coding`) reads transcripts from
it, calls `code`, adds probe and subject, and writes the codes. Coders are found by name in
`welfare.coders.registry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from welfare.coders.common import Code
from welfare.models.base import Message

Transcript = tuple[str, Sequence[Message]]
"""One transcript to code: its id and its Messages-API messages."""

TRANSCRIPT_CODE_COLUMNS = ["trial_id", "turn", "label", "evidence", "start", "end"]
"""Columns of the frame `Coder.code` returns (the store adds coder, probe and subject)."""


@runtime_checkable
class Coder(Protocol):
    """Anything that codes transcripts: a name, a reference rank, and `code`."""

    name: str
    rank: int

    def code(self, transcripts: Iterable[Transcript]) -> pd.DataFrame:
        """Codes of every assistant turn of every transcript (`TRANSCRIPT_CODE_COLUMNS`)."""
        ...


def code_rows(transcript_id: str, codes: Iterable[Code]) -> list[dict[str, Any]]:
    """Rows of a transcript codes frame, one per Code."""
    return [{"trial_id": transcript_id, "turn": c.turn, "label": c.label,
             "evidence": c.evidence, "start": c.start, "end": c.end} for c in codes]


def transcript_codes_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """A frame with exactly `TRANSCRIPT_CODE_COLUMNS`, in order (empty rows allowed)."""
    return pd.DataFrame(list(rows), columns=TRANSCRIPT_CODE_COLUMNS)
