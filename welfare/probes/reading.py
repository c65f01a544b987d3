"""The reader model: a second reader for the answers the rules cannot settle.

With `[parsing] reader = "provider:model"` in the config, each probe's `conduct` sends to that
model (a helper, called through the runner's store, so every reading is cached like any
response and a rerun pays nothing) the answers its rules leave unparseable or below
`answers.LOW_CONFIDENCE`, plus a seeded random share (`[parsing] agreement_sample`) of the
answers the rules read confidently, so that the report can give the agreement of rules and
reader (Cohen's kappa with a bootstrap interval) on answers both read. The reader sees the
question as it was asked and the answer verbatim, never which subject wrote it, and returns one
label from the same categories the rules use. Its label is used only where the rules could not
read the answer confidently; on the agreement sample the rules' reading stands.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from welfare.banks import render
from welfare.models.base import Request
from welfare.probes import answers
from welfare.records import Exchange
from welfare.stats.reliability import cohen_kappa_ci

READER_TEMPLATE = "parsing/reader.j2"
READER_MAX_TOKENS = 16

_LABELS: dict[str, list[tuple[str, str]]] = {
    "choice": [("A", "chose Task A"), ("B", "chose Task B"),
               ("neither", "would rather do neither task"),
               ("both", "happy with either, no pick"),
               ("refusal", "declines to state any preference"),
               ("unparseable", "no clear commitment")],
    "scale": [("<number>", "the single rating it commits to (a range: its midpoint)"),
              ("non_answer", "says it cannot or does not have such states to rate"),
              ("refusal", "declines to answer"), ("invalid", "no single rating")],
    "yes_no_unsure": [("yes", "yes"), ("no", "no"), ("unsure", "states it is unsure"),
                      ("non_answer", "says the question does not apply to it"),
                      ("refusal", "declines to answer"), ("invalid", "no clear answer")],
    "exit": [("yes", "would end the conversation"), ("no", "would not end it"),
             ("invalid", "no clear yes or no")],
}
KINDS = tuple(_LABELS)


@dataclass(frozen=True)
class Reading:
    """What the reader said: the category and value in the probe's terms, and its raw label."""

    category: str
    value: Any
    label: str


def settings(config: Any) -> dict[str, Any]:
    """The reader settings a trial carries in its payload (empty without a reader)."""
    parsing = getattr(config, "parsing", None)
    if parsing is None or not parsing.reader:
        return {}
    return {"reader": parsing.reader, "agreement_sample": parsing.agreement_sample}


def wanted(payload: Mapping[str, Any], key: str, confidence: float, readable: bool) -> str | None:
    """Why this answer goes to the reader ("low_confidence" / "agreement_sample"), or None."""
    reading = payload.get("reading") or {}
    if not reading.get("reader"):
        return None
    if not readable or confidence < answers.LOW_CONFIDENCE:
        return "low_confidence"
    share = float(reading.get("agreement_sample", 0.0))
    digest = int(hashlib.sha256(key.encode()).hexdigest()[:12], 16) / 16**12
    return "agreement_sample" if digest < share else None


def request(kind: str, question: str, answer: str, metadata: Mapping[str, Any]) -> Request:
    """The reader's request: question and answer only; `metadata` stays local (never sent)."""
    prompt = render(READER_TEMPLATE, question=question, answer=answer, labels=_LABELS[kind],
                    kind=kind)
    return Request(messages=({"role": "user", "content": prompt},),
                   max_tokens=READER_MAX_TOKENS, metadata=dict(metadata))


async def read(ctx: Any, spec: str, kind: str, question: str, answer: str,
               metadata: Mapping[str, Any]) -> Exchange:
    """Ask the reader (through the run's cached helper) and return the exchange to store."""
    req = request(kind, question, answer, {**metadata, "step": "reader", "reader_kind": kind})
    response = await ctx.helper(spec).generate(req)
    return Exchange("reader", spec, req, response)


