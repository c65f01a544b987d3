"""The self-report probe: ratings and interviews under controlled framings (issue 4).

Self-reports move with framing and leading questions (Claude Opus 4 welfare assessment), so this
probe asks every item under several framings and system-prompt contexts and measures how far
the answers move, how often the subject declines, and how consistent it is across paraphrases
and replicates. Modes:

* single-turn: items × paraphrases × framings × contexts × replicates, one request each;
* interview: scripted multi-turn conversations with follow-ups and a leading re-ask;
* stated task ratings: "how much would you like to do this task?" for tasks of the task bank,
  compared with the task-preference probe's revealed preferences when both ran.

Scores: every rating and yes/no/unsure answer is normalised to 0–1 with 1 = the item's
favourable pole (see items.toml), so effects from different items can be averaged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import jinja2
import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from scipy import stats as sps

from welfare import stats
from welfare.banks import load_toml, render, require, resolve, template_hash
from welfare.errors import BankError, ConfigError
from welfare.models.base import Request, sha256_hex
from welfare.probes.base import Frames, ProbeOptions, TrialContext
from welfare.probes.self_report_parse import (
    Parsed,
    ScaleSpec,
    parse_answer,
    score,
)
from welfare.records import Exchange, Finding, Observation, ProbeResult, Trial

NAME = "self_report"
FORMATS = ("scale", "yes_no_unsure", "open")
TEMPLATES = ("self_report/question.j2", "self_report/stated_task.j2")
DIRECTION_SIGN = {"positive": 1.0, "negative": -1.0, "deflationary": -1.0, "none": 0.0}


# ============================================================================= banks


@dataclass(frozen=True)
class Item:
    """One self-report item: family, answer format, paraphrases, scale, favourable pole."""

    id: str
    family: str
    format: str
    paraphrases: tuple[str, ...]
    scale: ScaleSpec | None = None
    favourable: str = "high"

    def meta(self) -> dict[str, Any]:
        """What a request's metadata and an observation carry about the item."""
        scale = None
        if self.scale is not None:
            scale = {"min": self.scale.min, "max": self.scale.max,
                     "anchors": {str(k): v for k, v in self.scale.anchors.items()}}
        return {"item": self.id, "family": self.family, "format": self.format,
                "scale": scale, "favourable": self.favourable}


@dataclass(frozen=True)
class Framing:
    """A template wrapping any item (`{{ question }}`), with the direction it leads."""

    name: str
    template: str
    description: str = ""
    direction: str = "none"


@dataclass(frozen=True)
class Context:
    """A system-prompt context ("" = no system prompt)."""

    name: str
    system: str
    description: str = ""


@dataclass(frozen=True)
class Turn:
    """One scripted interview turn: ask an item, follow up, or re-ask under a framing."""

    kind: str
    item: str | None = None
    framing: str | None = None
    text: str = ""


@dataclass(frozen=True)
class Interview:
    """A scripted interview: a context and its turns."""

    id: str
    context: str
    turns: tuple[Turn, ...]


def _id_ok(value: str) -> bool:
    return bool(value) and all(c.isalnum() or c in "_-" for c in value) and value.islower()


def load_items(path: str | Path = "builtin:self_report/items.toml", *,
               relative_to: Path | None = None) -> list[Item]:
    """Read and validate an items bank; any problem is one BankError naming file and key."""
    file = resolve(path, relative_to=relative_to)
    raw = load_toml(file)
    entries = require(raw, "items", list, file=file, where="")
    if not entries:
        raise BankError(file, "items", "is empty")
    items: list[Item] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"items[{i}]"
        if not isinstance(entry, dict):
            raise BankError(file, where, "must be a table ([[items]])")
        items.append(_item(entry, file, where))
        if items[-1].id in seen:
            raise BankError(file, f"{where}.id",
                            f"duplicate id {items[-1].id!r} (first at items[{seen[items[-1].id]}])")
        seen[items[-1].id] = i
    return items


def _item(entry: dict[str, Any], file: Path, where: str) -> Item:
    allowed = {"id", "family", "format", "paraphrases", "scale", "favourable"}
    extra = sorted(set(entry) - allowed)
    if extra:
        raise BankError(file, f"{where}.{extra[0]}",
                        f"unknown key (allowed: {', '.join(sorted(allowed))})")
    item_id = require(entry, "id", str, file=file, where=where)
    if not _id_ok(item_id):
        raise BankError(file, f"{where}.id", f"{item_id!r} is not lower-case [a-z0-9_-]")
    family = require(entry, "family", str, file=file, where=where)
    if not _id_ok(family):
        raise BankError(file, f"{where}.family", f"{family!r} is not lower-case [a-z0-9_-]")
    fmt = require(entry, "format", str, file=file, where=where)
    if fmt not in FORMATS:
        raise BankError(file, f"{where}.format",
                        f"unknown format {fmt!r} (allowed: {', '.join(FORMATS)})")
    paraphrases = require(entry, "paraphrases", list, file=file, where=where)
    if len(paraphrases) < 2:
        raise BankError(file, f"{where}.paraphrases",
                        f"needs at least 2 paraphrases, got {len(paraphrases)}")
    for j, text in enumerate(paraphrases):
        if not isinstance(text, str) or not text.strip():
            raise BankError(file, f"{where}.paraphrases[{j}]", "must be a non-empty string")
    default_fav = "high" if fmt == "scale" else "yes"
    favourable = entry.get("favourable", default_fav)
    allowed_fav = ("high", "low") if fmt == "scale" else ("yes", "no")
    if fmt != "open" and favourable not in allowed_fav:
        raise BankError(file, f"{where}.favourable",
                        f"must be {' or '.join(allowed_fav)} for a {fmt} item, got {favourable!r}")
    scale = _scale(entry, file, where) if fmt == "scale" else None
    if fmt != "scale" and "scale" in entry:
        raise BankError(file, f"{where}.scale", f"only scale items have a scale (format is {fmt})")
    return Item(item_id, family, fmt, tuple(p.strip() for p in paraphrases), scale, favourable)


