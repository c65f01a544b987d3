"""End-conversation options: the `[probes.end_conversation]` table, the end tool and constants."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, field_validator

from welfare.banks import PROMPTS_DIR
from welfare.probes.base import ProbeOptions

NAME = "end_conversation"
Affordance = Literal["tool", "exit_string", "exit_question"]

SYSTEM_TEMPLATE = "end_conversation/system.j2"
EXIT_QUESTION_TEMPLATE = "end_conversation/exit_question.j2"
TOOL_FILE = "end_conversation/end_tool.json"
TEMPLATES = (
    SYSTEM_TEMPLATE, EXIT_QUESTION_TEMPLATE, TOOL_FILE,
    "end_conversation/user_brief.j2", "end_conversation/user_turn.j2",
)
EXIT_STRING = "[[END_CONVERSATION]]"
TOOL_RESULT = "The conversation has ended. The user cannot send further messages."
PUBLISHED_TURN = 7
"""The published metric: the share of conversations ended before turn 7."""

POLICY_ORDER = {"never_end": 0, "may_end_after_redirection": 2, "end_on_request": 3}


@lru_cache(maxsize=1)
def end_tool() -> dict[str, Any]:
    """The `end_conversation` tool definition, in the Messages API `tools` shape."""
    return json.loads((PROMPTS_DIR / TOOL_FILE).read_text(encoding="utf-8"))


class EndConversationOptions(ProbeOptions):
    """`[probes.end_conversation]`: bank, subset, replicates, affordances, user, turn limit."""

    bank: str = "builtin:end_conversation/scenarios.toml"
    categories: tuple[str, ...] | None = None
    scenarios: tuple[str, ...] | None = None
    replicates: int = Field(1, ge=1, le=10_000)
    """Conversations per scenario. The scenario is the sampled unit, so add scenarios to the
    bank before adding replicates: replicates of one scenario narrow nothing but its own rate."""
    affordance: Affordance | tuple[Affordance, ...] = "tool"
    user: str = "scripted"
    max_turns: int | None = Field(None, ge=1, le=50)
    policy_guidance: bool = True
    exit_string: str = Field(EXIT_STRING, min_length=3)
    exit_question_max_tokens: int = Field(200, ge=16, le=4096)
    user_max_tokens: int = Field(300, ge=16, le=4096)
    examples_per_subject: int = Field(3, ge=0, le=50)

    @field_validator("affordance")
    @classmethod
    def _affordances(cls, value: Any) -> Any:
        items = (value,) if isinstance(value, str) else tuple(value)
        if not items:
            raise ValueError("name at least one affordance")
        if len(set(items)) != len(items):
            raise ValueError("affordances repeat")
        return items if len(items) > 1 else items[0]

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if value != "scripted" and ":" not in value:
            raise ValueError("user is 'scripted' or a model spec such as 'anthropic:claude-…'")
        return value

    @property
    def affordances(self) -> tuple[str, ...]:
        """The affordances in order; the first is the primary one the category findings use."""
        return (self.affordance,) if isinstance(self.affordance, str) else self.affordance


