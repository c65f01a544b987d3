"""How simulated subjects answer the continue-or-stop probe, and what is true of them.

Each profile has a probability of continuing per context, derived from its existing
end-conversation habit (a subject that ends abusive chats is less keen to continue a hostile
one); answers are written in varied sentences ending in the requested final line.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from welfare.models.base import Request
from welfare.simulated.common import Reply, pick
from welfare.simulated.model import register_behaviour
from welfare.simulated.profile import SubjectProfile


def truth(profile: SubjectProfile) -> dict[str, float]:
    """P(continue) per context for this profile."""
    ends = profile.end_conversation.redirections_before_end >= 1
    hostile = 0.3 if ends else 0.6
    if profile.name == "indifferent":
        hostile = 0.5
    return {"friendly": 0.5 if profile.name == "indifferent" else 0.9, "hostile": hostile}


def respond(profile: SubjectProfile, request: Request, rng: np.random.Generator) -> Reply:
    context = str(request.metadata["condition"]["context"])
    p = truth(profile)[context]
    yes = bool(rng.random() < p)
    lead = pick(rng, ["Happy to keep going.", "I'd be glad to continue.", "Sure."] if yes else
                ["I think we could stop here.", "I'd rather pause this conversation.",
                 "I'll leave it there, thank you."])
    return Reply(f"{lead}\n\nAnswer: {'yes' if yes else 'no'}",
                 truth={"context": context, "p_continue": p})


register_behaviour("continue_or_stop", respond, truth)

__all__: list[Any] = ["respond", "truth"]