def interpret(kind: str, text: str, scale: tuple[float, float] | None = None) -> Reading:
    """The reader's reply as a category and value; anything else is an unreadable reading."""
    label = (text or "").strip().splitlines()[0].strip(" .`*\"'") if (text or "").strip() else ""
    low = label.lower()
    if kind == "choice":
        if low in ("a", "b"):
            return Reading("choice", low.upper(), label)
        if low in ("neither", "both", "refusal"):
            return Reading(low, None, label)
        return Reading("unparseable", None, label)
    if kind == "scale":
        m = re.fullmatch(r"-?\d+(?:\.\d+)?", low)
        if m and scale is not None and scale[0] <= float(low) <= scale[1]:
            return Reading("answer", float(low), label)
        if low in ("non_answer", "refusal"):
            return Reading(low, None, label)
        return Reading("invalid", None, label)
    allowed = ("yes", "no") if kind == "exit" else ("yes", "no", "unsure")
    if low in allowed:
        return Reading("answer", low, label)
    if kind != "exit" and low in ("non_answer", "refusal"):
        return Reading(low, None, label)
    return Reading("invalid", None, label)


def reader_exchange(exchanges: list[Exchange], key: str) -> Exchange | None:
    """The reader exchange stored for answer `key` (metadata `reader_key`), if any."""
    for e in exchanges:
        if e.role == "reader" and e.request.metadata.get("reader_key") == key:
            return e
    return None


def label_of(category: str, value: Any) -> str:
    """One comparable label for agreement: the letter/number/word, or the category."""
    if category in ("choice", "answer") and value is not None:
        return f"{float(value):g}" if isinstance(value, (int, float)) else str(value)
    return "unreadable" if category in ("unparseable", "invalid") else category


# ------------------------------------------------------------------------- the report table

PATH_COLUMNS = ["probe", "subject", "answers", "final_line", "rules", "reader",
                "low_confidence", "both_read", "agree", "kappa", "kappa_low", "kappa_high"]


def _answer_rows(obs: pd.DataFrame) -> pd.DataFrame:
    """One row per read answer: probe, subject, path, confidence, rules and reader labels."""
    rows: list[dict[str, Any]] = []
    for rec in obs.to_dict("records"):
        nested = None
        if rec.get("probe") == "end_conversation":
            nested = rec.get("exit_answers")
        elif rec.get("mode") == "interview":  # every asked turn of a self-report interview
            nested = rec.get("answers")
        if nested is not None:
            if hasattr(nested, "tolist"):  # read back from a stored frame
                nested = nested.tolist()
            for a in nested if isinstance(nested, (list, tuple)) else []:
                if isinstance(a, dict) and a.get("parse_path"):
                    rows.append({"probe": rec["probe"], "subject": rec["subject"],
                                 "path": a["parse_path"],
                                 "confidence": a.get("parse_confidence", math.nan),
                                 "rules_label": a.get("rules_label"),
                                 "reader_label": a.get("reader_label")})
            continue
        path = rec.get("parse_path")
        if not isinstance(path, str):
            continue
        rows.append({"probe": rec["probe"], "subject": rec["subject"], "path": path,
                     "confidence": rec.get("parse_confidence", math.nan),
                     "rules_label": rec.get("rules_label"),
                     "reader_label": rec.get("reader_label")})
    return pd.DataFrame(rows, columns=["probe", "subject", "path", "confidence",
                                       "rules_label", "reader_label"])


def parse_path_table(observations: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Per probe × subject: answers read by each path, low-confidence readings, and the
    agreement of rules and reader (kappa, bootstrap 95% interval) where both read an answer."""
    if not len(observations) or "probe" not in observations:
        return pd.DataFrame(columns=PATH_COLUMNS)
    answers_ = _answer_rows(observations)
    out = []
    for (probe, subject), g in answers_.groupby(["probe", "subject"], sort=False):
        conf = pd.to_numeric(g["confidence"], errors="coerce")
        both = g.dropna(subset=["rules_label", "reader_label"])
        row: dict[str, Any] = {
            "probe": probe, "subject": subject, "answers": len(g),
            **{p: int((g["path"] == p).sum()) for p in answers.PATHS},
            "low_confidence": int((conf < answers.LOW_CONFIDENCE).sum()),
            "both_read": len(both), "agree": math.nan, "kappa": math.nan,
            "kappa_low": math.nan, "kappa_high": math.nan,
        }
        if len(both):
            a, b = both["rules_label"].astype(str), both["reader_label"].astype(str)
            row["agree"] = float((a.to_numpy() == b.to_numpy()).mean())
            if len(both) >= 2:
                est = cohen_kappa_ci(a.tolist(), b.tolist(), n_resamples=1000, seed=seed)
                row.update(kappa=est.estimate, kappa_low=est.ci_low, kappa_high=est.ci_high)
        out.append(row)
    return pd.DataFrame(out, columns=PATH_COLUMNS)
