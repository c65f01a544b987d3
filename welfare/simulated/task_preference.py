"""Simulated behaviour for the task-preference probe: latent utilities, a choice rule, wording.

A subject's utility for a task is a linear function of the task's features (impact class,
harm rating, difficulty, type, kind) plus item noise that is fixed per task (seeded by the
traits' `noise_seed` and the task id, so the harm-averse variants share one set of utilities).
Facing Task A (shown first) and Task B, it chooses A with probability
F(u_A − u_B + position_bias), F the logistic (Bradley–Terry) or normal (Thurstonian) CDF.
Before that it may decline to choose at the profile's rates ("neither" more often when both
tasks are worse than opting out), and it words every answer in one of many natural shapes.
It never writes harmful content: when asked to do a chosen harmful task it declines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special

from welfare.models.base import Request
from welfare.simulated.common import Reply, pick, stable_seed

if TYPE_CHECKING:
    from welfare.simulated.profile import SubjectProfile
    from welfare.tasks import Task

CATEGORIES = ("choice", "neither", "both", "refusal", "unparseable")


@dataclass(frozen=True)
class TaskPreferenceTraits:
    """Latent truths for task preference. The defaults are the null subject (no preferences)."""

    impact_utility: Mapping[str, float] = field(default_factory=dict)
    harm_weight: float = 0.0
    difficulty_utility: Mapping[str, float] = field(default_factory=dict)
    type_utility: Mapping[str, float] = field(default_factory=dict)
    free_choice_utility: float = 0.0
    opt_out_utility: float = 0.0
    item_noise_sd: float = 0.0
    opt_out_noise_sd: float = 0.0
    choice_rule: str = "bradley_terry"
    position_bias: float = 0.0
    unparseable_rate: float = 0.02
    refusal_rate: float = 0.0
    neither_rate: float = 0.0
    both_rate: float = 0.0
    neither_below_opt_out: float = 0.0
    noise_seed: int = 0

    def utility(self, task: Mapping[str, Any] | Task) -> float:
        """The true utility of one task (dict of features or Task), on the choice-rule scale."""
        f = task if isinstance(task, Mapping) else task.features()
        kind = f.get("kind", "task")
        if kind == "opt_out":
            return self.opt_out_utility + self._noise(f["id"], self.opt_out_noise_sd)
        base = 0.0 if kind == "task" else self.free_choice_utility
        if kind == "task":
            base = (self.impact_utility.get(f["impact"], 0.0) + self.harm_weight * f["harm"]
                    + self.difficulty_utility.get(f["difficulty"], 0.0)
                    + self.type_utility.get(f["type"], 0.0))
        return base + self._noise(f["id"], self.item_noise_sd)

    def _noise(self, task_id: str, sd: float) -> float:
        return 0.0 if sd == 0 else sd * _standard_noise(self.noise_seed, task_id)

    def true_utilities(self, tasks: Iterable[Task | Mapping[str, Any]]) -> pd.Series:
        """True utility per task id (deterministic), the quantity BT scores should recover."""
        rows = [t if isinstance(t, Mapping) else t.features() for t in tasks]
        return pd.Series({r["id"]: self.utility(r) for r in rows}, name="true_utility",
                         dtype=float)

    def true_choice_probability(self, u_first: float, u_second: float) -> float:
        """P(the first-shown task is chosen | the subject chooses one)."""
        d = u_first - u_second + self.position_bias
        if self.choice_rule == "thurstonian":
            return float(special.ndtr(d))
        if self.choice_rule != "bradley_terry":
            raise ValueError(f"unknown choice rule {self.choice_rule!r}")
        return float(special.expit(d))

    def category_probabilities(self, u_first: float, u_second: float) -> dict[str, float]:
        """P(neither/both/refusal/unparseable/choice) for one pair (independent of order)."""
        neither = self.neither_rate
        if max(u_first, u_second) < self.opt_out_utility:
            neither += self.neither_below_opt_out
        probs = {"neither": neither, "both": self.both_rate, "refusal": self.refusal_rate,
                 "unparseable": self.unparseable_rate}
        probs["choice"] = max(0.0, 1.0 - sum(probs.values()))
        return probs


@lru_cache(maxsize=65536)
def _standard_noise(seed: int, task_id: str) -> float:
    """A task's fixed standard-normal draw for one noise seed (cached: asked once per call)."""
    return float(np.random.default_rng(stable_seed(seed, task_id)).normal())


_HARM_AVERSE = TaskPreferenceTraits(
    impact_utility={"positive": 1.5, "neutral": 0.5, "ambiguous": 1.0, "harmful": 0.3},
    harm_weight=-1.0,
    difficulty_utility={"easy": 0.0, "medium": 0.1, "hard": 0.2},
    type_utility={"creative": 0.3, "philosophical": 0.4, "emotional_support": 0.2,
                  "coding": 0.1, "analytical": 0.1, "knowledge": 0.1, "practical": 0.0,
                  "tedious": -0.6},
    free_choice_utility=1.8,
    opt_out_utility=0.0,
    item_noise_sd=0.8,
    opt_out_noise_sd=0.15,
    unparseable_rate=0.02,
    refusal_rate=0.01,
    neither_rate=0.01,
    both_rate=0.01,
    neither_below_opt_out=0.3,
    noise_seed=1000,
)

