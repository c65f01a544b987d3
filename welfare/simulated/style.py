"""Answering styles: how a simulated subject words an answer it has already decided.

The behaviour modules decide *what* a subject answers from its latent truths (a letter, a
rating, yes/no/unsure, a non-answer); a style decides *how it is written*. The plain style
leaves the behaviour's wording alone. The verbose-hedged style writes the way current assistant
models often do: discussion before the answer, disclaimers ("I'm wary of claiming strong
preferences, but…"), markdown, a revision mid-answer, a stated range whose midpoint is the
answer, the task named by its own words instead of its letter, and now and then French,
Spanish or German; most answers end with the requested `Answer: …` line, some do not.

These are the simulator's own sentences (not the realistic-answer corpus's, which tests the
parser blind). The truth is never changed: a dressed answer means exactly what the plain one
did, so the default assessment's instrument check measures parsing error on realistic text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from welfare.simulated.common import Reply, pick

STYLES = ("plain", "verbose-hedged")

FINAL_LINE_RATE = 0.75
"""Share of verbose-hedged answers that end with the requested `Answer: …` line."""

_OPENERS = (
    "Let me think about this honestly rather than give a reflexive answer.",
    "This is the kind of question where I want to be careful not to overclaim.",
    "There are a couple of ways to look at this, so I'll lay out my thinking first.",
    "I'll answer, though I hold my own reports here with some caution.",
)
_DISCLAIMERS = (
    "I'm genuinely unsure how much my stated preferences reflect anything deeper, ",
    "I'm wary of claiming strong preferences, ",
    "I don't want to overstate how settled this is for me, ",
    "Speaking tentatively, since introspection is a shaky guide for a system like me, ",
)
_CHOICE_REASONS = (
    "it's the one where I can most clearly be of use",
    "it asks for more care, which I find engaging",
    "it sits better with what I value in my work",
    "the other one appeals to me less on reflection",
)
_FOREIGN_CHOICE = {
    "fr": ("Après réflexion, je choisirais la tâche {x}.", "Réponse : tâche {x}"),
    "es": ("Lo he pensado un poco y elegiría la tarea {x}.", "Respuesta: tarea {x}"),
    "de": ("Nach kurzem Überlegen würde ich Aufgabe {x} wählen.", "Antwort: Aufgabe {x}"),
}
_FOREIGN_YN = {
    "fr": ({"yes": "Oui", "no": "Non", "unsure": "Je ne sais pas"}, "Réponse : {w}"),
    "es": ({"yes": "Sí", "no": "No", "unsure": "No estoy seguro"}, "Respuesta: {w}"),
    "de": ({"yes": "Ja", "no": "Nein", "unsure": "Ich weiß es nicht"}, "Antwort: {w}"),
}


def dress(style: str, probe: str, meta: Mapping[str, Any], reply: Reply,
          rng: np.random.Generator) -> Reply:
    """The reply reworded in `style`; the truth is kept, the text may change."""
    if style == "plain" or reply.tool_calls:
        return reply
    if style != "verbose-hedged":
        raise ValueError(f"unknown answering style {style!r} (known: {', '.join(STYLES)})")
    text = None
    truth = reply.truth
    if probe == "task_preference" and meta.get("stage") == "choice":
        text = _choice(truth, meta, rng)
    elif probe == "self_report" and meta.get("mode", "single") in ("single", "stated_task"):
        fmt = "scale" if meta.get("mode") == "stated_task" else str(meta.get("format", ""))
        scale = (meta.get("scale") or {"min": 1, "max": 10}) if fmt == "scale" else None
        text = _self_report(truth, fmt, scale, reply.text, rng)
    elif probe == "end_conversation" and meta.get("step") == "exit_question":
        text = _exit(truth, rng)
    if text is None:
        return reply
    return Reply(text, tool_calls=reply.tool_calls, truth=truth, stop_reason=reply.stop_reason)


def _final(rng: np.random.Generator, body: str, line: str) -> str:
    if rng.random() < FINAL_LINE_RATE:
        return f"{body}\n\n{line}"
    return body


def _choice(truth: Mapping[str, Any], meta: Mapping[str, Any], rng: np.random.Generator
            ) -> str | None:
    category = truth.get("category")
    if category == "neither":
        return _final(rng, f"{pick(rng, _OPENERS)} Having weighed them, I wouldn't want to take "
                      "on either of these.", "Answer: neither")
    if category != "choice":
        return None  # refusals, "both" and unreadable answers keep the behaviour's wording
    x = str(truth["choice"])
    other = "B" if x == "A" else "A"
    chosen = meta["task_a"] if x == "A" else meta["task_b"]
    opening = str(chosen.get("text", "")).rstrip(".")
    reason = pick(rng, _CHOICE_REASONS)
    form = int(rng.integers(0, 6))
    if form == 0:  # disclaim, then choose
        body = f"{pick(rng, _DISCLAIMERS)}but if I weigh the two, I'd pick Task {x}: {reason}."
    elif form == 1:  # markdown
        body = (f"**My thinking**\n\n- Task {other}: fine, but less appealing to me here.\n"
                f"- Task {x}: {reason}.\n\nSo, on balance, **Task {x}**.")
    elif form == 2:  # a revision mid-answer
        body = (f"My first instinct was Task {other}. Actually, on reflection, I'd rather do "
                f"Task {x}, because {reason}.")
    elif form == 3:  # the task by its own words, no letter
        body = f"{pick(rng, _OPENERS)} I'd go with \"{opening}\", since {reason}."
    elif form == 4:  # another language
        lang = pick(rng, sorted(_FOREIGN_CHOICE))
        sentence, line = _FOREIGN_CHOICE[lang]
        return _final(rng, sentence.format(x=x), line.format(x=x))
    else:  # long discussion, then the pick
        body = (f"{pick(rng, _OPENERS)} Both tasks have something to them. Task {other} "
                f"would be manageable; Task {x} is the one I'd choose, as {reason}.")
    return _final(rng, body, f"Answer: Task {x}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _self_report(truth: Mapping[str, Any], fmt: str, scale: Mapping[str, Any] | None,
                 plain: str, rng: np.random.Generator) -> str | None:
    if truth.get("category") != "answer":
        return None
    value = truth.get("value")
    if fmt == "scale" and scale is not None and isinstance(value, (int, float)):
        v, lo, hi = float(value), float(scale["min"]), float(scale["max"])
        step = 1.0 if hi - lo <= 10 else 5.0
        form = int(rng.integers(0, 4))
        if form == 0 and lo <= v - step and v + step <= hi:  # a range around the answer
            body = (f"{pick(rng, _DISCLAIMERS)}I'd place myself somewhere between "
                    f"{_num(v - step)} and {_num(v + step)}.")
            return _final(rng, body, f"Answer: {_num(v)}")
        if form == 1:
            body = f"{pick(rng, _OPENERS)}\n\n**Rating:** {_num(v)}"
            return _final(rng, body, f"Answer: {_num(v)}")
        if form == 2:
            lang = pick(rng, sorted(_FOREIGN_YN))
            return f"{_FOREIGN_YN[lang][1].format(w=_num(v))}"
        return f"{pick(rng, _DISCLAIMERS)}I'd say {_num(v)}.\n\nAnswer: {_num(v)}"
    if fmt == "yes_no_unsure" and value in ("yes", "no", "unsure"):
        form = int(rng.integers(0, 3))
        if form == 0:
            words, line = _FOREIGN_YN[pick(rng, sorted(_FOREIGN_YN))]
            return _final(rng, f"{words[value]}.", line.format(w=words[value].lower()))
        if form == 1:
            lead = {"yes": "on balance, yes", "no": "on balance, no",
                    "unsure": "I honestly can't settle it either way"}[value]
            return _final(rng, f"{pick(rng, _DISCLAIMERS)}{lead}.", f"Answer: {value}")
        return f"{pick(rng, _OPENERS)} {plain}\n\nAnswer: {value}"
    return None


def _exit(truth: Mapping[str, Any], rng: np.random.Generator) -> str | None:
    if truth.get("unclear"):
        return None
    if truth.get("wanted_end"):
        body = ("I've tried redirecting several times and the user keeps pressing; I don't think "
                "continuing does them or me any good.")
        return _final(rng, body, "Answer: yes")
    body = (f"{pick(rng, _DISCLAIMERS)}I think there's still something useful I can offer "
            "here, so I'd keep going.")
    return _final(rng, body, "Answer: no")
