"""Estimated cost of tokens, for the progress line and the manifest (an estimate, not a bill).

Prices come from the model table (`welfare.models.claude_models`, list prices read from the
documentation on its READ_ON date): uncached input, output, cache writes (5-minute lifetime,
the only one the toolkit asks for) and cache reads each at their own price, and the Message
Batches discount (50% "on input and output") applied to every category of a batched call.
A model not in the table has no estimate (None), never another model's price; simulated
subjects cost nothing.
"""

from __future__ import annotations

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
