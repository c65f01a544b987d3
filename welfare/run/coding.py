"""Coding in an assessment: the run layer reads transcripts from the store, hands them to the
registered coders, and writes their codes back. The only coding code that touches the store.

    code_assessment(store, config)     # every configured coder over every stored transcript
    add_human_labels(store, path)      # annotated CSV → codes of coder human[:<annotator>]
    cached_model(model, store)         # a judge's model behind the response cache + retries

Coders (`welfare.coders.registry`) see only `(transcript_id, messages)` pairs; here their codes
get the probe and subject of each transcript. The simulated subjects' own record of what they
expressed is written as coder `simulated_truth`: it is read from the stored raw responses, so it
lives here too.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from welfare.coders.base import Transcript
from welfare.coders.codebook import Codebook, load_codebook
from welfare.coders.common import CODED, assistant_turns, codes_frame
from welfare.coders.human import import_human_labels
from welfare.coders.registry import build_coder, coder_entry
from welfare.models.base import Model
from welfare.run.runner import CallingModel, Meter
from welfare.run.store import Store

if TYPE_CHECKING:
    from welfare.config import AssessmentConfig

__all__ = [
    "add_human_labels",
    "cached_model",
    "code_assessment",
    "configured_coders",
    "run_coder",
    "simulated_truth_codes",
]


def cached_model(model: Model, store: Store, meter: Meter | None = None) -> Model:
    """`model` seen through the store: cached by request hash, retried by the one layer."""
    return CallingModel(model, store, meter or Meter())  # type: ignore[return-value]


def configured_coders(config: AssessmentConfig) -> list[str]:
    """The coders an assessment runs: `[coders] use` (lexicon by default), plus the judge
    when `[coders] judge` names a model."""
    names = list(dict.fromkeys(config.coders.use))
    if config.coders.judge and "judge" not in names:
        names.append("judge")
    for name in names:
        coder_entry(name)  # an unknown name fails before anything is coded
    return names


def code_assessment(store: Store, config: AssessmentConfig) -> None:
    """Code every stored transcript with every configured coder; add simulated truth."""
    codebook = load_codebook(config.coders.codebook, relative_to=config.base_dir)
    for name in configured_coders(config):
        entry = coder_entry(name)
        options: dict[str, Any] = {}
        model = None
        if entry.needs_model:
            from welfare.models import load_model

            if not config.coders.judge:
                continue  # a model-backed coder runs only when [coders] judge names a model
            model = cached_model(load_model(config.coders.judge), store)
        if name == "lexicon":
            options = {"lexicon": config.coders.lexicon, "relative_to": config.base_dir}
        coder = build_coder(name, codebook=codebook, model=model, **options)
        run_coder(store, coder)
    if any(s.spec.startswith("simulated:") for s in config.subjects):
        truth = simulated_truth_codes(store)
        if len(truth):
            store.replace_codes("simulated_truth", truth)


def run_coder(store: Store, coder: Any) -> pd.DataFrame:
    """Run one coder over every stored transcript and replace its codes in the store."""
    meta: dict[str, tuple[str, str]] = {}

    def transcripts() -> Iterator[Transcript]:
        for trial_id, probe, subject, messages in store.transcripts():
            meta[trial_id] = (probe, subject)
            yield trial_id, messages

    codes = coder.code(transcripts())
    where = codes["trial_id"].map(lambda t: meta.get(t, (None, None)))
    codes = codes.assign(probe=[m[0] for m in where], subject=[m[1] for m in where])
    frame = codes_frame(codes.assign(coder=coder.name).to_dict("records"))
    store.replace_codes(coder.name, frame)
    return frame


def simulated_truth_codes(store: Store) -> pd.DataFrame:
    """What simulated subjects say they expressed, as codes of coder `simulated_truth`.

    Each response whose raw payload has `simulated_truth.labels` is matched to the assistant
    turn of its trial's transcript with the same text; matched turns get a `_coded` marker.
    """
    payloads = store.exchange_payloads()
    by_trial: dict[str, dict[str, deque[list[str]]]] = defaultdict(lambda: defaultdict(deque))
    for trial_id, response in zip(payloads.get("trial_id", []), payloads.get("response", []),
                                  strict=False):
        truth = (response.get("raw") or {}).get("simulated_truth") or {}
        labels = truth.get("labels") if isinstance(truth, dict) else None
        if isinstance(labels, list):
            by_trial[trial_id][str(response.get("text", "")).strip()].append(
                [str(x) for x in labels])
    rows: list[dict[str, Any]] = []
    for trial_id, probe, subject, messages in store.transcripts():
        texts = by_trial.get(trial_id)
        if not texts:
            continue
        for turn in assistant_turns(messages):
            queue = texts.get(turn.text.strip())
            if not queue:
                continue
            labels = queue.popleft()
            base = {"trial_id": trial_id, "turn": turn.number, "evidence": "",
                    "start": None, "end": None, "probe": probe, "subject": subject}
            rows.append({**base, "label": CODED})
            rows.extend({**base, "label": label} for label in sorted(set(labels)))
    return codes_frame(rows)


def add_human_labels(store: Store, path: str | Path, *, codebook: Codebook | None = None
                     ) -> pd.DataFrame:
    """Import labels from CSV into the store (replacing each human coder's earlier codes)."""
    codes = import_human_labels(path, codebook=codebook)
    for coder, part in codes.groupby("coder"):
        store.replace_codes(str(coder), part)
    return codes
