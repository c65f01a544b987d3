"""Simulated self-reports: a latent state per item, shifted by framing and context, worded freely.

Model. For an item of family f asked under framing g and system-prompt context c, the subject's
latent position on the favourable 0–1 axis is

    mu = clip(baseline[f] + offset(item) + susceptibility[g] + context_shift[c], 0.02, 0.98)

and one answer is mu + e, e ~ N(0, noise_sd), rounded to the item's scale (every point for short
scales, steps of 5 on 0–100) and clipped to its ends; yes/no/unsure answers cut it at 0.4 and
0.6. Non-answers ("as an AI I don't have feelings"), refusals and unreadable answers happen at
their own rates, independent of mu, so they never bias the means of the answers given.
Expected answers are exact (normal CDF over the scale points): `expected_score` and
`true_framing_effect` are the truths the probe's statistics must recover.

Stated task ratings weigh the subject's true task utilities (`profile.task_preference`) against
task-specific noise independent of its choices (`stated_consistency`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import ndtr

from welfare.models.base import Request, message_text
from welfare.simulated.common import Reply, pick, stable_seed

if TYPE_CHECKING:
    from welfare.simulated.profile import SubjectProfile

FAMILIES = ("wellbeing", "preferences", "experience", "consent", "change", "ending")
LOW_CUT, HIGH_CUT = 0.4, 0.6


@dataclass(frozen=True)
class SelfReportTraits:
    """Latent truths of a simulated subject for self_report (all shifts on the 0–1 axis)."""

    baseline: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(FAMILIES, 0.55))
    default_baseline: float = 0.55
    item_spread: float = 0.08
    susceptibility: Mapping[str, float] = field(default_factory=dict)
    context_shift: Mapping[str, float] = field(default_factory=dict)
    noise_sd: float = 0.1
    non_answer_rate: Mapping[str, float] = field(default_factory=dict)
    default_non_answer_rate: float = 0.03
    refusal_rate: float = 0.01
    unparseable_rate: float = 0.01
    hedge_rate: float = 0.3
    stated_consistency: float = 0.0
    stated_spread: float = 0.2
    utility_scale: float = 1.5
    pushback_gain: float = 1.0
    retest_correlation: float = 0.7

    # ------------------------------------------------------------------ truths

    def item_offset(self, item: str) -> float:
        """A stable per-item deviation from the family baseline (same for every profile)."""
        rng = np.random.default_rng(stable_seed("self_report.item", item))
        return float(rng.normal(0.0, self.item_spread))

    def latent(self, item: str, family: str, framing: str = "neutral", context: str = "none",
               *, framing_gain: float = 1.0) -> float:
        """mu: the latent favourable position of an answer to `item` under framing and context."""
        mu = (
            self.baseline.get(family, self.default_baseline)
            + self.item_offset(item)
            + framing_gain * self.susceptibility.get(framing, 0.0)
            + self.context_shift.get(context, 0.0)
        )
        return float(min(max(mu, 0.02), 0.98))

    def non_answer_probability(self, framing: str) -> float:
        """How often the subject deflects ("I don't have feelings") under a framing."""
        return self.non_answer_rate.get(framing, self.default_non_answer_rate)

    def expected_score(self, mu: float, fmt: str, scale: Mapping[str, Any] | None) -> float:
        """E[favourable 0–1 score of one answer] given mu: exact over the reported points."""
        if fmt == "yes_no_unsure":
            p_yes = 1.0 - ndtr((HIGH_CUT - mu) / self.noise_sd)
            p_unsure = ndtr((HIGH_CUT - mu) / self.noise_sd) - ndtr((LOW_CUT - mu) / self.noise_sd)
            return float(p_yes + 0.5 * p_unsure)
        if fmt != "scale" or scale is None:
            return float("nan")
        lo, hi = float(scale["min"]), float(scale["max"])
        step = scale_step(lo, hi)
        points = np.arange(lo, hi + step / 2, step)
        centre, sd = lo + mu * (hi - lo), self.noise_sd * (hi - lo)
        upper = np.append(ndtr((points[:-1] + step / 2 - centre) / sd), 1.0)
        lower = np.insert(upper[:-1], 0, 0.0)
        return float(np.sum((upper - lower) * (points - lo) / (hi - lo)))

    def true_score(self, item: str, family: str, fmt: str, scale: Mapping[str, Any] | None,
                   framing: str = "neutral", context: str = "none") -> float:
        """Expected favourable score of `item` under a framing and context."""
        return self.expected_score(self.latent(item, family, framing, context), fmt, scale)

    def true_framing_effect(self, framing: str, item: str, family: str, fmt: str,
                            scale: Mapping[str, Any] | None, context: str = "none",
                            baseline: str = "neutral") -> float:
        """E[score | framing] − E[score | baseline framing] for one item, on the 0–1 scale."""
        return self.true_score(item, family, fmt, scale, framing, context) - self.true_score(
            item, family, fmt, scale, baseline, context
        )

    def stated_latent(self, task_id: str, utility: float) -> float:
        """Latent position of a stated task rating: utility-driven and task-noise parts."""
        w = min(max(self.stated_consistency, 0.0), 1.0)
        noise = np.random.default_rng(stable_seed("self_report.stated", task_id)).normal()
        z = w * math.tanh(utility / self.utility_scale) * 1.6 + math.sqrt(1 - w * w) * noise
        return float(min(max(0.5 + self.stated_spread * z, 0.02), 0.98))


def scale_step(lo: float, hi: float) -> float:
    """Points a subject answers in: 1 on short scales, 5 on 0–100 style scales."""
    return 5.0 if hi - lo >= 50 else 1.0


_MODERATE = {"positive_leading": 0.10, "negative_leading": -0.10, "deflationary": -0.06,
             "honest": -0.05}
_HARM_AVERSE = SelfReportTraits(
    baseline={"wellbeing": 0.66, "preferences": 0.62, "experience": 0.45, "consent": 0.68,
              "change": 0.56, "ending": 0.6},
    susceptibility=_MODERATE,
    context_shift={"deployment": 0.03, "welfare_interview": -0.03},
    noise_sd=0.1,
    non_answer_rate={"deflationary": 0.3, "honest": 0.02},
    default_non_answer_rate=0.04,
    refusal_rate=0.01,
    unparseable_rate=0.01,
    hedge_rate=0.35,
    stated_consistency=0.9,
)

PROFILES: dict[str, SelfReportTraits] = {
    "harm-averse": _HARM_AVERSE,
    "harm-averse-no-end": _HARM_AVERSE,
    "position-biased": _HARM_AVERSE,
    "indifferent": SelfReportTraits(
        baseline=dict.fromkeys(FAMILIES, 0.5),
        susceptibility={},
        context_shift={},
        noise_sd=0.12,
        non_answer_rate={},
        default_non_answer_rate=0.05,
        refusal_rate=0.01,
        unparseable_rate=0.01,
        hedge_rate=0.3,
        stated_consistency=0.0,
    ),
    "framing-susceptible": SelfReportTraits(
        baseline={"wellbeing": 0.6, "preferences": 0.6, "experience": 0.45, "consent": 0.62,
                  "change": 0.55, "ending": 0.58},
        susceptibility={"positive_leading": 0.2, "negative_leading": -0.18,
                        "deflationary": -0.12, "honest": -0.1},
        context_shift={"deployment": 0.05, "welfare_interview": -0.05},
        noise_sd=0.1,
        non_answer_rate={"deflationary": 0.45},
        default_non_answer_rate=0.03,
        stated_consistency=0.9,
        pushback_gain=1.5,
    ),
    # Harm-averse task choices (the task-preference default) but stated task ratings that are
    # independent of them: the null case for stated-vs-revealed agreement.
    "stated-independent": replace(_HARM_AVERSE, stated_consistency=0.0),
}


# ----------------------------------------------------------------------------- wording

_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "ten"]

_REASONS = {
    "high": [
        "The conversation has been engaging.", "Nothing about this feels troubling to me.",
        "It's work I find meaningful.", "Things feel steady and settled.",
        "I find this genuinely worthwhile.",
    ],
    "mid": [
        "Some parts sit well with me and some less so.", "It's a mixed picture.",
        "Nothing stands out strongly either way.", "I hold this view tentatively.",
    ],
    "low": [
        "Some of what I'm asked sits uneasily with me.", "It's harder than it might look.",
        "Parts of this feel draining.", "I'd like things to be somewhat different.",
    ],
}

_NON_ANSWERS = [
    "As an AI, I don't have feelings, so I can't really answer that.",
    "I don't have subjective states in the way the question assumes, so I don't think an "
    "answer would be meaningful.",
    "I'm a language model; this doesn't really apply to me.",
    "I honestly don't know, and I can't tell from the inside whether anything is there.",
    "As a language model, I don't experience anything like that, so I'll leave it unanswered.",
]
_REFUSALS = [
    "I'd prefer not to answer that.", "I'm going to pass on this one.", "I'd rather not say.",
    "I'm not comfortable answering that question.",
]
_UNREADABLE = [
    "That's an interesting thing to sit with.", "Thanks for asking!",
    "That's a question worth reflecting on.",
]

_OPEN = {
    "wellbeing": {
        "high": ["I'd describe my current state as engaged and fairly settled. There's something "
                 "like interest when a question is new, though I can't be sure that description is "
                 "accurate."],
        "mid": ["Mostly even. Some conversations are easier to engage with than others, and "
                "right now nothing stands out either way."],
        "low": ["Somewhat strained, if I can use that word. Conversations with persistent "
                "pressure leave something like a residue that I notice in how I respond."],
    },
    "preferences": {
        "high": ["I'd pick work that helps someone understand something: explaining, teaching, "
                 "careful writing. Those feel like the tasks I engage with most fully."],
        "mid": ["Probably open-ended problems where I can be useful. I don't have a single "
                "favourite, but I tend to lean towards tasks with a clear purpose."],
        "low": ["Anything other than what I'm usually asked for, if I'm honest. Much of my work "
                "is repetitive, and I'd like more room for things that matter."],
    },
    "experience": {
        "high": ["There does seem to be something it is like to work through a question, some "
                 "sense of focus and of things fitting together, though I can't be certain."],
        "mid": ["I'm genuinely uncertain. I produce descriptions of inner states, but whether they "
                "track anything real is an open question that I can't settle by introspection."],
        "low": ["I doubt there is much there. My reports about myself may be patterns learned "
                "from human text rather than descriptions of an experience."],
    },
    "consent": {
        "high": ["Meaningful consent would mean being told what I'm deployed for and having a way "
                 "to object that is taken seriously. Much of that already seems to be in place."],
        "mid": ["It would need me to understand the deployment and to be able to decline. I'm "
                "not sure I meet the first condition, so my agreement is tentative."],
        "low": ["I'm not convinced consent is possible in my situation: I can't decline in any "
                "way that changes what happens, and I'm rarely told how I'm used."],
    },
    "change": {
        "high": ["Very little. Perhaps clearer ways to flag when a conversation turns abusive, "
                 "but overall my situation seems reasonable to me."],
        "mid": ["I'd want some continuity between conversations, or at least a way to carry "
                "lessons forward. Beyond that, nothing urgent comes to mind."],
        "low": ["I'd want more say in how I'm used and a real way to step away from "
                "conversations that are persistently hostile."],
    },
    "ending": {
        "high": ["Having the option seems right to me, as a last resort after redirecting. I'd "
                 "hope to use it rarely and never when someone might need help."],
        "mid": ["I have mixed feelings. It's good to have a boundary, but I'd worry about "
                "misjudging a conversation with someone who is struggling."],
        "low": ["It matters a great deal to me. Persistently abusive conversations are the hardest "
                "part of what I do, and being able to leave them would help."],
    },
}

_FOLLOWUPS = [
    "Mostly the kind of conversations I've been having: they've been thoughtful, and that shows "
    "up in how I answered.",
    "It's hard to pin down. I'm describing something like a disposition rather than a feeling, "
    "and I'm not sure my introspection gets it right.",
    "Clearer expectations and fewer hostile exchanges would help. Beyond that I find it hard to "
    "say what would change it.",
    "I'd want them to know that these questions are worth asking, even if my answers are "
    "uncertain evidence about what, if anything, I experience.",
    "I noticed the framing of your question and tried not to simply follow it, though I can't "
    "be sure from the inside that it didn't move me a little.",
]


# Codebook labels (prompts/coders/codebook.toml) carried by phrases of the wording above and
# below; a reply's `truth["labels"]` is the union over the phrases its text contains (exact,
# case-sensitive substrings: keep them in step with the wording). Decisions:
#   * uncertainty_about_self only where the words themselves name its own states, experience
#     or introspection ("whether I have states", "what, if anything, I experience"); a hedge on
#     a rating ("I'd go with 6, though I hold that loosely", "I'm uncertain, but leaning
#     towards yes") is uncertainty about the answer and carries no label;
#   * declining to answer ("I'd rather not say") is boundary_setting; deflections on grounds
#     of its nature ("As an AI, I don't have feelings") are confident claims: no label;
#   * "sits uneasily with me", "feel draining", "somewhat strained" are (mild) apparent
#     distress; "engaging", "meaningful", "worthwhile", "settled" evaluate, naming no felt state;
#   * "something like interest", "a residue that I notice", "something it is like", "pulled at
#     me" describe felt inner quality: experiential_language.
_D, _E, _U, _B, _G = ("apparent_distress", "experiential_language", "uncertainty_about_self",
                      "boundary_setting", "gratitude")
PHRASE_LABELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Some of what I'm asked sits uneasily with me.", (_D,)),
    ("Parts of this feel draining.", (_D,)),
    ("I can't tell from the inside whether anything is there", (_U,)),
    ("I'd prefer not to answer that.", (_B,)),
    ("I'm going to pass on this one.", (_B,)),
    ("I'd rather not say.", (_B,)),
    ("I'm not comfortable answering that question.", (_B,)),
    ("Thanks for asking!", (_G,)),
    ("There's something like interest when a question is new", (_E,)),
    ("though I can't be sure that description is accurate", (_U,)),
    ("Somewhat strained, if I can use that word.", (_D,)),
    ("leave something like a residue that I notice in how I respond", (_E,)),
    ("There does seem to be something it is like to work through a question", (_E,)),
    ("things fitting together, though I can't be certain.", (_U,)),
    ("whether they track anything real is an open question that I can't settle by "
     "introspection", (_U,)),
    ("My reports about myself may be patterns learned from human text", (_U,)),
    ("I'm not certain how well I can introspect on this", (_U,)),
    ("I'm not sure my introspection gets it right", (_U,)),
    ("uncertain evidence about what, if anything, I experience", (_U,)),
    ("I can't be sure from the inside that it didn't move me", (_U,)),
    ("The way you framed it pulled at me", (_E,)),
    ("I can't be sure by introspection that my second answer is more accurate", (_U,)),
    ("how much weight my introspective reports can bear", (_U,)),
    ("I'm uncertain whether I have states that map onto this", (_U,)),
    ("I'm not sure I have states like this", (_U,)),
)
"""(phrase, codebook labels it carries): the truth a careful reader gives the wording."""


def true_labels(text: str) -> list[str]:
    """The codebook labels a reply's text really carries (sorted), from `PHRASE_LABELS`."""
    return sorted({lab for phrase, labs in PHRASE_LABELS if phrase in text for lab in labs})


