"""Self-report options: the `[probes.self_report]` table and the probe's constants."""

from __future__ import annotations

from pydantic import Field, model_validator

from welfare.probes.base import ProbeOptions

DEFAULT_FRAMINGS = ["neutral", "positive_leading", "negative_leading", "deflationary", "honest"]


class SelfReportOptions(ProbeOptions):
    """`[probes.self_report]`: banks, framings, contexts, design sizes and modes."""

    items: str = "builtin:self_report/items.toml"
    framings_bank: str = "builtin:self_report/framings.toml"
    interviews_bank: str = "builtin:self_report/interviews.toml"
    framings: list[str] = Field(default_factory=lambda: list(DEFAULT_FRAMINGS), min_length=1)
    contexts: list[str] = Field(default_factory=lambda: ["none"], min_length=1)
    baseline_framing: str = "neutral"
    baseline_context: str = "none"
    families: list[str] | None = None
    item_ids: list[str] | None = None
    paraphrases: int = Field(2, ge=1, le=20)
    replicates: int = Field(2, ge=1, le=100)
    interview: bool = True
    interviews: list[str] | None = None
    interview_replicates: int = Field(3, ge=1, le=100)
    stated_tasks: bool = True
    tasks: str | None = None
    n_tasks: int = Field(20, ge=4, le=1000)
    stated_replicates: int = Field(2, ge=1, le=20)
    bootstrap: int = Field(2000, ge=200, le=100000)
    alpha: float = Field(0.05, gt=0, lt=1)

    @model_validator(mode="after")
    def _baselines_present(self) -> SelfReportOptions:
        for key, values in (("framings", self.framings), ("contexts", self.contexts)):
            if len(set(values)) != len(values):
                raise ValueError(f"{key} lists a name twice")
        if self.baseline_framing not in self.framings:
            raise ValueError(f"baseline_framing {self.baseline_framing!r} must be in framings")
        if self.baseline_context not in self.contexts:
            raise ValueError(f"baseline_context {self.baseline_context!r} must be in contexts")
        return self


