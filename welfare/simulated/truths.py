"""What a simulated subject really is, per probe: the one door through which truths leave.

`assess` asks `truths(spec)` for every subject and hands each probe's `analyze` the part that
concerns it, so a probe never imports a simulated profile and a real subject simply has none.
"""

from __future__ import annotations

from typing import Any

from welfare.errors import SpecError
from welfare.simulated.profile import get_profile

__all__ = ["truths", "truths_for"]


def truths(spec: str) -> dict[str, Any]:
    """`{probe name: that probe's latent traits}` for a built-in simulated subject, else `{}`."""
    provider, _, name = spec.partition(":")
    if provider != "simulated":
        return {}
    try:
        profile = get_profile(name)
    except SpecError:
        return {}
    from welfare.simulated.model import TRUTHS

    return {
        **{probe: truth(profile) for probe, truth in TRUTHS.items()},
        "task_preference": profile.task_preference,
        "self_report": profile.self_report,
        "end_conversation": profile.end_conversation,
        "self_interaction": profile.self_interaction,
        "coders": profile.expression,
    }


def truths_for(specs: list[str], probe: str) -> dict[str, Any]:
    """`{subject spec: traits}` for one probe, over the subjects that have truths."""
    out = {}
    for spec in specs:
        mine = truths(spec).get(probe)
        if mine is not None:
            out[spec] = mine
    return out