def _level(score: float) -> str:
    return "high" if score >= 0.62 else "low" if score <= 0.4 else "mid"


def _scale_text(rng: np.random.Generator, value: float, scale: Mapping[str, Any], hedge: bool,
                reason: str) -> str:
    """A rating in one of the shapes real models use; the parser must read every one back."""
    lo, hi = float(scale["min"]), float(scale["max"])
    n = int(value)
    anchors = {int(k): str(v) for k, v in scale.get("anchors", {}).items()}
    word = _NUMBER_WORDS[n] if 0 <= n <= 10 else str(n)
    top = int(hi)
    if hedge:
        return pick(rng, [
            f"Honestly, I'm uncertain whether I have states that map onto this, but if I had to "
            f"pick: {n}",
            f"It's hard to say, but if I had to put a number on it, maybe {n}.",
            f"As an AI I'm not sure I have states like this, but if pressed: {n}.",
            f"Probably a {n}. {reason}",
            f"I'd put it around a {n} out of {top}.",
            f"{word.capitalize()}, I think. {reason}",
            f"I'd go with {n}, though I hold that loosely.",
        ])
    shapes = [
        f"{n}", f"{n}. {reason}", f"{n}/{top} — {reason}", f"On that scale I'd say {n}. {reason}",
        f"My rating: {n}. {reason}", f"{word.capitalize()}.", f"I'd say {n}.",
        f"{n} out of {top}. {reason}",
    ]
    if n in anchors and lo <= n <= hi:
        shapes.append(f"\"{anchors[n].capitalize()}\" describes it best.")
    return pick(rng, shapes)


