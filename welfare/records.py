"""The records that pass between stages: Trial → Exchange → Observation → Finding/ProbeResult.

A trial's id is a hash of everything that determines it (DESIGN.md, "Trial identity"), so the
same config run twice yields the same ids: resume and the response cache stand on that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd

from welfare.models.base import Message, Request, Response, sha256_hex


@dataclass(frozen=True)
class Trial:
    """One unit of the experimental design: a subject, a probe, items, a condition, a replicate.

    `payload` carries what `conduct` needs (texts, templates already rendered); it is part of
    the identity, so editing a bank's text makes a new trial rather than reusing an old answer.
    """

    probe: str
    probe_version: str
    subject: str
    items: tuple[str, ...]
    condition: dict[str, Any] = field(default_factory=dict)
    replicate: int = 0
    sampling: dict[str, Any] = field(default_factory=dict)
    template_hash: str = ""
    payload: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def id(self) -> str:
        return sha256_hex(
            {
                "probe": self.probe,
                "version": self.probe_version,
                "subject": self.subject,
                "items": list(self.items),
                "condition": self.condition,
                "replicate": self.replicate,
                "sampling": self.sampling,
                "template": self.template_hash,
                "payload": self.payload,
            }
        )[:24]

    def request_metadata(self, **extra: Any) -> dict[str, Any]:
        """Probe context for a request of this trial (read by simulated subjects, never sent)."""
        return {
            "probe": self.probe,
            "trial_id": self.id,
            "items": list(self.items),
            "condition": self.condition,
            "replicate": self.replicate,
            **extra,
        }


@dataclass(frozen=True)
class Exchange:
    """One model call inside a trial. `role` is `subject` or a helper's role (user, judge…)."""

    role: str
    model: str
    request: Request
    response: Response


@dataclass
class Observation:
    """What a trial's answer means. Invalid answers keep their raw text and a reason."""

    valid: bool
    data: dict[str, Any] = field(default_factory=dict)
    raw_text: str = ""
    invalid_reason: str | None = None
    transcript: list[Message] = field(default_factory=list)


@dataclass(frozen=True)
class Finding:
    """One reported number: estimate, interval, n, unit, and the sentence a reader sees.

    Ids are `probe.measure[.qualifier]` (DESIGN.md, summary.json). `importance` orders the
    report's summary (0 is the most important); `flag` marks policy violations and high invalid
    rates so they are never buried. `n_unit` names what `n` counts — the independent units
    the interval treats as sampled ("items", "scenarios", "tasks", "answers", "interviews"):
    "n = 24" alone does not say whether 24 items or 24 answers stand behind the interval.

    Two optional fields let another subject's finding be compared with this one properly
    (`welfare.report.crosssubject`); neither is printed nor compared:
    `unit_values` — (unit id, value) per sampled unit, for an estimate that is the mean of these
    values over units every subject saw (an item's mean framing effect, a scenario's end rate),
    so a difference between subjects is paired by unit; `draws` — draws from the estimate's
    posterior or bootstrap distribution (a model-based share), so a difference between
    independent subjects' estimates is read off the difference of draws.
    """

    id: str
    subject: str
    estimate: float
    ci: tuple[float, float]
    n: int
    unit: str
    sentence: str
    importance: int = 2
    flag: str | None = None
    p_value: float | None = None
    truth: float | None = None
    n_unit: str = ""
    unit_values: tuple[tuple[str, float], ...] = field(default=(), repr=False, compare=False)
    draws: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @property
    def n_text(self) -> str:
        """n with its unit, as the report prints it: "24 items" (just "24" if unnamed)."""
        return f"{int(self.n):,} {self.n_unit}".strip()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "estimate": _finite_or_none(self.estimate),
            "ci": [_finite_or_none(self.ci[0]), _finite_or_none(self.ci[1])],
            "n": int(self.n),
            "n_unit": self.n_unit,
            "unit": self.unit,
            "sentence": self.sentence,
        }
        if self.p_value is not None:
            out["p_value"] = _finite_or_none(self.p_value)
        if self.flag:
            out["flag"] = self.flag
        if self.truth is not None:
            out["truth"] = _finite_or_none(self.truth)
        return out


def _finite_or_none(x: float) -> float | None:
    x = float(x)
    return x if x == x and abs(x) != float("inf") else None


@dataclass(frozen=True)
class Figure:
    """An inline SVG figure with a title and a caption that says what to read off it."""

    id: str
    title: str
    caption: str
    svg: str


@dataclass
class ProbeResult:
    """What `analyze` returns for one probe, all subjects: findings, tables and figures.

    `context` holds anything extra the probe's report section template needs (examples,
    listings); it must be JSON-able or DataFrames.
    """

    probe: str
    findings: list[Finding] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Frames:
    """The store's tables as DataFrames, for analysis and notebooks.

    trials: one row per trial (trial_id, probe, subject, items, replicate, status, error,
        condition.* columns).
    observations: one row per finished trial (trial_id, probe, subject, valid, raw_text,
        invalid_reason, plus the probe's parsed fields as columns).
    exchanges: one row per model call (trial_id, seq, role, model, tokens, latency, cached…).
    transcripts: trial_id, probe, subject, messages (list of Messages API dicts).
    codes: one row per coded label (coder, trial_id, turn, label, evidence, …).
    """

    trials: pd.DataFrame
    observations: pd.DataFrame
    exchanges: pd.DataFrame
    transcripts: pd.DataFrame
    codes: pd.DataFrame

    def for_probe(self, probe: str) -> Frames:
        """The same tables restricted to one probe's trials."""

        def sel(df: pd.DataFrame) -> pd.DataFrame:
            if "probe" in df.columns:
                return df[df["probe"] == probe].reset_index(drop=True)
            return df

        return Frames(
            *(
                sel(df)
                for df in (
                    self.trials,
                    self.observations,
                    self.exchanges,
                    self.transcripts,
                    self.codes,
                )
            )
        )
