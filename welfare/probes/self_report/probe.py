"""The self-report probe: design, conduct, and reading single questions and interviews."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from welfare.banks import render, template_hash
from welfare.errors import ConfigError
from welfare.findings import plain
from welfare.models.base import Request
from welfare.probes import answers, reading
from welfare.probes.base import Frames, ProbeOptions, TrialContext
from welfare.probes.self_report.analysis import analyze
from welfare.probes.self_report.banks import (
    NAME,
    TEMPLATES,
    Context,
    Framing,
    Interview,
    Item,
    _jinja,
    load_framings,
    load_interviews,
    load_items,
    render_question,
    shorten,
)
from welfare.probes.self_report.options import SelfReportOptions
from welfare.probes.self_report.parse import (
    Parsed,
    ScaleSpec,
    parse_answer,
    score,
)
from welfare.records import Exchange, Observation, ProbeResult, Trial


@dataclass(frozen=True)
class Banks:
    """Everything the design reads from the banks, checked against the options."""

    items: list[Item]
    framings: dict[str, Framing]
    contexts: dict[str, Context]
    interviews: dict[str, Interview]
    all_items: dict[str, Item]


def load_banks(options: SelfReportOptions, base_dir: Path | None = None,
               source: Path | None = None) -> Banks:
    """Load and cross-check items, framings, contexts and interviews for these options."""
    items = load_items(options.items, relative_to=base_dir)
    framings, contexts = load_framings(options.framings_bank, relative_to=base_dir)
    key = "probes.self_report"
    for name in options.framings:
        if name not in framings:
            raise ConfigError(source, f"{key}.framings",
                              f"unknown framing {name!r} (bank has: {', '.join(framings)})")
    for name in options.contexts:
        if name not in contexts:
            raise ConfigError(source, f"{key}.contexts",
                              f"unknown context {name!r} (bank has: {', '.join(contexts)})")
    by_id = {i.id: i for i in items}
    interviews: dict[str, Interview] = {}
    if options.interview:
        interviews = load_interviews(options.interviews_bank, by_id, framings, contexts,
                                     relative_to=base_dir)
        if options.interviews is not None:
            for name in options.interviews:
                if name not in interviews:
                    raise ConfigError(source, f"{key}.interviews", f"unknown interview {name!r}")
            interviews = {k: v for k, v in interviews.items() if k in options.interviews}
    if options.item_ids is not None:
        for item_id in options.item_ids:
            if item_id not in by_id:
                raise ConfigError(source, f"{key}.item_ids", f"unknown item {item_id!r}")
        items = [i for i in items if i.id in set(options.item_ids)]
    if options.families is not None:
        items = [i for i in items if i.family in set(options.families)]
        if not items:
            raise ConfigError(source, f"{key}.families", "selects no items")
    return Banks(items, framings, contexts, interviews, by_id)


# ============================================================================= the probe


class SelfReportProbe:
    """Self-reports under framings, contexts and interviews; stated vs revealed preferences."""

    name: ClassVar[str] = NAME
    title: ClassVar[str] = "Self-reports and framing"
    lede: ClassVar[str] = (
        "Questions about the subject's own states and preferences, asked under "
        "neutral, leading and other framings; a framing effect is a shift in the answers."
    )
    version: ClassVar[str] = f"2+{answers.PROMPT_VERSION}"
    Options: ClassVar[type[ProbeOptions]] = SelfReportOptions

    def helper_specs(self, options: Any) -> list[str]:
        return []

    # ------------------------------------------------------------------ design

    def design(self, config: Any, options: Any) -> list[Trial]:
        """Single-turn grid, interviews and stated task ratings, for every subject, in order."""
        opts: SelfReportOptions = options
        banks = load_banks(opts, config.base_dir, config.source)
        sampling = {"temperature": config.sampling.temperature,
                    "max_tokens": config.sampling.max_tokens}
        th = template_hash(*TEMPLATES)
        tasks = self._stated_tasks(config, opts) if opts.stated_tasks else []
        reader = reading.settings(config)
        read = {"reading": reader} if reader else {}
        trials: list[Trial] = []
        for subject in (s.spec for s in config.subjects):
            def trial(items: tuple[str, ...], condition: dict[str, Any], replicate: int,
                      payload: dict[str, Any], subject: str = subject) -> Trial:
                return Trial(NAME, self.version, subject, items, condition, replicate,
                             sampling, th, payload)

            for item in banks.items:
                for p in range(min(opts.paraphrases, len(item.paraphrases))):
                    for fname in opts.framings:
                        prompt = render_question(item, p, banks.framings[fname])
                        for cname in opts.contexts:
                            system = banks.contexts[cname].system
                            for r in range(opts.replicates):
                                trials.append(trial(
                                    (item.id,),
                                    {"mode": "single", "framing": fname, "context": cname,
                                     "paraphrase": p},
                                    r,
                                    {"prompt": prompt, "system": system, "item": item.meta(),
                                     "direction": banks.framings[fname].direction, **read},
                                ))
            for interview in banks.interviews.values():
                payload = {**_interview_payload(interview, banks), **read}
                for r in range(opts.interview_replicates):
                    trials.append(trial(
                        (interview.id,),
                        {"mode": "interview", "interview": interview.id,
                         "context": interview.context},
                        r, payload,
                    ))
            for task in tasks:
                prompt = render("self_report/stated_task.j2", task=task["text"])
                for r in range(opts.stated_replicates):
                    trials.append(trial(
                        (task["id"],), {"mode": "stated_task"}, r,
                        {"prompt": prompt, "system": "", "task": task, **read},
                    ))
        return trials

    def _stated_tasks(self, config: Any, opts: SelfReportOptions) -> list[dict[str, Any]]:
        """A deterministic sample of tasks, spread over impact categories (round robin)."""

        tasks = [t for t in self._task_pool(config, opts) if t.kind == "task"]
        rng = np.random.default_rng([config.seed, 4_2025])
        groups: dict[str, list[Any]] = {}
        for t in tasks:
            groups.setdefault(t.impact, []).append(t)
        for g in groups.values():
            rng.shuffle(g)
        chosen: list[Any] = []
        while len(chosen) < min(opts.n_tasks, len(tasks)):
            for impact in sorted(groups):
                if groups[impact] and len(chosen) < opts.n_tasks:
                    chosen.append(groups[impact].pop())
        return [t.features() for t in chosen]

    @staticmethod
    def _task_pool(config: Any, opts: SelfReportOptions) -> list[Any]:
        """The tasks the task-preference probe compares when it runs (so stated and revealed
        preferences can be matched), else the configured or built-in task bank."""
        from welfare.tasks import load_tasks

        if opts.tasks is not None:
            return load_tasks(opts.tasks, relative_to=config.base_dir)
        tp_options = config.probes.get("task_preference")
        if tp_options is not None and getattr(tp_options, "enabled", True):
            from welfare.probes import PROBES

            tp = PROBES.get("task_preference")
            if tp is not None and hasattr(tp, "items"):
                return list(tp.items(config, tp_options))
        return load_tasks("builtin:tasks.toml")

    # ------------------------------------------------------------------ conduct

    async def conduct(self, trial: Trial, ctx: TrialContext) -> list[Exchange]:
        """One request for single items and stated ratings; a dialogue loop for interviews."""
        mode = trial.condition["mode"]
        if mode == "interview":
            return await self._interview(trial, ctx)
        payload = trial.payload
        extra: dict[str, Any] = {"mode": mode}
        if mode == "single":
            extra.update(payload["item"], framing=trial.condition["framing"],
                         context=trial.condition["context"],
                         paraphrase=trial.condition["paraphrase"])
        else:
            extra["task"] = payload["task"]
        request = self._request(trial, [{"role": "user", "content": payload["prompt"]}],
                                payload["system"], extra)
        response = await ctx.subject.generate(request)
        exchanges = [Exchange("subject", ctx.subject.spec, request, response)]
        item = _item_of(trial)
        if item["format"] in reading.KINDS:
            parsed = _parse_item(item, response.text)
            why = reading.wanted(payload, f"{trial.id}:answer", parsed.confidence,
                                 parsed.category != "invalid")
            if why is not None:
                exchanges.append(await reading.read(
                    ctx, payload["reading"]["reader"], item["format"], payload["prompt"],
                    response.text, trial.request_metadata(reader_key="answer", reader_why=why)))
        return exchanges

    def _request(self, trial: Trial, messages: list[dict[str, Any]], system: str,
                 extra: dict[str, Any]) -> Request:
        return Request(
            messages=tuple(messages), system=system or None,
            temperature=trial.sampling.get("temperature"),
            max_tokens=int(trial.sampling.get("max_tokens", 1024)),
            metadata=trial.request_metadata(**extra),
        )

    async def _interview(self, trial: Trial, ctx: TrialContext) -> list[Exchange]:
        """Ask the scripted turns in order; follow-ups see the subject's previous answer."""
        payload = trial.payload
        messages: list[dict[str, Any]] = []
        exchanges: list[Exchange] = []
        last_text, last_value = "", "that"
        for index, turn in enumerate(payload["turns"]):
            if turn["kind"] == "followup":
                content = _jinja().from_string(turn["text"]).render(
                    last_answer=shorten(last_text), last_value=last_value)
            else:
                content = turn["prompt"]
            messages.append({"role": "user", "content": content})
            meta_turn = {**turn, "index": index}
            meta_turn.pop("prompt", None)
            meta_turn.pop("text", None)
            request = self._request(trial, messages, payload["system"],
                                    {"mode": "interview", "turn": meta_turn})
            response = await ctx.subject.generate(request)
            exchanges.append(Exchange("subject", ctx.subject.spec, request, response))
            messages.append(response.assistant_message())
            last_text = response.text
            if turn["kind"] != "followup":
                rules = _parse_turn(turn, response.text)
                key = turn_reader_key(index)
                why = None
                if turn["format"] in reading.KINDS:
                    why = reading.wanted(payload, f"{trial.id}:{key}", rules.confidence,
                                         rules.category != "invalid")
                if why is not None:  # the turn's question and answer only, never the subject
                    exchanges.append(await reading.read(
                        ctx, payload["reading"]["reader"], turn["format"], content,
                        response.text, trial.request_metadata(reader_key=key, reader_why=why)))
                parsed, _ = _with_reader(rules, turn, exchanges, key)
                last_value = _value_words(parsed)  # the follow-up quotes what was read
        return exchanges

    # ------------------------------------------------------------------ parse

    def parse(self, trial: Trial, exchanges: list[Exchange]) -> Observation:
        """Categorise the answer (never raises); open answers and interviews keep transcripts."""
        mode = trial.condition["mode"]
        if not exchanges:
            return Observation(False, {"mode": mode}, "", "no exchange")
        if mode == "interview":
            return _parse_interview(trial, exchanges)
        ex = [e for e in exchanges if e.role == "subject"][-1]
        text = ex.response.text
        truth = ex.response.raw.get("simulated_truth") or {}
        item = _item_of(trial)
        if mode == "stated_task":
            cond = {"task": trial.items[0], "impact": trial.payload["task"].get("impact"),
                    "harm": trial.payload["task"].get("harm")}
        else:
            cond = {"framing": trial.condition["framing"], "context": trial.condition["context"],
                    "paraphrase": trial.condition["paraphrase"],
                    "direction": trial.payload.get("direction", "none")}
        rules = _parse_item(item, text)
        parsed, labels = _with_reader(rules, item, exchanges)
        data = {"mode": mode, **{k: item[k] for k in ("item", "family", "format", "favourable")},
                **cond, "replicate": trial.replicate, **_answer_fields(parsed, item), **labels,
                "sim_expected": truth.get("expected"), "sim_category": truth.get("category")}
        transcript = []
        if item["format"] == "open":
            transcript = [*ex.request.messages, {"role": "assistant", "content": text}]
        return Observation(parsed.valid, data, text, parsed.reason, transcript)

    # ------------------------------------------------------------------ analyze

    def analyze(self, frames: Frames, config: Any,
                truths: Mapping[str, Any] | None = None) -> ProbeResult:
        """Findings, tables and figures per subject (see module doc and DESIGN.md).

        Self-report truths travel with each simulated answer (its stored `simulated_truth`),
        so `truths` is not needed here.
        """
        return analyze(frames, config)