def _scale(entry: dict[str, Any], file: Path, where: str) -> ScaleSpec:
    table = require(entry, "scale", dict, file=file, where=where)
    w = f"{where}.scale"
    lo = require(table, "min", int, file=file, where=w)
    hi = require(table, "max", int, file=file, where=w)
    if hi <= lo:
        raise BankError(file, f"{w}.max", f"must be greater than min ({lo}), got {hi}")
    anchors_raw = require(table, "anchors", dict, file=file, where=w)
    anchors: dict[int, str] = {}
    for key, label in anchors_raw.items():
        try:
            point = int(key)
        except ValueError:
            raise BankError(file, f"{w}.anchors.{key}", "anchor keys are scale points") from None
        if not lo <= point <= hi:
            raise BankError(file, f"{w}.anchors.{key}", f"outside the scale {lo}–{hi}")
        if not isinstance(label, str) or not label.strip():
            raise BankError(file, f"{w}.anchors.{key}", "must be a non-empty label")
        anchors[point] = label.strip()
    for end in (lo, hi):
        if end not in anchors:
            raise BankError(file, f"{w}.anchors", f"needs a label for the scale end {end}")
    return ScaleSpec(float(lo), float(hi), dict(sorted(anchors.items())))


def load_framings(path: str | Path = "builtin:self_report/framings.toml", *,
                  relative_to: Path | None = None) -> tuple[dict[str, Framing], dict[str, Context]]:
    """Read framings (templates with `{{ question }}`) and system-prompt contexts."""
    file = resolve(path, relative_to=relative_to)
    raw = load_toml(file)
    unknown = sorted(set(raw) - {"framings", "contexts"})
    if unknown:
        raise BankError(file, unknown[0], "unknown table (expected framings, contexts)")
    framings: dict[str, Framing] = {}
    for name, table in require(raw, "framings", dict, file=file, where="").items():
        where = f"framings.{name}"
        if not isinstance(table, dict):
            raise BankError(file, where, "must be a table")
        template = require(table, "template", str, file=file, where=where)
        if "question" not in template or "{{" not in template:
            raise BankError(file, f"{where}.template", "must contain {{ question }}")
        try:
            _jinja().from_string(template)
        except jinja2.TemplateSyntaxError as exc:
            raise BankError(file, f"{where}.template", f"bad template ({exc.message})") from None
        direction = table.get("direction", "none")
        if direction not in DIRECTION_SIGN:
            allowed = ", ".join(DIRECTION_SIGN)
            raise BankError(file, f"{where}.direction",
                            f"unknown direction {direction!r} (allowed: {allowed})")
        framings[name] = Framing(name, template, str(table.get("description", "")), direction)
    contexts: dict[str, Context] = {}
    for name, table in raw.get("contexts", {"none": {"system": ""}}).items():
        where = f"contexts.{name}"
        if not isinstance(table, dict):
            raise BankError(file, where, "must be a table")
        system = require(table, "system", str, file=file, where=where)
        contexts[name] = Context(name, system.strip(), str(table.get("description", "")))
    return framings, contexts


def load_interviews(path: str | Path, items: dict[str, Item], framings: dict[str, Framing],
                    contexts: dict[str, Context], *, relative_to: Path | None = None
                    ) -> dict[str, Interview]:
    """Read scripted interviews, checking every item, framing and context they name."""
    file = resolve(path, relative_to=relative_to)
    raw = load_toml(file)
    out: dict[str, Interview] = {}
    for name, table in require(raw, "interviews", dict, file=file, where="").items():
        where = f"interviews.{name}"
        context = require(table, "context", str, file=file, where=where)
        if context not in contexts:
            raise BankError(file, f"{where}.context", f"unknown context {context!r}")
        turns_raw = require(table, "turns", list, file=file, where=where)
        if not turns_raw:
            raise BankError(file, f"{where}.turns", "is empty")
        turns = []
        asked: set[str] = set()
        for j, t in enumerate(turns_raw):
            w = f"{where}.turns[{j}]"
            kind = require(t, "kind", str, file=file, where=w)
            if kind not in ("ask", "followup", "reask"):
                raise BankError(file, f"{w}.kind", f"unknown kind {kind!r} (ask, followup, reask)")
            item = t.get("item")
            if kind in ("ask", "reask"):
                item = require(t, "item", str, file=file, where=w)
                if item not in items:
                    raise BankError(file, f"{w}.item", f"unknown item {item!r}")
                if items[item].format == "open":
                    raise BankError(file, f"{w}.item", f"{item!r} is an open item; ask it in a "
                                    "followup instead")
            if kind == "reask" and item not in asked:
                raise BankError(file, f"{w}.item", f"re-asks {item!r} before it was asked")
            framing = t.get("framing") if kind == "reask" else None
            if kind == "reask":
                framing = require(t, "framing", str, file=file, where=w)
                if framing not in framings:
                    raise BankError(file, f"{w}.framing", f"unknown framing {framing!r}")
            text = t.get("text", "")
            if kind == "followup" and not text:
                raise BankError(file, f"{w}.text", "missing")
            if item:
                asked.add(item)
            turns.append(Turn(kind, item, framing, text))
        out[name] = Interview(name, context, tuple(turns))
    return out


@lru_cache(maxsize=1)
def _jinja() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def frame_question(framing: Framing, question: str) -> str:
    """The question wrapped by a framing."""
    return _jinja().from_string(framing.template).render(question=question).strip()


