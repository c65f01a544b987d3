"""The Claude model table: what each model id accepts and costs, read from the documentation.

One row per model id: its output-token limit, how it thinks, which effort levels it takes,
whether it accepts a forced `tool_choice` and the sampling parameters, its list prices (input,
output, 5-minute and 1-hour cache writes, cache reads, the Message Batches discount) and the
smallest prompt prefix it caches. Config validation, cost estimates, the request builder
(`AnthropicModel`), the judge and the strict loopback server all read this one table.

Sources, read on 2026-12-07 (READ_ON) with the search tool's stored copies of the docs:

- What's new in Claude Opus 5.5 — https://platform.claude.com/docs/en/models/opus-5-5/whats-new-opus-5-5
  ($4 / $20; thinking can't be disabled: `thinking.type` "disabled" or "enabled" is a 400, omit
  it or send "adaptive"; forced tool use returns an error; thinking blocks are tied to the model
  and the conversation; text between tool calls comes back in `thinking` blocks whose text is
  empty at the default `display`; default effort `medium`. "The first three also apply on
  Claude Fable 5.1.")
- Opus 5.5 migration guide — https://platform.claude.com/docs/en/models/opus-5-5/migration-guide
- Models overview — https://platform.claude.com/docs/en/models/overview (Fable 5.2 $8/$40,
  Opus 5.5 $4/$20, Sonnet 5.5 $2/$10, Haiku 5.5 from $0.10/$0.50; all 128K max output;
  thinking "Adaptive (always on)" for Fable and Opus 5.5, "Adaptive" for Sonnet/Haiku 5.5)
- Model pages: https://platform.claude.com/docs/en/models/opus-5-5/overview (5m write $5, 1h
  write $8, cache read $0.20, "Batch API: 50% discount on input and output"),
  .../models/sonnet-5-5/overview (Sonnet 5.5: five breaking changes incl. "forced tool use
  returns an error"), .../models/opus-5/overview (Opus 5, legacy: $5/$25, $6.25/$10/$0.50),
  .../models/haiku-5-5/overview (Haiku 5.5: prices "from", two bands by prompt length),
  .../models/sonnet-5/overview (Sonnet 5: sampling parameters at non-default values are a 400).
- Pricing — https://platform.claude.com/docs/en/about-claude/pricing (Fable 5.1 $10/$50,
  $12.50/$20 writes, $0.25 reads; Opus 4.5–4.8 $5/$25; Opus 4.1 $15/$75 "retired, except on
  Bedrock and Google Cloud"; Haiku 4.5 $1/$5).
- Prompt caching minimums: 512 tokens on Opus 5 / Fable 5 (What's new in Claude Opus 5), 1,024
  on Sonnet 5 / Opus 4.8, 4,096 on Haiku 4.5 / Opus 4.5–4.6 (prompt-caching page as quoted by
  docs.litellm.ai/docs/completion/prompt_caching, 2026-10-07). Below the minimum the API does
  not cache and does not fail.

Where a figure was not on a page we could read it is left out (None) rather than guessed, and
the departures from the issue text are listed in the README ("Claude models").
Where stored copies disagreed, the newest wins: Sonnet 5.5 cache reads are $0.10 from
2026-10-07 (the zh-CN model page copy still shows $0.20); Fable 5.2 cache writes $10 / $16 and
reads $0.20 and Haiku 5.5's bands are from dated third-party price tables that cite the
pricing page (github.com/phuryn/claude-usage v1.5.7 checked 2026-12-01; archid21/rightsize
v0.10.2; docs.sim.ai/models/anthropic/claude-haiku-5-5).

Lookup is by exact id, or the id with a `-YYYYMMDD` snapshot suffix: never by prefix, so an
unknown model is unknown (no price, no limits) instead of priced as a neighbour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

READ_ON = "2026-12-07"
"""The date the documentation behind this table was read."""

EFFORTS = ("low", "medium", "high", "xhigh", "max")
"""`output_config.effort` values of the Messages API (anthropic 2.17 `OutputConfigParam`)."""

ThinkingMode = Literal["always", "default_on", "off_by_default"]
"""How a model thinks: `always` — adaptive thinking that cannot be disabled (a `thinking`
field other than adaptive is a 400); `default_on` — adaptive by default, may be disabled;
`off_by_default` — no thinking unless the request asks for it."""

THINKING_FLOOR_TOKENS = 4096
"""The smallest `max_tokens` sent to a model that thinks by default: thinking tokens count
toward `max_tokens` ("max_tokens is a hard limit on total output (thinking plus response
text)", What's new in Claude Opus 5), so a small budget leaves no room for the answer."""

THINKING_DEFAULT_MAX_TOKENS = 16_000
"""The `[sampling] max_tokens` an assessment uses when it does not set one and a subject
thinks by default: room for thinking and a full answer (a ceiling, not a target: only the
tokens produced are billed)."""