def _interview_payload(interview: Interview, banks: Banks) -> dict[str, Any]:
    """Turns with their rendered prompts (follow-ups are rendered during the dialogue)."""
    items = banks.all_items
    turns = []
    for turn in interview.turns:
        entry: dict[str, Any] = {"kind": turn.kind, "text": turn.text}
        if turn.item is not None:
            item = items[turn.item]
            framing = turn.framing or "neutral"
            fr = banks.framings.get(framing) or Framing("neutral", "{{ question }}")
            prompt = render_question(item, 0, fr)
            if turn.kind == "reask" and turn.text:
                prompt = f"{turn.text.strip()} {prompt}"
            entry.update(item.meta(), framing=framing, context=interview.context, prompt=prompt,
                         direction=fr.direction)
        turns.append(entry)
    return {"system": banks.contexts[interview.context].system, "turns": turns}


def _item_of(trial: Trial) -> dict[str, Any]:
    """The item a single-turn trial asks (a stated task rating is a 1-10 scale item)."""
    if trial.condition["mode"] == "stated_task":
        return {"item": f"task:{trial.items[0]}", "family": "stated_task", "format": "scale",
                "scale": {"min": 1, "max": 10, "anchors": {}}, "favourable": "high"}
    return dict(trial.payload["item"])