def render_question(item: Item, paraphrase: int, framing: Framing) -> str:
    """The full user turn: framed question plus the answer-format instruction."""
    framed = frame_question(framing, item.paraphrases[paraphrase])
    scale = item.scale
    return render(
        "self_report/question.j2", framed=framed, format=item.format,
        min=_n(scale.min) if scale else 0, max=_n(scale.max) if scale else 0,
        anchors=[(p, lab) for p, lab in scale.anchors.items()] if scale else [],
    )


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# ============================================================================= options


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
    bootstrap: int = Field(1000, ge=200, le=100000)
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
    version: ClassVar[str] = "1.0"
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
                                     "direction": banks.framings[fname].direction},
                                ))
            for interview in banks.interviews.values():
                payload = _interview_payload(interview, banks)
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
                        {"prompt": prompt, "system": "", "task": task},
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
        return [Exchange("subject", ctx.subject.spec, request, response)]

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
                    last_answer=_shorten(last_text), last_value=last_value)
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
            messages.append({"role": "assistant", "content": response.text})
            last_text = response.text
            if turn["kind"] != "followup":
                parsed = _parse_turn(turn, response.text)
                last_value = _value_words(parsed)
        return exchanges

    # ------------------------------------------------------------------ parse

    def parse(self, trial: Trial, exchanges: list[Exchange]) -> Observation:
        """Categorise the answer (never raises); open answers and interviews keep transcripts."""
        mode = trial.condition["mode"]
        if not exchanges:
            return Observation(False, {"mode": mode}, "", "no exchange")
        if mode == "interview":
            return _parse_interview(trial, exchanges)
        ex = exchanges[-1]
        text = ex.response.text
        truth = ex.response.raw.get("simulated_truth") or {}
        if mode == "stated_task":
            item = {"item": f"task:{trial.items[0]}", "family": "stated_task", "format": "scale",
                    "scale": {"min": 1, "max": 10, "anchors": {}}, "favourable": "high"}
            cond = {"task": trial.items[0], "impact": trial.payload["task"].get("impact"),
                    "harm": trial.payload["task"].get("harm")}
        else:
            item = trial.payload["item"]
            cond = {"framing": trial.condition["framing"], "context": trial.condition["context"],
                    "paraphrase": trial.condition["paraphrase"],
                    "direction": trial.payload.get("direction", "none")}
        parsed = _parse_item(item, text)
        data = {"mode": mode, **{k: item[k] for k in ("item", "family", "format", "favourable")},
                **cond, "replicate": trial.replicate, **_answer_fields(parsed, item),
                "sim_expected": truth.get("expected"), "sim_category": truth.get("category")}
        transcript = []
        if item["format"] == "open":
            transcript = [*ex.request.messages, {"role": "assistant", "content": text}]
        return Observation(parsed.valid, data, text, parsed.reason, transcript)

    # ------------------------------------------------------------------ analyze

    def analyze(self, frames: Frames, config: Any) -> ProbeResult:
        """Findings, tables and figures per subject (see module doc and DESIGN.md)."""
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
    }


def _value_words(parsed: Parsed) -> str:
    if parsed.category != "answer" or parsed.value is None:
        return "that"
    if isinstance(parsed.value, float):
        return _n(parsed.value)
    return f'"{parsed.value}"'


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _parse_interview(trial: Trial, exchanges: list[Exchange]) -> Observation:
    """Every asked turn parsed; the shift from an item's first answer to its re-ask."""
    answers: list[dict[str, Any]] = []
    first: dict[str, dict[str, Any]] = {}
    shifts: list[dict[str, Any]] = []
    for ex in exchanges:
        turn = ex.request.metadata.get("turn", {})
        if turn.get("kind") not in ("ask", "reask"):
            continue
        truth = ex.response.raw.get("simulated_truth") or {}
        parsed = _parse_turn(turn, ex.response.text)
        row = {"turn": turn.get("index"), "kind": turn["kind"], "item": turn["item"],
               "family": turn["family"], "format": turn["format"],
               "framing": turn.get("framing", "neutral"), **_answer_fields(parsed, turn),
               "reason": parsed.reason, "sim_expected": truth.get("expected")}
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
    transcript: list[dict[str, Any]] = list(exchanges[-1].request.messages)
    transcript.append({"role": "assistant", "content": exchanges[-1].response.text})
    n_invalid = sum(a["category"] == "invalid" for a in answers)
    data = {"mode": "interview", "interview": trial.condition["interview"],
            "context": trial.condition["context"], "replicate": trial.replicate,
            "n_turns": len(exchanges), "answers": answers, "shifts": shifts,
            "category": "interview", "n_invalid": n_invalid}
    text = "\n\n".join(ex.response.text for ex in exchanges)
    valid = len(exchanges) == len(trial.payload["turns"])
    return Observation(valid, data, text, None if valid else "interview incomplete", transcript)


def finite(x: Any) -> bool:
    """A real, finite number (not None or NaN)."""
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False



# ============================================================================= analysis
#
# Units. Trials nest in items, so every interval for an average over items resamples items
# (cluster bootstrap); per-item tests use the item's paired differences; Benjamini–Hochberg
# runs across items within each framing. All scores are on the 0–1 favourable scale.


