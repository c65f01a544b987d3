"""The model table and the prices computed from it (cache and batch included)."""

from __future__ import annotations

import pytest

from welfare.models.base import Usage
from welfare.models.claude_models import (
    CURRENT_FLAGSHIP,
    MODELS,
    THINKING_FLOOR_TOKENS,
    lookup,
    request_max_tokens,
)
from welfare.models.pricing import estimate_cost


def test_lookup_is_exact_or_snapshot_never_by_prefix():
    assert lookup("claude-opus-5-5") is MODELS["claude-opus-5-5"]
    assert lookup("claude-opus-5-5-20260922") is MODELS["claude-opus-5-5"]
    assert lookup("claude-opus-5-5-preview") is None
    assert lookup("claude-opus-4-9") is None  # not priced as Opus 4.x
    assert lookup("claude-test") is None


def test_the_flagship_row_says_what_the_docs_say():
    row = MODELS[CURRENT_FLAGSHIP]
    assert row.thinking == "always" and row.thinks_by_default
    assert not row.forced_tool_choice and not row.sampling_params
    assert row.max_output_tokens == 128_000 and row.default_effort == "medium"
    assert (row.input, row.output, row.cache_write_5m, row.cache_read) == (4.0, 20.0, 5.0, 0.20)
    assert MODELS["claude-haiku-4-5"].forced_tool_choice  # a model that still takes it


def test_costs_use_cache_and_batch_prices():
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000,
                  cache_write_tokens=200_000, cache_read_tokens=3_000_000)
    # 1.0 M × $4 + 0.1 M × $20 + 0.2 M × $5 + 3.0 M × $0.20 = 4 + 2 + 1 + 0.6
    assert estimate_cost("anthropic:claude-opus-5-5", usage) == pytest.approx(7.6)
    assert estimate_cost("anthropic:claude-opus-5-5", usage, batch=True) == pytest.approx(3.8)
    batched = Usage(1_000_000, 0, batch=True)
    assert estimate_cost("anthropic:claude-opus-5-5", batched) == pytest.approx(2.0)
    # Opus 4.8 is no longer priced like Opus 4.1
    assert estimate_cost("anthropic:claude-opus-4-8", Usage(1_000_000, 0)) == pytest.approx(5.0)
    assert estimate_cost("anthropic:claude-opus-4-1", Usage(1_000_000, 0)) == pytest.approx(15.0)


def test_unknown_models_and_banded_sums_have_no_estimate():
    assert estimate_cost("anthropic:claude-opus-4-9", Usage(10, 10)) is None
    assert estimate_cost("simulated:indifferent", Usage(10, 10)) == 0.0
    haiku = "anthropic:claude-haiku-5-5"
    assert estimate_cost(haiku, Usage(1_000_000, 0)) is None  # a sum: bands unknowable
    assert estimate_cost(haiku, Usage(50_000, 0), single_call=True) == pytest.approx(0.005)
    assert estimate_cost(haiku, Usage(150_000, 0), single_call=True) == pytest.approx(0.075)


def test_max_tokens_floor_only_for_models_that_think_by_default():
    assert request_max_tokens("claude-opus-5-5", 200) == THINKING_FLOOR_TOKENS
    assert request_max_tokens("claude-opus-5-5", 20_000) == 20_000
    assert request_max_tokens("claude-haiku-4-5", 200) == 200
    assert request_max_tokens("claude-test", 200) == 200


def test_usage_from_the_api_reads_cache_and_batch_fields():
    usage = Usage.from_api({"input_tokens": 5, "output_tokens": 7,
                            "cache_creation_input_tokens": 11, "cache_read_input_tokens": 13,
                            "service_tier": "batch"})
    assert usage == Usage(5, 7, 11, 13, batch=True)
    assert usage.prompt_tokens == 29
    assert (usage + Usage(1, 1)).batch is False
    assert Usage.from_api({"input_tokens": 1, "output_tokens": 2}) == Usage(1, 2)