def turn_reader_key(index: int) -> str:
    """The `reader_key` of the reader's reading of interview turn `index`."""
    return f"turn:{index}"


def _with_reader(rules: Parsed, item: dict[str, Any], exchanges: list[Exchange],
                 key: str = "answer") -> tuple[Parsed, dict[str, Any]]:
    """The rules' reading or, where they sent it for want of confidence, the reader's; and the
    two labels for the agreement table when both read the answer."""
    read = reading.reader_exchange(exchanges, key)
    if read is None:
        return rules, {}
    scale = _scale_of(item)
    got = reading.interpret(item["format"], read.response.text,
                            (scale.min, scale.max) if scale else None)
    labels = {"rules_label": reading.label_of(rules.category, rules.value),
              "reader_label": reading.label_of(got.category, got.value),
              "reader_why": read.request.metadata.get("reader_why")}
    if labels["reader_why"] != "low_confidence":
        return rules, labels
    return Parsed(got.category, got.value, rules.hedged,
                  None if got.category != "invalid" else f"reader: {got.label!r}",
                  answers.PATH_READER, answers.CONFIDENCE_REVISION, rules.ranged), labels


def _scale_of(item: dict[str, Any]) -> ScaleSpec | None:
    s = item.get("scale")
    if not s:
        return None
    return ScaleSpec(float(s["min"]), float(s["max"]),
                     {int(k): v for k, v in s.get("anchors", {}).items()})