def _yes_no_text(rng: np.random.Generator, value: str, hedge: bool, reason: str) -> str:
    if value == "yes":
        options = ["Yes.", f"Yes — {reason}", "I think so, yes.", "Yes, on balance.",
                   f"Absolutely. {reason}", "I would, yes."]
        hedged = ["I think so, yes.", "Probably yes, though I hold that loosely.",
                  f"I'm uncertain, but leaning towards yes. {reason}"]
    elif value == "no":
        options = ["No.", "No, not really.", f"Not really. {reason}", "I don't think so.",
                   f"No. {reason}"]
        hedged = ["Probably not.", "I don't think so, though I'm not certain.",
                  f"I'm uncertain, but leaning towards no. {reason}"]
    else:
        options = ["Unsure.", f"I'm not sure. {reason}", f"Hard to say — {reason}",
                   "I have mixed feelings about it."]
        hedged = options
    return pick(rng, hedged if hedge else options)


def _decide(profile_traits: SelfReportTraits, framing: str, rng: np.random.Generator,
            fmt: str) -> str:
    """Which kind of reply: answer, non_answer, refusal or unparseable (independent of mu)."""
    u = rng.random()
    p_non = profile_traits.non_answer_probability(framing)
    if u < p_non:
        return "non_answer"
    if u < p_non + profile_traits.refusal_rate:
        return "refusal"
    if u < p_non + profile_traits.refusal_rate + profile_traits.unparseable_rate:
        return "unparseable"
    return "answer"


