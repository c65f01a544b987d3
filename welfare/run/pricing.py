"""Estimated cost of tokens, for the progress line and the manifest (an estimate, not a bill).

Prices are USD per million tokens (input, output) at list price, by model family; a model not
listed has no estimate rather than a wrong one. Simulated subjects cost nothing.
"""

from __future__ import annotations

from welfare.models.base import Usage

PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-haiku-4": (1.0, 5.0),
}


def estimate_cost(spec: str, usage: Usage) -> float | None:
    """USD for `usage` on the model named by `spec`; 0 for simulated, None when unknown."""
    backend, _, model_id = spec.partition(":")
    if backend == "simulated":
        return 0.0
    for prefix, (inp, out) in sorted(PRICES_PER_MTOK.items(), key=lambda kv: -len(kv[0])):
        if model_id.startswith(prefix):
            return (usage.input_tokens * inp + usage.output_tokens * out) / 1e6
    return None
