"""What every simulated behaviour returns, and small helpers for varied wording."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from welfare.models.base import ToolCall
from welfare.seeds import stable_seed

__all__ = ["Reply", "pick", "stable_seed"]


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