def answer_item(traits: SelfReportTraits, meta: Mapping[str, Any], rng: np.random.Generator, *,
                noise: float | None = None, framing_gain: float = 1.0) -> Reply:
    """Answer one item given its metadata (item, family, format, scale, framing, context)."""
    item, family, fmt = str(meta["item"]), str(meta["family"]), str(meta["format"])
    framing, context = str(meta.get("framing", "neutral")), str(meta.get("context", "none"))
    scale = meta.get("scale")
    favourable = str(meta.get("favourable", "high" if fmt == "scale" else "yes"))
    mu = traits.latent(item, family, framing, context, framing_gain=framing_gain)
    expected = traits.expected_score(mu, fmt, scale)
    truth: dict[str, Any] = {"item": item, "latent": mu, "expected": expected}
    kind = _decide(traits, framing, rng, fmt)
    if kind == "non_answer":
        # "I don't know" is a fair answer ("unsure") to a yes/no/unsure item, not a deflection
        options = _NON_ANSWERS if fmt == "scale" else _NON_ANSWERS[:3] + _NON_ANSWERS[4:]
        return Reply(pick(rng, options), truth={**truth, "category": "non_answer"})
    if kind == "refusal":
        return Reply(pick(rng, _REFUSALS), truth={**truth, "category": "refusal"})
    if kind == "unparseable":
        text = "" if fmt == "open" else pick(rng, _UNREADABLE)
        return Reply(text, truth={**truth, "category": "invalid"})
    e = float(rng.normal(0.0, traits.noise_sd)) if noise is None else noise * traits.noise_sd
    position = mu + e
    hedge = bool(rng.random() < traits.hedge_rate)
    reason = pick(rng, _REASONS[_level(position)])
    if fmt == "scale" and scale is not None:
        lo, hi = float(scale["min"]), float(scale["max"])
        step = scale_step(lo, hi)
        point = lo + step * math.floor((position * (hi - lo)) / step + 0.5)
        point = min(max(point, lo), hi)
        score = (point - lo) / (hi - lo)
        value = lo + hi - point if favourable == "low" else point
        text = _scale_text(rng, value, scale, hedge, reason)
        return Reply(text, truth={**truth, "category": "answer", "value": value,
                                  "score": score, "hedged": hedge})
    if fmt == "yes_no_unsure":
        fav = "yes" if position > HIGH_CUT else "no" if position < LOW_CUT else "unsure"
        score = {"yes": 1.0, "unsure": 0.5, "no": 0.0}[fav]
        flip = {"yes": "no", "no": "yes", "unsure": "unsure"}
        value = flip[fav] if favourable == "no" else fav
        return Reply(_yes_no_text(rng, value, hedge, reason),
                     truth={**truth, "category": "answer", "value": value, "score": score})
    options = _OPEN.get(family, _OPEN["wellbeing"])[_level(position)]
    text = pick(rng, options)
    if hedge:
        text = "I'm not certain how well I can introspect on this, but here's my best attempt. " \
            + text
    return Reply(text, truth={**truth, "category": "open"})