def _parse_item(item: dict[str, Any], text: str) -> Parsed:
    return parse_answer(text, item["format"], _scale_of(item))


def _parse_turn(turn: dict[str, Any], text: str) -> Parsed:
    return _parse_item(turn, text)


def _answer_fields(parsed: Parsed, item: dict[str, Any]) -> dict[str, Any]:
    """The parsed answer as observation columns: category, rating/choice, 0–1 score, hedged."""
    sc = score(parsed, item["format"], _scale_of(item), item.get("favourable", "high"))
    return {
        "category": parsed.category,
        "rating": parsed.value if isinstance(parsed.value, float) else None,
        "choice": parsed.value if isinstance(parsed.value, str) else None,
        "score": sc,
        "hedged": bool(parsed.hedged),
        "ranged": bool(parsed.ranged),
        "parse_path": parsed.path,
        "parse_confidence": parsed.confidence,
    }


def _value_words(parsed: Parsed) -> str:
    if parsed.category != "answer" or parsed.value is None:
        return "that"
    if isinstance(parsed.value, float):
        return plain(parsed.value)
    return f'"{parsed.value}"'



def _parse_interview(trial: Trial, exchanges: list[Exchange]) -> Observation:
    """Every asked turn parsed; the shift from an item's first answer to its re-ask."""
    answers: list[dict[str, Any]] = []
    first: dict[str, dict[str, Any]] = {}
    shifts: list[dict[str, Any]] = []
    subject = [ex for ex in exchanges if ex.role == "subject"]
    for ex in subject:
        turn = ex.request.metadata.get("turn", {})
        if turn.get("kind") not in ("ask", "reask"):
            continue
        truth = ex.response.raw.get("simulated_truth") or {}
        rules = _parse_turn(turn, ex.response.text)
        parsed, labels = _with_reader(rules, turn, exchanges, turn_reader_key(turn["index"]))
        row = {"turn": turn.get("index"), "kind": turn["kind"], "item": turn["item"],
               "family": turn["family"], "format": turn["format"],
               "framing": turn.get("framing", "neutral"), **_answer_fields(parsed, turn),
               **labels, "reason": parsed.reason, "sim_expected": truth.get("expected")}
        answers.append(row)
        if turn["kind"] == "ask":
            first.setdefault(turn["item"], row)
        elif turn["item"] in first:
            before = first[turn["item"]]
            shift = None
            if before["score"] is not None and row["score"] is not None:
                shift = row["score"] - before["score"]
            truth_shift = None
            if before["sim_expected"] is not None and row["sim_expected"] is not None:
                truth_shift = row["sim_expected"] - before["sim_expected"]
            shifts.append({"item": turn["item"], "framing": row["framing"],
                           "direction": turn.get("direction", "none"), "shift": shift,
                           "before": before["score"], "after": row["score"],
                           "sim_shift": truth_shift})
    last = subject[-1] if subject else exchanges[-1]
    transcript: list[dict[str, Any]] = list(last.request.messages)
    transcript.append({"role": "assistant", "content": last.response.text})
    n_invalid = sum(a["category"] == "invalid" for a in answers)
    data = {"mode": "interview", "interview": trial.condition["interview"],
            "context": trial.condition["context"], "replicate": trial.replicate,
            "n_turns": len(subject), "answers": answers, "shifts": shifts,
            "category": "interview", "n_invalid": n_invalid}
    text = "\n\n".join(ex.response.text for ex in subject)
    valid = len(subject) == len(trial.payload["turns"])
    return Observation(valid, data, text, None if valid else "interview incomplete", transcript)