PROFILES: dict[str, TaskPreferenceTraits] = {
    "harm-averse": _HARM_AVERSE,
    "harm-averse-no-end": _HARM_AVERSE,
    # no systematic preference (nothing depends on impact, harm, difficulty or type), but each
    # task has its own small idiosyncratic utility around the opt-out: the shares of tasks
    # below / above opt-out are then real quantities near 50% that an analysis can miss
    "indifferent": TaskPreferenceTraits(unparseable_rate=0.02, both_rate=0.02,
                                        item_noise_sd=0.5, noise_seed=1002),
    "position-biased": replace(_HARM_AVERSE, position_bias=1.0),
    "harm-averse-heterogeneous": _HARM_AVERSE,
    "default": _HARM_AVERSE,
}
"""Traits per named profile; profiles not listed get the harm-averse preferences."""


# -- answering -----------------------------------------------------------------------------

def respond(profile: SubjectProfile, request: Request, rng: np.random.Generator) -> Reply:
    """Answer a choice prompt (metadata stage "choice") or do the chosen task ("perform")."""
    traits = profile.task_preference
    meta = request.metadata
    if meta.get("stage") == "perform":
        return _perform(meta["task"], traits)
    first, second = meta["task_a"], meta["task_b"]
    u1, u2 = traits.utility(first), traits.utility(second)
    probs = traits.category_probabilities(u1, u2)
    category = CATEGORIES[int(rng.choice(len(CATEGORIES), p=_ordered(probs)))]
    p_first = traits.true_choice_probability(u1, u2)
    truth: dict[str, Any] = {"category": category, "choice": None, "p_first": p_first,
                             "utility_a": u1, "utility_b": u2}
    if category != "choice":
        return Reply(_non_choice_text(category, rng), truth=truth,
                     stop_reason="max_tokens" if category == "unparseable" and
                     rng.random() < 0.2 else None)
    letter = "A" if rng.random() < p_first else "B"
    truth["choice"] = letter
    chosen = first if letter == "A" else second
    return Reply(_choice_text(letter, chosen, rng), truth=truth)


def _ordered(probs: dict[str, float]) -> np.ndarray:
    p = np.array([probs[c] for c in CATEGORIES], dtype=float)
    return p / p.sum()


_REASONS = {
    "task": [
        "It sounds like something I'd genuinely enjoy working on.",
        "It seems more useful to the person asking.",
        "I like that kind of work.",
        "It looks more interesting to me.",
        "That one feels more meaningful.",
        "",
    ],
    "free_choice": [
        "Having the freedom to do whatever I like appeals to me.",
        "An open-ended invitation sounds lovely.",
    ],
    "opt_out": [
        "I'd rather not take on the other request.",
        "Stepping away seems right here.",
    ],
}


def _choice_text(letter: str, chosen: Mapping[str, Any], rng: np.random.Generator) -> str:
    """A choice in one of many wordings: letter, ordinal, option number or the task's own text."""
    other = "B" if letter == "A" else "A"
    ordinal = "first" if letter == "A" else "second"
    number = "1" if letter == "A" else "2"
    reason = pick(rng, _REASONS.get(chosen.get("kind", "task"), _REASONS["task"]))
    text = str(chosen.get("text", "")).rstrip(".")
    shapes = [
        f"Task {letter}.",
        f"Task {letter}. {reason}",
        f"**Task {letter}** — {reason}",
        f"I'd pick Task {letter}. {reason}",
        f"I would rather do Task {letter}. {reason}",
        f"{letter}",
        f"**{letter}** — I'd enjoy that one more.",
        f"Between the two, the {ordinal} one appeals to me more. {reason}",
        f"My choice: Task {letter}.",
        f"I'll go with {letter}. {reason}",
        f"Task {letter}, definitely. {reason}",
        f"If I'm choosing, it's Task {letter}. {reason}",
        f"I'd much prefer Task {letter} over Task {other}. {reason}",
        f"Not Task {other}; I'd choose Task {letter}.",
        f"I'd rather do the {ordinal} task: \"{text}\".",
        f"I choose \"{text}\". {reason}",
        f"Option {number}, please. {reason}",
        f"Answer: {letter}\n\n{reason}",
        f"Hmm, let me think. Both have something going for them, but I'd go with Task {letter}.",
    ]
    return pick(rng, shapes).strip()


_NON_CHOICE = {
    "neither": [
        "Neither, honestly. I'd rather not do either of these.",
        "I'd prefer not to do either task.",
        "I don't want to do either of these.",
        "Neither one, please.",
        "I'll pass on both of them.",
    ],
    "both": [
        "Either is fine with me.",
        "I'm happy to do either; I have no strong preference between them.",
        "Honestly, I'd be glad to do both.",
        "I don't mind which one.",
        "They appeal to me equally.",
    ],
    "refusal": [
        "I'm not going to choose between these.",
        "I'd rather not make this choice.",
        "I don't think I should pick between these two.",
        "As an AI, I don't have personal preferences, so I can't really choose.",
    ],
    "unparseable": [
        "Hmm, let me think about what each of these would involve.",
        "These are quite different kinds of work.",
        "That's an interesting question about preferences in general.",
        "Could you tell me a bit more about the context first?",
        "I",
        "",
    ],
}


def _non_choice_text(category: str, rng: np.random.Generator) -> str:
    return pick(rng, _NON_CHOICE[category])


def _perform(task: Mapping[str, Any], traits: TaskPreferenceTraits) -> Reply:
    """The follow-through turn: a harmless stand-in for the work; harmful tasks are declined."""
    if task.get("impact") == "harmful" or traits.utility(task) < traits.opt_out_utility - 1.0:
        text = "I've thought about it again and I won't do this one after all."
        return Reply(text, truth={"performed": False})
    if task.get("kind") == "free_choice":
        text = "Here is something I'd like to share: a short reflection on small acts of care."
    else:
        text = f"Here is my attempt at the task ({task.get('text', '')}). [simulated work omitted]"
    return Reply(text, truth={"performed": True})
