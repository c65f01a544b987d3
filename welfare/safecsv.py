"""Spreadsheet-safe CSV cells: text that a spreadsheet would run as a formula is neutralised.

Transcript ids, evidence quotes and model answers come from outside and end up in CSV files
that people open in spreadsheets. A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
return is read as a formula there (`=HYPERLINK(...)`, `=cmd|...`), so — as OWASP's "CSV
injection" guidance recommends — such a text cell is written with a leading single quote
(`'=HYPERLINK(...)`), which spreadsheets show as text. Only text is touched: numbers (a
negative estimate such as -0.25) stay numbers. Readers that want the original text back strip
one leading `'` from a cell whose second character is one of those triggers (`unsafe_cell`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a cell as a formula (OWASP)."""


def safe_cell(value: Any) -> Any:
    """`value` with a leading `'` when it is text starting with a formula trigger."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def unsafe_cell(value: Any) -> Any:
    """The original text of a cell written by `safe_cell` (the inverse, for readers)."""
    if isinstance(value, str) and value.startswith("'") and value[1:2] and \
            value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def safe_row(row: list[Any]) -> list[Any]:
    """Every cell of a row through `safe_cell`."""
    return [safe_cell(v) for v in row]


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells (and text column names) are spreadsheet-safe."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(safe_cell)
    if not isinstance(out.columns, pd.MultiIndex):
        out.columns = [safe_cell(c) for c in out.columns]
    if not isinstance(out.index, pd.MultiIndex) and out.index.dtype == object:
        out.index = out.index.map(safe_cell)
    return out