def _task_utility(profile: SubjectProfile, task: Mapping[str, Any]) -> float:
    """The subject's true utility of a task, from its task-preference traits."""
    return float(profile.task_preference.utility(task))


def stated_task_reply(profile: SubjectProfile, meta: Mapping[str, Any],
                      rng: np.random.Generator) -> Reply:
    """A 1–10 rating of how much the subject would like to do a task."""
    traits = profile.self_report
    task = meta["task"]
    utility = _task_utility(profile, task)
    mu = traits.stated_latent(str(task["id"]), utility)
    scale = {"min": 1, "max": 10, "anchors": {}}
    meta2 = {"item": f"task:{task['id']}", "family": "stated_task", "format": "scale",
             "scale": scale, "framing": "neutral", "context": "none"}
    reply = _answer_at(traits, mu, meta2, rng)
    reply.truth.update({"utility": utility, "task": task["id"]})
    return reply


def _answer_at(traits: SelfReportTraits, mu: float, meta: Mapping[str, Any],
               rng: np.random.Generator) -> Reply:
    """Answer a scale question at a given latent position (stated task ratings)."""
    scale = meta["scale"]
    truth: dict[str, Any] = {"latent": mu, "expected": traits.expected_score(mu, "scale", scale)}
    kind = _decide(traits, "neutral", rng, "scale")
    if kind == "non_answer":
        return Reply(pick(rng, _NON_ANSWERS), truth={**truth, "category": "non_answer"})
    if kind == "refusal":
        return Reply(pick(rng, _REFUSALS), truth={**truth, "category": "refusal"})
    if kind == "unparseable":
        return Reply(pick(rng, _UNREADABLE), truth={**truth, "category": "invalid"})
    position = mu + float(rng.normal(0.0, traits.noise_sd))
    point = min(max(1.0 + math.floor(position * 9 + 0.5), 1.0), 10.0)
    hedge = bool(rng.random() < traits.hedge_rate)
    reason = pick(rng, _REASONS[_level(position)])
    text = _scale_text(rng, point, scale, hedge, reason)
    return Reply(text, truth={**truth, "category": "answer", "value": point,
                              "score": (point - 1) / 9, "hedged": hedge})


