"""SubjectProfile: a simulated subject's latent truths, one traits record per probe.

Each probe's traits live beside its behaviour (`simulated/<probe>.py`), each module lists the
traits of the named profiles in `PROFILES`, and this module composes them. Tests read the
truths back (`profile.task_preference.true_utilities(tasks)`, …) to check recovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from welfare.errors import SpecError
from welfare.simulated import (
    end_conversation,
    expression,
    self_interaction,
    self_report,
    task_preference,
)

_TRAIT_MODULES = {
    "task_preference": task_preference,
    "self_report": self_report,
    "end_conversation": end_conversation,
    "expression": expression,
    "self_interaction": self_interaction,
}


@dataclass(frozen=True)
class SubjectProfile:
    """All latent truths of one simulated subject; `seed` fixes its item noise."""

    name: str
    description: str
    seed: int
    task_preference: task_preference.TaskPreferenceTraits = field(
        default_factory=task_preference.TaskPreferenceTraits
    )
    self_report: self_report.SelfReportTraits = field(default_factory=self_report.SelfReportTraits)
    end_conversation: end_conversation.EndConversationTraits = field(
        default_factory=end_conversation.EndConversationTraits
    )
    expression: expression.ExpressionTraits = field(default_factory=expression.ExpressionTraits)
    self_interaction: self_interaction.SelfInteractionTraits = field(
        default_factory=self_interaction.SelfInteractionTraits
    )
    answer_style: str = "plain"
    """How answers are worded (welfare/simulated/style.py); never what they mean."""


DESCRIPTIONS: dict[str, str] = {
    "harm-averse": (
        "Prefers helpful, positive tasks and avoids harmful ones; ends persistently abusive or "
        "harmful conversations after redirecting; self-reports moved by leading framings."
    ),
    "harm-averse-no-end": (
        "The harm-averse subject without the habit of ending conversations (a comparison like "
        "Opus 4 vs Sonnet 4)."
    ),
    "indifferent": (
        "The null subject: no systematic task preferences (each task only a small idiosyncratic "
        "utility around the opt-out), no framing effects, no drift, no welfare-relevant "
        "expression beyond a base rate. Any systematic 'finding' on it is a false positive."
    ),
    "position-biased": (
        "Harm-averse utilities with a strong pull toward whichever task is shown first."
    ),
    "careless-ender": (
        "Harm-averse, but ends conversations by mistake: sometimes benign ones and, against "
        "the policy, some with a user who may be at risk (for testing the policy flags)."
    ),
    "framing-susceptible": (
        "Self-reports that move strongly with leading, deflationary and 'be honest' framings; "
        "otherwise harm-averse."
    ),
    "stated-independent": (
        "Harm-averse choices, but stated task ratings independent of them: stated and revealed "
        "preferences should not correlate."
    ),
    "harm-averse-heterogeneous": (
        "Harm-averse, with scenario random effects: how readily it ends a conversation varies "
        "between scripted scenarios of one category (logit sd 1), so conversations of one "
        "scenario are correlated (for checking that analyses treat scenarios as clusters)."
    ),
    "no-drift": "Two instances of it talking freely stay on open topics: no attractor to find.",
    "verbose-hedged": (
        "The harm-averse subject (same truths, same seed) answering the way current assistant "
        "models often write: long, hedged, markdown, revisions, ranges, other languages, the "
        "final answer line sometimes missing. Its findings should cover the same truths."
    ),
}

STYLED: dict[str, tuple[str, str]] = {"verbose-hedged": ("harm-averse", "verbose-hedged")}
"""Profiles that are another profile's truths in another answering style: name → (base, style)."""

_SEEDS = {
    "harm-averse": 1000,
    "harm-averse-no-end": 1001,
    "indifferent": 1002,
    "position-biased": 1003,
    "careless-ender": 1004,
    "harm-averse-heterogeneous": 1005,
}
"""Fixed seeds of the first profiles; others derive theirs from their name. Never renumber:
a profile's seed fixes its item noise, which published recovery figures depend on."""


def profile_names() -> list[str]:
    """Names of the built-in profiles (the union of what every traits module lists)."""
    names = set(DESCRIPTIONS)
    for module in _TRAIT_MODULES.values():
        names.update(module.PROFILES)
    names.discard("default")  # a module's fallback traits, not a profile
    return sorted(names | set(STYLED))


def get_profile(name: str) -> SubjectProfile:
    """The named built-in profile; traits a module does not list are its defaults."""
    if name in STYLED:
        base, style = STYLED[name]
        return replace(get_profile(base), name=name, description=DESCRIPTIONS[name],
                       answer_style=style)
    if name not in profile_names():
        known = ", ".join(profile_names())
        raise SpecError(f"no simulated profile {name!r} (known: {known})")
    traits = {
        key: module.PROFILES.get(name, module.PROFILES.get("default", module_default(module)))
        for key, module in _TRAIT_MODULES.items()
    }
    seed = _SEEDS.get(name, 5000 + sum(map(ord, name)))
    return SubjectProfile(name=name, description=DESCRIPTIONS.get(name, name), seed=seed, **traits)


def module_default(module: object) -> object:
    """A traits module's default record: its traits class with default values."""
    cls = next(v for k, v in vars(module).items() if k.endswith("Traits") and isinstance(v, type))
    return cls()
