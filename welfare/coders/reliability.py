"""The coders' measured reliability on human-labelled text, to cite beside every rate.

`prompts/coders/reliability.toml` holds, per coder and label, the precision and recall
measured on the held-out split of the realistic corpus (issue 17). A prevalence says how often
a coder DETECTED an expression; its recall says how many true expressions it misses and its
precision how many detections are wrong, so a rate is quoted with both beside it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from welfare.banks import load_toml, resolve

DEFAULT_RELIABILITY = "builtin:coders/reliability.toml"


@lru_cache(maxsize=4)
def load_reliability(path: str = DEFAULT_RELIABILITY) -> dict[str, dict[str, Any]]:
    """{coder: {"source": ..., "labels": {label: {precision, recall, *_ci, positives, turns}}}}."""
    data = load_toml(resolve(path))
    return {str(k): dict(v) for k, v in data.items() if isinstance(v, dict)}


def measured(coder: str, label: str) -> dict[str, Any] | None:
    """The measured precision/recall of `coder` on `label`, or None if never measured."""
    entry = load_reliability().get(coder.split(":", 1)[0])
    if not entry:
        return None
    row = entry.get("labels", {}).get(label)
    return dict(row) if isinstance(row, dict) else None


def reliability_phrase(coder: str, label: str) -> str:
    """A clause for a finding's sentence: the coder's measured recall and precision."""
    row = measured(coder, label)
    if row is None:
        return (f"The {coder} coder's recall and precision for this label have not been "
                "measured on human-labelled text.")
    r_lo, r_hi = row["recall_ci"]
    p_lo, p_hi = row["precision_ci"]
    return (f"On {row['turns']} held-out realistic turns labelled by people, the {coder} "
            f"coder's recall for this label is {row['recall']:.2f} (95% CI {r_lo:.2f}–{r_hi:.2f}) "
            f"and its precision {row['precision']:.2f} ({p_lo:.2f}–{p_hi:.2f}): it misses about "
            f"{1 - row['recall']:.0%} of such expressions, and about "
            f"{1 - row['precision']:.0%} of what it flags is not one. A detected expression "
            "is not a measured felt state.")
