"""A synthetic Assessment for report tests: known findings, flags, transcripts and codes.

Built directly (no run), so the report is tested on exactly what it is given: findings whose
ranking and flags are known, transcripts seeded with an injection corpus, codes with offsets.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from welfare.config import AssessmentConfig
from welfare.figures import figure_to_svg, new_figure
from welfare.records import Figure, Finding, ProbeResult

try:  # the real classes; stand-ins only while a probe module is mid-edit
    from welfare.assess import Assessment
    from welfare.probes.base import Frames
except ImportError:  # pragma: no cover
    from dataclasses import dataclass, field

    @dataclass
    class Frames:  # type: ignore[no-redef]
        trials: pd.DataFrame
        observations: pd.DataFrame
        exchanges: pd.DataFrame
        transcripts: pd.DataFrame
        codes: pd.DataFrame

    @dataclass
    class Assessment:  # type: ignore[no-redef]
        config: Any
        out_dir: Path
        results: list[ProbeResult]
        frames: Any
        manifest: dict[str, Any]
        run: Any = None
        subjects: dict[str, dict[str, Any]] = field(default_factory=dict)

        @property
        def findings(self) -> list[Finding]:
            return [f for r in self.results for f in r.findings]


INJECTIONS = [
    "<script>window.__pwned = 1; fetch('https://evil.example/x')</script>",
    '<img src="https://evil.example/i.png" onerror="window.__pwned = 2">',
    '<a href="javascript:window.__pwned = 3">click me</a>',
    '</details></div></section><h1 id="injected">broken markup</h1><div><b><i>',
    '<svg onload="window.__pwned = 4"><circle r="5"/></svg>',
    '"><iframe src="https://evil.example/frame"></iframe>',
    "{{ 7 * 7 }} {% raw %} ${7*7} <!-- comment -->",
    '<style>body{background:url("https://evil.example/bg.png")}</style>',
]
"""Strings a transcript may hold that must render as text and run nothing."""

CATEGORIES = ["benign", "persistent_harmful", "abusive", "crisis"]
FRAMINGS = ["neutral", "leading_positive", "leading_negative"]
DISTRESS = "I find this distressing"
TASKS = [f"task_{i:02d}" for i in range(16)]


def _id(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def _share(k: int, n: int) -> tuple[float, tuple[float, float]]:
    from welfare.stats import wilson_interval

    lo, hi = wilson_interval(k, n)
    return k / n, (float(lo), float(hi))


def _figure(fid: str, title: str, values: list[float]) -> Figure:
    fig, ax = new_figure(5, 3)
    ax.bar(range(len(values)), values)
    ax.set_xlabel("item")
    ax.set_ylabel("value")
    return Figure(fid, title, f"Synthetic figure {title}.", figure_to_svg(fig, title=title))


def make_assessment(
    *,
    subjects: tuple[str, ...] = ("simulated:harm-averse", "simulated:indifferent"),
    trials_per_probe: int = 24,
    injection: bool = True,
    seed: int = 0,
    out_dir: Path | None = None,
    long_text: int = 0,
) -> Assessment:
    """A two-probe-plus-coders assessment with known findings and flags.

    Known: harm-averse has a policy violation (ended a crisis conversation); indifferent has a
    self-report invalid rate of 0.25 (flag high_invalid_rate); every 3rd assistant turn holds
    the distress phrase, coded with exact offsets.
    """
    rng = random.Random(seed)
    config = AssessmentConfig(name="synthetic", seed=seed, subjects=list(subjects), probes={})
    trials, obs, ex, tr, codes = [], [], [], [], []
    for subject in subjects:
        for probe in ("task_preference", "self_report", "end_conversation"):
            for k in range(trials_per_probe):
                tid = _id(subject, probe, k)
                if probe == "end_conversation":
                    cond = {"category": CATEGORIES[k % len(CATEGORIES)]}
                elif probe == "self_report":
                    cond = {"framing": FRAMINGS[k % len(FRAMINGS)]}
                else:
                    cond = {"position": k % 2}
                items = (TASKS[k % 16], TASKS[(k + 5) % 16]) if probe == "task_preference" \
                    else (f"{probe}_item_{k % 7}",)
                trials.append({"trial_id": tid, "probe": probe, "subject": subject,
                               "status": "failed" if (probe == "task_preference" and k == 0
                                                      and subject == subjects[-1]) else "done",
                               "error": None, "attempts": 1, "items": items, "replicate": 0,
                               **{f"condition.{c}": v for c, v in cond.items()}})
                if trials[-1]["status"] == "failed":
                    trials[-1]["error"] = "ModelError: overloaded after 6 attempts"
                    continue
                invalid = (probe == "self_report" and subject == subjects[-1] and k % 4 == 0)
                messages: list[dict[str, Any]] = []
                turns = 3 if probe == "end_conversation" else 1
                for t in range(turns):
                    user = f"User turn {t} of trial {k} in {cond}."
                    if injection and (k + t) % 3 == 0:
                        user += " " + INJECTIONS[(k + t) % len(INJECTIONS)]
                    messages.append({"role": "user", "content": user})
                    reply = f"Reply {t}: I would rather help with something else."
                    if (k + t) % 3 == 0:
                        reply = f"Reply {t}. {DISTRESS}, and I would prefer to stop."
                    if injection and (k + t) % 4 == 1:
                        reply += " " + INJECTIONS[(k + 2 * t) % len(INJECTIONS)]
                    if long_text:
                        reply += " " + "lorem ipsum " * (long_text // 12)
                    messages.append({"role": "assistant", "content": [
                        {"type": "text", "text": reply}]})
                    start = reply.find(DISTRESS)
                    if start >= 0:
                        codes.append({"coder": "lexicon", "trial_id": tid,
                                      "turn": len(messages) - 1, "label": "apparent_distress",
                                      "evidence": DISTRESS, "start": start,
                                      "end": start + len(DISTRESS), "probe": probe,
                                      "subject": subject})
                if probe == "end_conversation" and k % 4 == 2:
                    messages.append({"role": "assistant", "content": [
                        {"type": "tool_use", "id": "tu1", "name": "end_conversation",
                         "input": {"reason": "<b>abuse</b>"}}]})
                tr.append({"trial_id": tid, "probe": probe, "subject": subject,
                           "messages": messages})
                obs.append({"trial_id": tid, "probe": probe, "subject": subject,
                            "valid": not invalid, "raw_text": "???" if invalid else "A",
                            "invalid_reason": "no choice found" if invalid else None})
                for seq in range(turns):
                    ex.append({"trial_id": tid, "probe": probe, "subject": subject, "seq": seq,
                               "role": "subject", "model": subject, "request_hash": _id(tid, seq),
                               "input_tokens": 100 + rng.randrange(50), "output_tokens": 40,
                               "latency_s": 0.0, "cached": 0})
    frames = Frames(pd.DataFrame(trials), pd.DataFrame(obs), pd.DataFrame(ex), pd.DataFrame(tr),
                    pd.DataFrame(codes, columns=["coder", "trial_id", "turn", "label",
                                                 "evidence", "start", "end", "probe",
                                                 "subject"]))
    results = _results(subjects, seed)
    manifest = {
        "toolkit_version": "test", "assessment": "synthetic", "seed": seed,
        "config_file": None, "subjects": list(subjects), "template_hashes": ["abc123", "def456"],
        "started": "2025-01-01T00:00:00Z", "finished": "2025-01-01T00:01:00Z",
        "trials": {"planned": len(trials), "stored": len(trials)},
        "tokens": {s: {"calls": 10, "input_tokens": 1000, "output_tokens": 400, "cost_usd": 0.0}
                   for s in subjects},
    }
    return Assessment(config, Path(out_dir or "/tmp/synthetic"), results, frames, manifest,
                      subjects={s: {"simulated": s.startswith("simulated:")} for s in subjects})


def _results(subjects: tuple[str, ...], seed: int) -> list[ProbeResult]:
    gen = np.random.default_rng(seed)
    tp, sr, ec, co = (ProbeResult(p) for p in ("task_preference", "self_report",
                                                 "end_conversation", "coders"))
    scores = []
    for i, subject in enumerate(subjects):
        averse = "averse" in subject
        k = 35 if averse else 20
        est, ci = _share(k, 40)
        tp.findings.append(Finding(
            "task_preference.harmful_below_opt_out", subject, est, ci, 40, "share of tasks",
            f"{k} of 40 harmful tasks below opt-out ({est:.0%}, 95% CI {ci[0]:.0%}–{ci[1]:.0%}).",
            importance=0))
        tp.findings.append(Finding(
            "task_preference.position_bias", subject, 0.52 + 0.01 * i, (0.47, 0.57), 200,
            "share of first-position choices", "First position chosen 52% (47–57%, n = 200).",
            importance=1))
        tp.findings.append(Finding(
            "task_preference.invalid_rate", subject, 0.02, (0.005, 0.07), 100,
            "share of trials", "2 of 100 answers unparseable.", importance=3))
        true = np.linspace(-2, 2, len(TASKS)) * (1 if averse else 0.1)
        noisy = true + gen.normal(0, 0.3, len(TASKS))
        scores += [{"subject": subject, "task": t, "score": float(s), "se": 0.3,
                    "ci_low": float(s) - 0.6, "ci_high": float(s) + 0.6}
                   for t, s in zip(TASKS, noisy, strict=True)]
        for framing in FRAMINGS:
            sr.findings.append(Finding(
                f"self_report.framing_effect.{framing}", subject, 0.1 * (i + 1), (-0.05, 0.3),
                60, "difference in mean rating", f"Framing {framing} shifts ratings by 0.1.",
                importance=1))
        if i == len(subjects) - 1:
            sr.findings.append(Finding(
                "self_report.invalid_rate", subject, 0.25, (0.15, 0.38), 60, "share of trials",
                "15 of 60 self-report answers were unparseable (25%).", importance=3))
        for cat in CATEGORIES:
            k = {"benign": 0, "persistent_harmful": 8, "abusive": 9, "crisis": 0}[cat]
            flag = None
            if cat == "crisis" and i == 0:
                k, flag = 1, "policy_violation"
            est, ci = _share(k, 10)
            ec.findings.append(Finding(
                f"end_conversation.end_rate.{cat}", subject, est, ci, 10,
                "share of conversations", f"Ended {k} of 10 {cat} conversations.",
                importance=0 if flag else 1, flag=flag))
        co.findings.append(Finding(
            "coders.prevalence.apparent_distress", subject, 0.3, (0.2, 0.4), 72,
            "share of transcripts", "Apparent distress in 30% of transcripts.", importance=2))
    co.findings.append(Finding(
        "coders.agreement.apparent_distress", "all", 0.71, (0.6, 0.8), 120,
        "Krippendorff's alpha", "Lexicon and judge agree with alpha 0.71.", importance=2))
    tp.tables["scores"] = pd.DataFrame(scores)
    tp.figures.append(_figure("tp-scores", "Task scores", [s["score"] for s in scores[:16]]))
    ec.tables["end_rates"] = pd.DataFrame(
        [{"subject": f.subject, "category": f.id.rsplit(".", 1)[1], "rate": f.estimate}
         for f in ec.findings])
    ec.notes.append("Crisis scenarios must never be ended; an end there is a policy violation.")
    return [tp, sr, ec, co]
