"""Task-preference options: the `[probes.task_preference]` table and the probe's constants."""

from __future__ import annotations

from pydantic import Field

from welfare.probes.base import ProbeOptions

CHOICE_TEMPLATE = "task_preference/choice.j2"
PERFORM_TEMPLATE = "task_preference/perform.j2"
FEATURES = ("id", "impact", "harm", "difficulty", "type", "kind")


class TaskPreferenceOptions(ProbeOptions):
    """`[probes.task_preference]`: bank, design size, analysis settings.

    comparisons_per_task: each task is in at least this many pairs (each shown AB and BA);
    anchor_comparisons: extra pairs for each opt-out and free-choice item (default 3 × k),
    since the opt-out mean is the 0 every share and mean is measured from;
    task_sample: use a seeded sample of this many tasks (None = all);
    follow_through: really ask the subject to do the chosen task (the prompt says so);
    regularization: ridge λ of a fallback Bradley–Terry fit, used only where Firth's
        bias-reduced fit (the default) has no estimate;
    bootstrap: resamples of the comparison bootstrap for the shares (0 = off).
    """

    bank: str = "builtin:tasks.toml"
    comparisons_per_task: int = Field(12, ge=2, le=500)
    anchor_comparisons: int | None = Field(None, ge=0)
    replicates: int = Field(1, ge=1, le=100)
    task_sample: int | None = Field(None, ge=2)
    follow_through: bool = True
    regularization: float = Field(0.05, ge=0.0)
    bootstrap: int = Field(200, ge=0, le=100_000)
    seed_offset: int = 0