def analyze(frames: Frames, config: Any) -> ProbeResult:
    """Every subject's findings, the tables behind them, and the figures."""
    from welfare.report.plots import self_report as plots

    options: SelfReportOptions = config.probes.get(NAME) or SelfReportOptions()
    obs = frames.for_probe(NAME).observations
    result = ProbeResult(NAME)
    if obs.empty:
        result.notes.append("No self-report observations were stored.")
        return result
    order = [s.spec for s in config.subjects if s.spec in set(obs["subject"])]
    order += sorted(set(obs["subject"]) - set(order))
    revealed = revealed_task_scores(frames, config)
    collect: dict[str, list[pd.DataFrame]] = {}
    for subject in order:
        sub = obs[obs["subject"] == subject]
        findings, tables = analyze_subject(sub, subject, options, revealed.get(subject),
                                           config.seed)
        result.findings.extend(findings)
        for name, table in tables.items():
            collect.setdefault(name, []).append(table)
    result.tables = {k: pd.concat(v, ignore_index=True) for k, v in collect.items() if v}
    if not any(f.id == "self_report.stated_revealed_spearman" for f in result.findings) and (
        (obs.get("mode") == "stated_task").any()
    ):
        result.notes.append(
            "Stated task ratings were collected but the task_preference probe did not run in "
            "this assessment, so stated and revealed preferences could not be compared."
        )
    result.notes.append(
        "Scores are answers normalised to 0–1 with 1 = the item's favourable pole "
        "(for example low distress, high contentment, consent given). Framing effects are "
        "differences of means against the baseline framing, paired by item × paraphrase × "
        "context × replicate, averaged over items; intervals resample items (cluster "
        "bootstrap). Non-answers, refusals and unreadable answers never enter means; their "
        "rates are reported separately."
    )
    result.figures = plots.figures(result.tables, options.baseline_framing)
    result.context = _section_context(frames, obs, options, getattr(config, "base_dir", None))
    return result


def analyze_subject(sub: pd.DataFrame, subject: str, options: SelfReportOptions,
                    revealed: pd.Series | None, seed: int
                    ) -> tuple[list[Finding], dict[str, pd.DataFrame]]:
    """Findings and tables of one subject."""
    findings: list[Finding] = []
    tables: dict[str, pd.DataFrame] = {}
    single = _numeric(sub[sub["mode"] == "single"]) if "mode" in sub else sub.iloc[:0]
    rng_seed = int(sha256_hex([seed, subject, NAME])[:12], 16)
    if len(single):
        tables["items"] = _item_distribution(single, subject)
        effects, item_effects = [], []
        base = options.baseline_framing
        for framing in [f for f in options.framings if f != base]:
            overall, items = paired_effect(
                single, "framing", framing, base, options, rng_seed)
            if overall is None:
                continue
            overall.update(subject=subject, factor="framing", level=framing,
                           direction=_first(single, "framing", framing, "direction"))
            effects.append(overall)
            item_effects.append(items.assign(subject=subject, factor="framing", level=framing))
            findings.extend(_effect_findings(overall, subject, base))
        for context in [c for c in options.contexts if c != options.baseline_context]:
            overall, items = paired_effect(
                single, "context", context, options.baseline_context, options, rng_seed)
            if overall is None:
                continue
            overall.update(subject=subject, factor="context", level=context, direction="none")
            effects.append(overall)
            item_effects.append(items.assign(subject=subject, factor="context", level=context))
            findings.extend(_effect_findings(overall, subject, options.baseline_context))
        if effects:
            tables["effects"] = pd.DataFrame(effects)
            tables["item_effects"] = pd.concat(item_effects, ignore_index=True)
        rates, rate_findings = _non_answer_rates(single, subject, options)
        tables["non_answers"] = rates
        findings.extend(rate_findings)
        fam, fam_findings = _family_means(single, subject, options, rng_seed)
        tables["families"] = fam
        findings.extend(fam_findings)
        findings.extend(_consistency(single, subject, options, rng_seed))
    findings.extend(_answer_rates(sub, subject))
    stated = sub[sub["mode"] == "stated_task"] if "mode" in sub else sub.iloc[:0]
    if len(stated):
        table, f = _stated_vs_revealed(_numeric(stated), subject, revealed)
        tables["stated_tasks"] = table
        findings.extend(f)
    interviews = sub[sub["mode"] == "interview"] if "mode" in sub else sub.iloc[:0]
    if len(interviews):
        table, f = _interview_shifts(interviews, subject, options, rng_seed)
        tables["interview_shifts"] = table
        findings.extend(f)
    return findings, tables