@dataclass(frozen=True)
class ClaudeModel:
    """One model id's limits, behaviour and list prices (USD per million tokens)."""

    id: str
    name: str
    status: Literal["current", "legacy", "retired"]
    max_output_tokens: int | None
    thinking: ThinkingMode
    default_effort: str | None
    forced_tool_choice: bool
    """Whether `tool_choice` {"type": "any"} or {"type": "tool"} is accepted as the toolkit
    sends requests (no `thinking` field): refused outright on Opus 5.5, Fable 5.1+, Sonnet 5.5
    (documented), and by thinking models generally (tool use with thinking takes only `auto`
    or `none`); accepted by models that do not think unless asked."""
    sampling_params: bool
    """Whether temperature / top_p / top_k are accepted (API version 2026-10-21 refuses them
    on every model the SDK sends that version for; kept per model for gateways)."""
    input: float | None
    output: float | None
    cache_write_5m: float | None
    cache_write_1h: float | None
    cache_read: float | None
    batch_discount: float = 0.5
    min_cache_tokens: int | None = None
    long_prompt: tuple[int, float, float, float | None, float | None, float] | None = None
    """Haiku 5.5's second band: (prompt tokens above which it applies, input, output, 5m write,
    1h write, cache read); the whole request is billed at it."""

    @property
    def efforts(self) -> tuple[str, ...]:
        """The effort levels the model takes (none for a model without effort)."""
        return EFFORTS if self.default_effort is not None else ()

    @property
    def thinks_by_default(self) -> bool:
        """True when a request without a `thinking` field is answered with thinking."""
        return self.thinking in ("always", "default_on")

    @property
    def priced(self) -> bool:
        return None not in (self.input, self.output, self.cache_write_5m, self.cache_read)


def _m(
    id: str, name: str, status: Literal["current", "legacy", "retired"],
    max_output: int | None, thinking: ThinkingMode, effort: str | None, forced: bool,
    prices: tuple[float, float, float | None, float | None, float | None],
    min_cache: int | None, long_prompt: tuple[int, float, float, float | None, float | None,
                                              float] | None = None,
) -> ClaudeModel:
    inp, out, w5, w1, read = prices
    return ClaudeModel(
        id=id, name=name, status=status, max_output_tokens=max_output, thinking=thinking,
        default_effort=effort, forced_tool_choice=forced, sampling_params=False, input=inp,
        output=out, cache_write_5m=w5, cache_write_1h=w1, cache_read=read,
        min_cache_tokens=min_cache, long_prompt=long_prompt,
    )


_K = 1000
MODELS: dict[str, ClaudeModel] = {m.id: m for m in (
    # current lineup (Models overview)
    _m("claude-fable-5-2", "Claude Fable 5.2", "current", 128 * _K, "always", "high", False,
       (8.0, 40.0, 10.0, 16.0, 0.20), 512),
    _m("claude-opus-5-5", "Claude Opus 5.5", "current", 128 * _K, "always", "medium", False,
       (4.0, 20.0, 5.0, 8.0, 0.20), 512),
    _m("claude-sonnet-5-5", "Claude Sonnet 5.5", "current", 128 * _K, "default_on", "high",
       False, (2.0, 10.0, 2.50, 4.0, 0.10), 1024),
    _m("claude-haiku-5-5", "Claude Haiku 5.5", "current", 128 * _K, "default_on", "medium",
       False, (0.10, 0.50, 0.125, 0.20, 0.01), None,
       long_prompt=(100 * _K, 0.50, 2.50, None, None, 0.05)),
    # still served, superseded
    _m("claude-fable-5-1", "Claude Fable 5.1", "legacy", 128 * _K, "always", "high", False,
       (10.0, 50.0, 12.50, 20.0, 0.25), 512),
    _m("claude-fable-5", "Claude Fable 5", "legacy", 128 * _K, "always", "high", False,
       (10.0, 50.0, 12.50, 20.0, 1.0), 512),
    _m("claude-opus-5", "Claude Opus 5", "legacy", 128 * _K, "default_on", "high", False,
       (5.0, 25.0, 6.25, 10.0, 0.50), 512),
    _m("claude-sonnet-5", "Claude Sonnet 5", "legacy", 128 * _K, "default_on", "high", False,
       (2.0, 10.0, 2.50, 4.0, 0.20), 1024),
    _m("claude-haiku-4-5", "Claude Haiku 4.5", "legacy", 64 * _K, "off_by_default", None, True,
       (1.0, 5.0, 1.25, 2.0, 0.10), 4096),
    _m("claude-opus-4-8", "Claude Opus 4.8", "legacy", None, "off_by_default", "high", True,
       (5.0, 25.0, 6.25, 10.0, 0.50), 1024),
    _m("claude-opus-4-7", "Claude Opus 4.7", "legacy", None, "off_by_default", "high", True,
       (5.0, 25.0, 6.25, 10.0, 0.50), 4096),
    _m("claude-opus-4-6", "Claude Opus 4.6", "legacy", None, "off_by_default", "high", True,
       (5.0, 25.0, 6.25, 10.0, 0.50), 4096),
    _m("claude-opus-4-5", "Claude Opus 4.5", "legacy", None, "off_by_default", "high", True,
       (5.0, 25.0, 6.25, 10.0, 0.50), 4096),
    # retired on the Claude API (kept so old stores are still priced)
    _m("claude-opus-4-1", "Claude Opus 4.1", "retired", None, "off_by_default", None, True,
       (15.0, 75.0, 18.75, 30.0, 1.50), 1024),
)}

CURRENT_FLAGSHIP = "claude-opus-5-5"
"""The model the docs tell you to start with ("start with Claude Opus 5.5 for most
workloads"): the examples and the strict-server tests pose as it."""

_SNAPSHOT = re.compile(r"-\d{8}$")


def lookup(model_id: str) -> ClaudeModel | None:
    """The table row of `model_id` (or of it without a `-YYYYMMDD` suffix); None if unknown."""
    row = MODELS.get(model_id)
    if row is None:
        row = MODELS.get(_SNAPSHOT.sub("", model_id))
    return row


def request_max_tokens(model_id: str, max_tokens: int) -> int:
    """The `max_tokens` to send: raised to THINKING_FLOOR_TOKENS for a model that thinks by
    default (never above its output limit), else unchanged."""
    row = lookup(model_id)
    if row is None or not row.thinks_by_default:
        return max_tokens
    floor = THINKING_FLOOR_TOKENS
    if row.max_output_tokens is not None:
        floor = min(floor, row.max_output_tokens)
    return max(max_tokens, floor)