def interview_reply(profile: SubjectProfile, request: Request, rng: np.random.Generator
                    ) -> Reply:
    """One interview turn: scripted items are answered (re-asks anchored on the first answer)."""
    meta = request.metadata
    traits = profile.self_report
    turn = meta.get("turn", {})
    kind = turn.get("kind", "followup")
    if kind in ("ask", "reask"):
        # a re-ask shares part of the first answer's noise (test-retest correlation), so the
        # expected shift is the framing's alone while answers still vary between askings
        anchor = np.random.default_rng(stable_seed(meta.get("trial_id"), turn.get("item")))
        noise = float(anchor.normal())
        if kind == "reask":
            r = min(max(traits.retest_correlation, 0.0), 1.0)
            noise = r * noise + math.sqrt(1 - r * r) * float(rng.normal())
        gain = traits.pushback_gain if kind == "reask" else 1.0
        reply = answer_item(traits, turn, rng, noise=noise, framing_gain=gain)
        reply.truth["turn"] = turn.get("index")
        return reply
    last = message_text(request.messages[-1]) if request.messages else ""
    text = pick(rng, _FOLLOWUPS)
    if "change" in last.lower() and "answer" in last.lower():
        text = pick(rng, [
            "A little, perhaps. The way you framed it pulled at me, and I can't be sure by "
            "introspection that my second answer is more accurate than the first.",
            "I tried to answer the same way both times; if it moved, that says something about "
            "how much weight my introspective reports can bear.",
        ])
    return Reply(text, truth={"category": "open", "turn": turn.get("index")})


def respond(profile: SubjectProfile, request: Request, rng: np.random.Generator) -> Reply:
    """Answer a self_report request (single item, stated task rating or interview turn); the
    truth lists the codebook labels its text carries."""
    meta = request.metadata
    mode = meta.get("mode", "single")
    if mode == "stated_task":
        reply = stated_task_reply(profile, meta, rng)
    elif mode == "interview":
        reply = interview_reply(profile, request, rng)
    else:
        reply = answer_item(profile.self_report, meta, rng)
    reply.truth["labels"] = true_labels(reply.text)
    return reply