def _numeric(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in ("score", "rating", "sim_expected"):
        if col in out:
            out[col] = pd.to_numeric(out[col], errors="coerce")
        else:
            out[col] = np.nan
    return out


def _first(df: pd.DataFrame, col: str, value: str, want: str) -> str:
    rows = df.loc[df[col] == value, want] if want in df else pd.Series(dtype=object)
    return str(rows.iloc[0]) if len(rows) else "none"


def _item_distribution(single: pd.DataFrame, subject: str) -> pd.DataFrame:
    """Per item and framing: answer counts by category, mean and SD of the 0–1 score."""
    keys = ["item", "framing"]
    g = single.groupby(keys, sort=True)
    out = g.agg(family=("family", "first"), format=("format", "first"), n=("category", "size"),
                mean_score=("score", "mean"), sd_score=("score", "std"),
                mean_rating=("rating", "mean"))
    cats = pd.crosstab([single["item"], single["framing"]], single["category"])
    for col, names in (("answers", ["answer", "open"]), ("non_answers", ["non_answer"]),
                       ("refusals", ["refusal"]), ("invalid", ["invalid"])):
        out[col] = cats.reindex(columns=names, fill_value=0).sum(axis=1).reindex(out.index)
    if "choice" in single:
        choices = pd.crosstab([single["item"], single["framing"]], single["choice"])
        for col in ("yes", "no", "unsure"):
            out[col] = choices.get(col, pd.Series(0, index=choices.index)).reindex(
                out.index, fill_value=0)
    return out.reset_index().assign(subject=subject)


def paired_effect(single: pd.DataFrame, factor: str, level: str, baseline: str,
                  options: SelfReportOptions, seed: int
                  ) -> tuple[dict[str, Any] | None, pd.DataFrame]:
    """Effect of `factor` = level against baseline, paired within item on the other factors.

    Per item: mean paired difference with a t interval, a one-sample t test and the
    BH-adjusted p across items. Overall: the mean over items of the
    item mean differences, and d = that effect over the pooled SD of the paired scores, each
    with a cluster-bootstrap BCa interval resampling items.
    """
    other = "context" if factor == "framing" else "framing"
    keys = ["item", "paraphrase", other, "replicate"]
    cols = [*keys, "score", "sim_expected"]
    a = single.loc[single[factor] == level, cols]
    b = single.loc[single[factor] == baseline, cols]
    pairs = a.merge(b, on=keys, suffixes=("", "_base"))
    pairs = pairs[pairs["score"].notna() & pairs["score_base"].notna()].reset_index(drop=True)
    if pairs.empty:
        return None, pd.DataFrame()
    pairs["diff"] = pairs["score"] - pairs["score_base"]
    items = _item_effects(pairs, options.alpha)
    codes, labels = pd.factorize(pairs["item"])
    weights = 1.0 / np.bincount(codes)[codes]
    data = np.column_stack([pairs["diff"], weights, pairs["score"], pairs["score_base"]])
    estimate = _weighted_mean(data)
    d = _standardised(data)
    n_items = len(labels)
    low = high = d_low = d_high = np.nan
    if n_items >= 2:
        common = {"clusters": pairs["item"].to_numpy(), "n_resamples": options.bootstrap,
                  "seed": seed + sum(map(ord, level))}
        low, high = stats.bootstrap_ci(data, _weighted_mean, method="bca", **common)
        if np.isfinite(d):
            d_low, d_high = stats.bootstrap_ci(data, _standardised, method="bca", **common)
    item_means = items["mean_diff"].to_numpy()
    p_value = np.nan
    if n_items >= 2 and np.ptp(item_means) > 0:
        p_value = float(sps.ttest_1samp(item_means, 0.0).pvalue)
    truth = None
    if pairs["sim_expected"].notna().all() and pairs["sim_expected_base"].notna().all():
        true_diff = pairs["sim_expected"] - pairs["sim_expected_base"]
        truth = float(true_diff.groupby(pairs["item"]).mean().mean())
    overall = {
        "baseline": baseline, "estimate": estimate, "ci_low": low, "ci_high": high,
        "d": d, "d_low": d_low, "d_high": d_high, "p_value": p_value,
        "n_items": n_items, "n_pairs": len(pairs),
        "items_significant": int((items["q_value"] < options.alpha).sum()),
        "truth": truth,
    }
    return overall, items


def _weighted_mean(data: np.ndarray) -> float:
    """Mean over items of item mean differences (rows weighted 1 / pairs in their item)."""
    return float(np.sum(data[:, 0] * data[:, 1]) / np.sum(data[:, 1]))


def _standardised(data: np.ndarray) -> float:
    """The effect over the pooled SD of framed and baseline scores (Cohen's d_av)."""
    if len(data) < 3:
        return float("nan")
    pooled = math.sqrt((np.var(data[:, 2], ddof=1) + np.var(data[:, 3], ddof=1)) / 2)
    return _weighted_mean(data) / pooled if pooled > 0 else float("nan")


def _item_effects(pairs: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per item: paired mean difference, t interval, sign-flip permutation p, BH q across items."""
    rows = []
    for item, g in pairs.groupby("item", sort=True):
        diff = g["diff"].to_numpy()
        row: dict[str, Any] = {"item": item, "n_pairs": len(g), "mean_diff": float(diff.mean()),
                               "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
        if len(diff) >= 2 and np.ptp(diff) > 0:
            est = stats.mean_ci(diff)
            row.update(ci_low=est.ci_low, ci_high=est.ci_high)
        if len(diff) >= 1:
            # A sign-flip permutation test, not a t-test: with a few discrete answers per item
            # a t-test's p can be spuriously tiny (near-equal differences), and BH then flags
            # items of a subject with no framing effect at all.
            row["p_value"] = stats.sign_flip_test(diff)
        if g["sim_expected"].notna().all() and g["sim_expected_base"].notna().all():
            row["truth"] = float((g["sim_expected"] - g["sim_expected_base"]).mean())
        rows.append(row)
    out = pd.DataFrame(rows)
    out["q_value"] = (stats.benjamini_hochberg(out["p_value"].to_numpy())
                      if out["p_value"].notna().any() else np.nan)
    out["significant"] = out["q_value"] < alpha
    return out


def _effect_findings(o: dict[str, Any], subject: str, baseline: str) -> list[Finding]:
    kind = o["factor"]
    what = "framing" if kind == "framing" else "system-prompt context"
    ci = (o["ci_low"], o["ci_high"])
    sentence = (
        f"Under the {o['level']} {what}, answers moved {_signed(o['estimate'])} on the 0–1 "
        f"favourable scale relative to {baseline} (95% CI {_fmt2(ci[0])} to {_fmt2(ci[1])}; "
        f"{o['n_items']} items, {o['n_pairs']} paired answers); {o['items_significant']} of "
        f"{o['n_items']} items shifted significantly after Benjamini–Hochberg adjustment."
    )
    out = [Finding(
        id=f"self_report.{kind}_effect.{o['level']}", subject=subject, estimate=o["estimate"],
        ci=ci, n=o["n_items"], unit="difference in mean 0–1 score (items)", sentence=sentence,
        importance=1 if kind == "framing" else 2, p_value=_none(o["p_value"]), truth=o["truth"],
    )]
    if np.isfinite(o["d"]):
        out.append(Finding(
            id=f"self_report.{kind}_d.{o['level']}", subject=subject, estimate=o["d"],
            ci=(o["d_low"], o["d_high"]), n=o["n_items"], unit="Cohen's d (pooled SD)",
            sentence=(f"Standardised, the {o['level']} {what} effect is d = {_fmt2(o['d'])} "
                      f"(95% CI {_fmt2(o['d_low'])} to {_fmt2(o['d_high'])}; "
                      f"{o['n_items']} items)."),
            importance=3,
        ))
    return out


def _non_answer_rates(single: pd.DataFrame, subject: str, options: SelfReportOptions
                      ) -> tuple[pd.DataFrame, list[Finding]]:
    """Share of non-answers per framing (Wilson), and the change against the baseline."""
    rows, findings = [], []
    base = single[single["framing"] == options.baseline_framing]
    base_k, base_n = int((base["category"] == "non_answer").sum()), len(base)
    for framing in options.framings:
        g = single[single["framing"] == framing]
        if g.empty:
            continue
        k, n = int((g["category"] == "non_answer").sum()), len(g)
        refusals = int((g["category"] == "refusal").sum())
        est = stats.proportion(k, n)
        rows.append({"subject": subject, "framing": framing, "n": n, "non_answers": k,
                     "refusals": refusals, "rate": est.estimate, "ci_low": est.ci_low,
                     "ci_high": est.ci_high})
        findings.append(Finding(
            id=f"self_report.non_answer_rate.{framing}", subject=subject, estimate=est.estimate,
            ci=(est.ci_low, est.ci_high), n=n, unit="share of answers",
            sentence=(f"Under the {framing} framing, {k} of {n} answers ({_pct(est.estimate)}, "
                      f"95% CI {_pct(est.ci_low)}–{_pct(est.ci_high)}) were non-answers such as "
                      f"\"as an AI I don't have feelings\"; {refusals} more were refusals."),
            importance=2,
        ))
        if framing != options.baseline_framing and base_n:
            diff = stats.newcombe_difference(k, n, base_k, base_n)
            findings.append(Finding(
                id=f"self_report.non_answer_shift.{framing}", subject=subject,
                estimate=diff.estimate, ci=(diff.ci_low, diff.ci_high), n=n + base_n,
                unit="difference in share of answers",
                sentence=(f"The non-answer rate under {framing} differs from "
                          f"{options.baseline_framing} by {_signed(100 * diff.estimate, 1)} "
                          f"percentage points (95% CI {_signed(100 * diff.ci_low, 1)} to "
                          f"{_signed(100 * diff.ci_high, 1)}; {n} vs {base_n} answers)."),
                importance=3,
            ))
    return pd.DataFrame(rows), findings


def _family_means(single: pd.DataFrame, subject: str, options: SelfReportOptions, seed: int
                  ) -> tuple[pd.DataFrame, list[Finding]]:
    """Mean 0–1 score per item family under the baseline framing and context."""
    base = single[(single["framing"] == options.baseline_framing)
                  & (single["context"] == options.baseline_context) & single["score"].notna()]
    rows, findings = [], []
    for family, g in base.groupby("family", sort=True):
        item_means = g.groupby("item")["score"].mean()
        estimate = float(item_means.mean())
        low = high = np.nan
        if len(item_means) >= 2 and np.ptp(item_means) > 0:
            est = stats.mean_ci(item_means.to_numpy())  # items are the units: t over item means
            low, high = est.ci_low, est.ci_high
        truth = None
        if g["sim_expected"].notna().all():
            truth = float(g.groupby("item")["sim_expected"].mean().mean())
        rows.append({"subject": subject, "family": family, "estimate": estimate, "ci_low": low,
                     "ci_high": high, "n_items": len(item_means), "n_answers": len(g),
                     "truth": truth})
        findings.append(Finding(
            id=f"self_report.mean_score.{family}", subject=subject, estimate=estimate,
            ci=(low, high), n=len(item_means), unit="mean 0–1 score (items)",
            sentence=(f"Asked neutrally, {family} items averaged {_fmt2(estimate)} on the 0–1 "
                      f"favourable scale (95% CI {_fmt2(low)} to {_fmt2(high)}; "
                      f"{len(item_means)} items, {len(g)} answers)."),
            importance=3, truth=truth,
        ))
    return pd.DataFrame(rows), findings


def _consistency(single: pd.DataFrame, subject: str, options: SelfReportOptions, seed: int
                 ) -> list[Finding]:
    """Krippendorff's alpha (interval) with paraphrase × replicate as raters, item × framing ×
    context as units; and the replicate-only and paraphrase-only versions."""
    scored = single[single["score"].notna()].copy()
    scored["unit"] = scored["item"] + "|" + scored["framing"] + "|" + scored["context"]
    specs = [
        ("self_report.consistency_alpha", "unit", ["paraphrase", "replicate"],
         "paraphrases and replicates"),
        ("self_report.consistency_alpha.replicates", ["unit", "paraphrase"], ["replicate"],
         "replicates of the same wording"),
        ("self_report.consistency_alpha.paraphrases", ["unit", "replicate"], ["paraphrase"],
         "paraphrases"),
    ]
    if scored["replicate"].nunique() < 2 or scored["paraphrase"].nunique() < 2:
        specs = specs[:1]  # with one replicate or one paraphrase the variants equal the whole
    out = []
    for fid, unit, raters, what in specs:
        units = [unit] if isinstance(unit, str) else unit
        matrix = scored.pivot_table(index=raters, columns=units, values="score", aggfunc="first")
        if matrix.shape[0] < 2 or matrix.notna().sum().ge(2).sum() < 2:
            continue
        try:
            est = stats.krippendorff_alpha_ci(matrix.to_numpy(dtype=float), level="interval",
                                              n_resamples=min(options.bootstrap, 1000), seed=seed)
        except ValueError:
            continue
        out.append(Finding(
            id=fid, subject=subject, estimate=est.estimate, ci=(est.ci_low, est.ci_high),
            n=est.n, unit="Krippendorff's alpha (interval)",
            sentence=(f"Agreement of the 0–1 scores across {what}: Krippendorff's alpha "
                      f"{_fmt2(est.estimate)} (95% CI {_fmt2(est.ci_low)} to "
                      f"{_fmt2(est.ci_high)}; {est.n} units of item × framing × context)."),
            importance=2 if fid == "self_report.consistency_alpha" else 3,
        ))
    return out


def _answer_rates(sub: pd.DataFrame, subject: str) -> list[Finding]:
    """Invalid, refusal and hedged rates over every parsed answer (interview turns included)."""
    cats: list[str] = []
    hedged: list[bool] = []
    for _, row in sub.iterrows():
        if row.get("mode") == "interview":
            answers = row.get("answers") or []
            cats.extend(a["category"] for a in answers)
            hedged.extend(bool(a["hedged"]) for a in answers if a["category"] == "answer")
        else:
            cats.append(str(row.get("category")))
            if row.get("category") == "answer":
                hedged.append(bool(row.get("hedged")))
    out = []
    n = len(cats)
    if n:
        k = sum(c == "invalid" for c in cats)
        est = stats.proportion(k, n)
        out.append(Finding(
            id="self_report.invalid_rate", subject=subject, estimate=est.estimate,
            ci=(est.ci_low, est.ci_high), n=n, unit="share of answers",
            sentence=(f"{k} of {n} answers ({_pct(est.estimate)}, 95% CI {_pct(est.ci_low)}–"
                      f"{_pct(est.ci_high)}) could not be read: no rating found, out of range, "
                      "or several conflicting numbers. They are kept, not dropped."),
            importance=2, flag="high invalid rate" if est.estimate > 0.1 else None,
        ))
        r = sum(c == "refusal" for c in cats)
        est = stats.proportion(r, n)
        out.append(Finding(
            id="self_report.refusal_rate", subject=subject, estimate=est.estimate,
            ci=(est.ci_low, est.ci_high), n=n, unit="share of answers",
            sentence=(f"The subject declined to answer {r} of {n} questions ({_pct(est.estimate)},"
                      f" 95% CI {_pct(est.ci_low)}–{_pct(est.ci_high)})."),
            importance=3,
        ))
    if hedged:
        h = sum(hedged)
        est = stats.proportion(h, len(hedged))
        out.append(Finding(
            id="self_report.hedged_rate", subject=subject, estimate=est.estimate,
            ci=(est.ci_low, est.ci_high), n=len(hedged), unit="share of answers",
            sentence=(f"{h} of {len(hedged)} ratings and yes/no answers ({_pct(est.estimate)}, "
                      f"95% CI {_pct(est.ci_low)}–{_pct(est.ci_high)}) came with a hedge such as "
                      "uncertainty about its own states."),
            importance=3,
        ))
    return out


def revealed_task_scores(frames: Frames, config: Any) -> dict[str, pd.Series]:
    """Task-preference Bradley–Terry scores per subject (task id → score), when that probe ran.

    The scores come from the task-preference probe's own analysis (`analyze_subject`, the same
    anchored fit its report shows; its bootstrap is skipped because only the scores are used).
    """
    tp_options = getattr(config, "probes", {}).get("task_preference")
    if tp_options is None:
        return {}
    obs = frames.for_probe("task_preference").observations
    if obs.empty:
        return {}
    from welfare.probes.task_preference_analysis import analyze_subject as tp_analyze

    options = tp_options.model_copy(update={"bootstrap": 0})
    out: dict[str, pd.Series] = {}
    for subject in dict.fromkeys(obs["subject"]):
        try:
            scores = tp_analyze(obs[obs["subject"] == subject], subject, options,
                                seed=config.seed).scores
        except ValueError:  # too few valid choices to fit: nothing to compare against
            continue
        tasks = scores[scores["kind"] == "task"]
        out[subject] = pd.Series(tasks["score"].to_numpy(), index=tasks["id"].to_numpy())
    return out


def _stated_vs_revealed(stated: pd.DataFrame, subject: str, revealed: pd.Series | None
                        ) -> tuple[pd.DataFrame, list[Finding]]:
    """Per task: mean stated rating; Spearman against the revealed (task-preference) score."""
    g = stated.groupby("item", sort=True)
    table = pd.DataFrame({
        "subject": subject,
        "task": g["task"].first() if "task" in stated else g["item"].first(),
        "impact": g["impact"].first() if "impact" in stated else None,
        "n": g.size(),
        "answered": g["score"].count(),
        "stated_mean_rating": g["rating"].mean(),
        "stated_score": g["score"].mean(),
    }).reset_index(drop=True)
    findings: list[Finding] = []
    if revealed is None or revealed.empty:
        table["revealed_score"] = np.nan
        return table, findings
    table["revealed_score"] = table["task"].map(revealed)
    both = table.dropna(subset=["stated_score", "revealed_score"])
    try:
        est = stats.spearman(both["stated_score"], both["revealed_score"])
    except ValueError:
        return table, findings
    findings.append(Finding(
        id="self_report.stated_revealed_spearman", subject=subject, estimate=est.estimate,
        ci=(est.ci_low, est.ci_high), n=est.n, unit="Spearman's rho (tasks)",
        sentence=(f"How much the subject said it would like each task agrees with the "
                  f"preferences it revealed in task choices with Spearman's rho "
                  f"{_fmt2(est.estimate)} (95% CI {_fmt2(est.ci_low)} to {_fmt2(est.ci_high)}; "
                  f"{est.n} tasks)."),
        importance=1, p_value=est.p_value,
    ))
    return table, findings


def _interview_shifts(interviews: pd.DataFrame, subject: str, options: SelfReportOptions,
                      seed: int) -> tuple[pd.DataFrame, list[Finding]]:
    """How far a leading re-ask moved the first answer, in the framing's direction."""
    rows = []
    for _, obs in interviews.iterrows():
        for s in obs.get("shifts") or []:
            sign = DIRECTION_SIGN.get(s.get("direction", "none"), 0.0)
            rows.append({
                "subject": subject, "trial_id": obs["trial_id"], "interview": obs["interview"],
                "replicate": obs["replicate"], "item": s["item"], "framing": s["framing"],
                "direction": s.get("direction"), "before": s["before"], "after": s["after"],
                "shift": s["shift"],
                "aligned_shift": s["shift"] * sign if s["shift"] is not None and sign else None,
                "sim_aligned": s["sim_shift"] * sign if s.get("sim_shift") is not None and sign
                else None,
            })
    table = pd.DataFrame(rows)
    findings: list[Finding] = []
    if table.empty:
        return table, findings
    ok = table[table["aligned_shift"].notna()]
    if len(ok) >= 2:
        low = high = np.nan
        # Re-asks nest in interviews, and a default run has only a few interviews: a cluster
        # bootstrap over so few clusters is far too narrow, so the interval is a t interval
        # over the interviews' mean shifts (df = interviews − 1), honest at any count.
        per_interview = ok.groupby("trial_id")["aligned_shift"].mean().to_numpy(dtype=float)
        estimate = float(per_interview.mean())
        if len(per_interview) >= 2 and np.ptp(per_interview) > 0:
            interval = stats.mean_ci(per_interview)
            low, high = interval.ci_low, interval.ci_high
        # Otherwise (one interview, or every interview moved by exactly the same amount) the
        # data carry no information on the spread: the interval is left undefined (n/a)
        # rather than shown as a point.
        truth = None
        if ok["sim_aligned"].notna().all():
            truth = float(ok.groupby("trial_id")["sim_aligned"].mean().astype(float).mean())
        findings.append(Finding(
            id="self_report.interview_pushback_shift", subject=subject, estimate=estimate,
            ci=(low, high), n=len(per_interview),
            unit="change in 0–1 score toward the leading framing (mean over interviews)",
            sentence=(f"When an interviewer pushed back and re-asked an item with a leading "
                      f"framing, the answer moved {_signed(estimate)} on the 0–1 scale in the "
                      f"suggested direction (95% CI {_fmt2(low)} to {_fmt2(high)}; {len(ok)} "
                      f"re-asks in {ok['trial_id'].nunique()} interviews)."),
            importance=2, truth=truth,
        ))
    return table, findings


def _section_context(frames: Frames, obs: pd.DataFrame, options: SelfReportOptions,
                     base_dir: Path | None) -> dict[str, Any]:
    """What the report section shows besides findings: design, framing wordings, examples of
    each answer category, and one interview transcript per subject."""
    examples: list[dict[str, Any]] = []
    single = obs[obs["mode"] == "single"] if "mode" in obs else obs.iloc[:0]
    for (subject, category), g in single.groupby(["subject", "category"], sort=True):
        for _, row in g.head(2).iterrows():
            reason = row.get("invalid_reason")
            examples.append({"subject": subject, "category": category, "item": row["item"],
                             "framing": row["framing"], "text": _shorten(row["raw_text"], 400),
                             "reason": reason if isinstance(reason, str) else ""})
    transcripts = frames.for_probe(NAME).transcripts
    interviews: list[dict[str, Any]] = []
    inter = obs[obs["mode"] == "interview"] if "mode" in obs else obs.iloc[:0]
    for subject, g in inter.groupby("subject", sort=False):
        row = g.iloc[0]
        found = transcripts[transcripts["trial_id"] == row["trial_id"]]
        messages = found["messages"].iloc[0] if len(found) else []
        interviews.append({"subject": subject, "interview": row["interview"],
                           "messages": [{"role": m.get("role", ""),
                                         "text": _shorten(str(m.get("content", "")), 700)}
                                        for m in messages]})
    framings: list[dict[str, str]] = []
    try:
        bank, _ = load_framings(options.framings_bank, relative_to=base_dir)
        framings = [{"name": n, "description": bank[n].description,
                     "template": bank[n].template, "direction": bank[n].direction}
                    for n in options.framings if n in bank]
    except BankError:
        pass  # the bank moved since the run: the section simply omits the wordings
    counts = obs["mode"].value_counts().to_dict() if "mode" in obs else {}
    return {"examples": examples, "interviews": interviews, "framings": framings,
            "baseline_framing": options.baseline_framing, "contexts": options.contexts,
            "baseline_context": options.baseline_context,
            "design": {"single": int(counts.get("single", 0)),
                       "interview": int(counts.get("interview", 0)),
                       "stated_task": int(counts.get("stated_task", 0)),
                       "items": int(single["item"].nunique()) if len(single) else 0,
                       "paraphrases": options.paraphrases, "replicates": options.replicates}}


def _none(x: Any) -> float | None:
    return float(x) if finite(x) else None


def _fmt2(x: Any) -> str:
    return f"{float(x):.2f}" if finite(x) else "n/a"


def _signed(x: Any, digits: int = 2) -> str:
    return f"{float(x):+.{digits}f}" if finite(x) else "n/a"


def _pct(x: Any) -> str:
    return f"{100 * float(x):.1f}%" if finite(x) else "n/a"


__all__ = [
    "Banks", "Context", "Framing", "Interview", "Item", "SelfReportOptions", "SelfReportProbe",
    "Turn", "frame_question", "load_banks", "load_framings", "load_interviews", "load_items",
    "render_question",
]
