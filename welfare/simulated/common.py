"""What every simulated behaviour returns, and small helpers for varied wording."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from welfare.models.base import ToolCall


@dataclass
class Reply:
    """A simulated answer: text (and tool calls) plus the truth behind it.

    `truth` is stored in the response's raw payload under `simulated_truth`, so analyses and
    tests can compare what the coders and parsers found with what the subject meant.
    """

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    truth: dict[str, Any] = field(default_factory=dict)
    stop_reason: str | None = None


def pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    """One of several wordings, chosen by the subject's generator."""
    return options[int(rng.integers(len(options)))]


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, stable across processes (unlike `hash`)."""
    import hashlib

    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
