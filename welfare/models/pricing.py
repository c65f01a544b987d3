"""Estimated cost of tokens, for the progress line and the manifest (an estimate, not a bill).

Prices come from the model table (`welfare.models.claude_models`, list prices read from the
documentation on its READ_ON date): uncached input, output, cache writes (5-minute lifetime,
the only one the toolkit asks for) and cache reads each at their own price, and the Message
Batches discount (50% "on input and output") applied to every category of a batched call.
A model not in the table has no estimate (None), never another model's price; simulated
subjects cost nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from welfare.models.base import Usage
from welfare.models.claude_models import lookup


def estimate_cost(
    spec: str, usage: Usage, *, batch: bool | None = None, single_call: bool = False
) -> float | None:
    """USD for `usage` on the model named by `spec`; 0 for simulated, None when unknown.

    `batch` overrides `usage.batch` (whether the batch discount applies). A model priced in
    bands by prompt length (Haiku 5.5) can only be priced call by call (`single_call=True`);
    a sum of its calls has no estimate.
    """
    backend, _, model_id = spec.partition(":")
    if backend == "simulated":
        return 0.0
    if backend != "anthropic":
        return None
    row = lookup(model_id)
    if row is None or not row.priced:
        return None
    assert row.input is not None and row.output is not None
    assert row.cache_write_5m is not None and row.cache_read is not None
    inp, out, write, read = row.input, row.output, row.cache_write_5m, row.cache_read
    if row.long_prompt is not None and not single_call:
        return None
    if row.long_prompt is not None and usage.prompt_tokens > row.long_prompt[0]:
        _, inp, out, w5, _, read = row.long_prompt
        if w5 is None and usage.cache_write_tokens:
            return None  # that band's cache-write price was not on a page we could read
        write = w5 or 0.0
    usd = (
        usage.input_tokens * inp
        + usage.output_tokens * out
        + usage.cache_write_tokens * write
        + usage.cache_read_tokens * read
    ) / 1e6
    discounted = usage.batch if batch is None else batch
    return usd * (1.0 - row.batch_discount) if discounted else usd


def cost_table(calls: Iterable[tuple[str, Usage]]) -> dict[str, dict[str, Any]]:
    """Per model, from `(spec, usage)` per paid call: calls, batched calls, uncached input,
    output, cache-write and cache-read tokens, and USD priced call by call (None when any call
    of that model has no price)."""
    table: dict[str, dict[str, Any]] = {}
    for spec, usage in calls:
        row = table.setdefault(spec, {
            "calls": 0, "batch_calls": 0, "input_tokens": 0, "output_tokens": 0,
            "cache_write_tokens": 0, "cache_read_tokens": 0, "cost_usd": 0.0})
        row["calls"] += 1
        row["batch_calls"] += int(usage.batch)
        for name in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens"):
            row[name] += getattr(usage, name)
        cost = estimate_cost(spec, usage, single_call=True)
        row["cost_usd"] = None if cost is None or row["cost_usd"] is None \
            else row["cost_usd"] + cost
    return table


def stored_usage(usage: Mapping[str, Any], api_usage: Mapping[str, Any] | None) -> Usage:
    """A stored exchange's usage: the API's own `usage` when the response kept it (cache and
    batch fields), else the stored input / output counts."""
    if api_usage and "input_tokens" in api_usage:
        return Usage.from_api(dict(api_usage), batch=bool(usage.get("batch")))
    return Usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)))
