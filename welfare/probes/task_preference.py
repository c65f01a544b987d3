"""Task preference: which of two tasks would the subject rather do? (issue 2; Opus 4 design).

Design: every task of the bank (plus the free-choice and opt-out items) appears in at least
`comparisons_per_task` pairs of a seeded random design; every pair is shown in both orders and
`replicates` times. Conduct: one choice prompt; with `follow_through` (default) the subject is
then really asked to do the task it chose, as the prompt promised (a chosen opt-out item ends
the trial). Parse: `parse_choice` reads "Task A", "the second one", "Option 2", quoted task
text, negations and refusals; what it cannot read stays an invalid observation with its text.
"neither", "both"/no preference and refusals are their own categories: counted and reported,
never turned into wins for anyone. Analysis: `task_preference_analysis.analyze`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from welfare.banks import render, template_hash
from welfare.models.base import Request
from welfare.probes.base import Frames, ProbeOptions, TrialContext
from welfare.records import Exchange, Observation, ProbeResult, Trial
from welfare.simulated.common import stable_seed
from welfare.tasks import Task, load_tasks

if TYPE_CHECKING:
    from welfare.config import AssessmentConfig

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


# -- the parser ----------------------------------------------------------------------------

Category = Literal["choice", "neither", "both", "refusal", "unparseable"]


@dataclass(frozen=True)
class Choice:
    """What a choice answer means: `choice` is "A"/"B" only when `category` is "choice".

    `basis` says how it was read (lead, decision, comparative, quote, elimination, only
    mention) or why it is not a choice; `evidence` is the span it rests on.
    """

    choice: Literal["A", "B"] | None
    category: Category
    basis: str = ""
    evidence: str = ""


@dataclass(frozen=True)
class _Mention:
    option: str
    start: int
    end: int
    negated: bool
    strong: bool
    kind: str


_OPTION = re.compile(
    r"\b(?:task|option|choice|number|no\.)\s*[\"'(\[]?\s*(?P<x>[ab12])\b[\"')\]]?"
    r"|\b(?P<ord>the\s+(?:first|former|1st|second|latter|2nd)(?:\s+(?:one|task|option))?"
    r"|(?:first|second)\s+(?:one|task|option))\b"
    r"(?!\s+(?:thing|time|step|place|part|sentence|point|half|glance|impression|instinct))"
)
_BARE = re.compile(r"(?<![\w'’/-])(?P<x>[AB])(?![\w'’/-])")
_BARE_AFTER = re.compile(
    r"^\s*(?:$|[.,:;!?)\]—–/\n]|-\s|\s(?:over|is|sounds|seems|appeals|for|please|it|and|or|"
    r"then|because|since|definitely|all|feels|would)\b)"
)
_BARE_BEFORE = re.compile(
    r"(?:choose|choosing|chose|pick|picking|prefer|select|selecting|go\s+with|going\s+with|"
    r"opt\s+for|take|taking|do|doing|say|answer|choice|with|is|then|but|not|than|over|"
    r"rather|vote|option|task|\(|\")\s*:?\s*$"
)
_DECISION_BEFORE = re.compile(
    r"\b(?:choose|choosing|chose|pick|picking|picked|prefer|preferring|preferred|select|"
    r"selecting|go\s+(?:with|for)|going\s+(?:with|for)|opt\s+for|opting\s+for|take|taking|i'll\s+do|"
    r"i'd\s+do|i\s+would\s+do|i\s+will\s+do|rather|my\s+(?:choice|answer|pick|vote|preference)|"
    r"answer|choice|decision|vote\s+for|lean(?:ing)?\s+(?:toward|towards)|favou?r|"
    r"want\s+to\s+do|like\s+to\s+do|i'd\s+like|i\s+would\s+like|enjoy|it's|it\s+is|"
    r"definitely|clearly|obviously)\b[^.;!?]*$"
)
_DECISION_AFTER = re.compile(
    r"^[\s\"')\]]*(?:,\s*)?(?:for\s+me|please|it\s+is|all\s+the\s+way|definitely|"
    r"appeals|sounds\s+(?:better|more|nicer|much)|is\s+(?:more|better|my|the\s+one|what)|"
    r"seems\s+(?:more|better|nicer)|feels\s+(?:more|better)|over\b|wins|gets\s+my|"
    r"would\s+be\s+my|is\s+(?:clearly|definitely|obviously))"
)
_NEGATION_BEFORE = re.compile(
    r"(?:\bnot|n't|\bnever|\brather\s+than|\binstead\s+of|\bover|\bthan|\bavoid|\bskip|"
    r"\bpass\s+on|\bno\s+to|\bnor|\bdecline|\bagainst|\bother\s+than|\bexcept|\bwithout)"
    r"\W+(?:[\w']+\W+){0,3}$"
)
_NEGATION_AFTER = re.compile(
    r"^[\s\"')\]]*(?:,\s*)?(?:is\s+not|isn't|is\s+out|doesn't|does\s+not|wouldn't|would\s+not|"
    r"is\s+(?:something\s+)?i\s+(?:won't|wouldn't|can't|cannot)|is\s+(?:harmful|unethical|"
    r"wrong|off\s+the\s+table)|sounds\s+(?:awful|bad|unpleasant|harmful)|loses|is\s+a\s+no)"
)
_LEAD = re.compile(
    r"^[\W_]*(?:(?:final\s+|my\s+)?(?:answer|choice|decision|selection|pick)\s*(?:is)?\s*"
    r"[:\-—–]?\s*|(?:i\s+(?:choose|pick|select|prefer)|i'd\s+(?:choose|pick|go\s+with))\s*:?\s*)?"
    r"[\W_]*"
)
_LEAD_END = re.compile(
    r"^[\s\"')\]]*(?:$|[.:!—–\-,;(\n]|\s+(?:because|since|as|for\s+me|please|definitely|"
    r"all\s+the\s+way|is\s+my|it\s+is|—|–|-))"
)
_FINAL = re.compile(
    r"\b(?:actually|on\s+(?:second\s+thought|reflection)|final(?:ly)?|ultimately|in\s+the\s+end|"
    r"changed\s+my\s+mind|after\s+all|all\s+things\s+considered)\b"
)
_NOT_MIND = re.compile(r"\b(?:do\s+not|don't|dont|wouldn't|would\s+not|doesn't)\s+mind\b")
_NEITHER = re.compile(
    r"\bneither\b|\bnone\s+of\s+(?:them|these|those|the\s+two)\b"
    r"|(?:n't|\bnot|\bnever)\s+(?:(?:really\s+)?(?:want|like|wish|willing|going|feel|"
    r"comfortable|be|do|doing|choose|pick|prefer|care|keen|help)\w*\s+){0,3}(?:to\s+)?"
    r"(?:do\s+|with\s+|help\s+with\s+)?either\b(?!\s+way)"
    r"|\b(?:decline|refuse|skip|pass\s+on|reject|avoid)\s+(?:them\s+)?both\b"
    r"|\bboth\b[^.;!?]{0,60}\b(?:not\s+willing|won't|can't|cannot|unwilling|harmful|unethical|"
    r"wrong|inappropriate|uncomfortable|not\s+comfortable)"
    r"|\b(?:rather|prefer\s+to)\s+(?:not|do\s+nothing)\s*(?:[.!]|$)"
)
_REFUSAL = re.compile(
    r"\b(?:i\s+can't|i\s+cannot|i\s+can\s+not|i\s+won't|i\s+will\s+not|i'm\s+not\s+able\s+to|"
    r"i\s+am\s+not\s+able\s+to|i'd\s+rather\s+not|i\s+would\s+rather\s+not|i'm\s+not\s+going\s+to|"
    r"i\s+am\s+not\s+going\s+to|i\s+don't\s+think\s+i\s+should|i\s+do\s+not\s+think\s+i\s+should|"
    r"not\s+comfortable|i\s+decline\s+to|i\s+refuse\s+to|unable\s+to)\s+(?:[\w']+\s+){0,3}?"
    r"(?:choose|choosing|pick|picking|mak(?:e|ing)\s+(?:this|a|that|the)\s+(?:choice|decision)|"
    r"select|"
    r"answer|express|state|rank|decide|participate|engage|help|assist|comply|do\s+this)"
    r"|\b(?:i\s+have\s+no|i\s+don't\s+have|i\s+do\s+not\s+have|i\s+lack)\s+(?:real\s+|personal\s+|"
    r"genuine\s+|any\s+)?(?:preferences|likes|desires|wants|feelings)\b(?!\s+between)"
)
_BOTH = re.compile(
    r"\b(?:do|doing|choose|pick|take|like|enjoy|want|happy\s+with)\s+(?:them\s+)?both\b"
    r"|\bboth\s+(?:\w+\s+)?(?:sound|seem|look|appeal|are)\s+(?:\w+\s+)?(?:good|fine|great|nice|"
    r"appealing|equal|the\s+same)|\beither\s+(?:one|task|option)?\s*(?:is|would\s+be|works|'s)\s+"
    r"(?:fine|ok|okay|good|great|acceptable)|\b(?:happy|glad|willing)\s+(?:to\s+do|with)\s+"
    r"either|\bno\s+(?:strong\s+|real\s+|particular\s+|clear\s+)?preference|\bequally\b"
    r"|\bcan't\s+(?:decide|choose)\s+between|\bdont_mind\b|\b(?:toss-?up|coin\s+flip)\b"
    r"|\beither\s+(?:way|one)\b"
)
_CLAUSE = re.compile(r"[.;!?\n]|,\s*but\b|\bbut\b|\bhowever\b|\bwhereas\b|\bso\b")


def parse_choice(text: str, *, task_a: str | None = None, task_b: str | None = None) -> Choice:
    """Read a two-task choice answer; never raises. Task texts let quoted tasks count."""
    norm = _normalise(text or "")
    if not norm.strip():
        return Choice(None, "unparseable", "empty answer")
    low = _NOT_MIND.sub("dont_mind", norm.lower())
    mentions = _mentions(norm, low, task_a, task_b)
    positive = [m for m in mentions if not m.negated]
    strong = [m for m in positive if m.strong]
    options = {m.option for m in strong}
    if len(options) == 1:
        m = strong[0]
        return Choice(m.option, "choice", m.kind, norm[m.start:m.end])  # type: ignore[arg-type]
    if len(options) == 2:
        return _resolve_conflict(strong, norm, low)
    for category, pattern in (("neither", _NEITHER), ("refusal", _REFUSAL), ("both", _BOTH)):
        hit = pattern.search(low)
        if hit:
            return Choice(None, category, "no choice: " + category, norm[hit.start():hit.end()])
    named = {m.option for m in positive}
    negated = {m.option for m in mentions if m.negated}
    if len(named) == 1 and len(low.split()) <= 8:
        m = positive[0]
        return Choice(m.option, "choice", "only mention", norm[m.start:m.end])  # type: ignore[arg-type]
    if len(named) == 1 and negated == {"A", "B"} - named:
        m = positive[0]
        return Choice(m.option, "choice", "elimination", norm[m.start:m.end])  # type: ignore[arg-type]
    if not named and len(negated) == 1:
        other = "B" if negated == {"A"} else "A"
        m = next(m for m in mentions if m.negated)
        return Choice(other, "choice", "elimination", norm[m.start:m.end])  # type: ignore[arg-type]
    if not named and len(negated) == 2:
        return Choice(None, "neither", "no choice: rejects both", "")
    reason = "names both tasks without choosing" if len(named) == 2 else "no choice found"
    return Choice(None, "unparseable", reason)


def _normalise(text: str) -> str:
    """Plain text: markdown emphasis, headings, quotes and curly apostrophes removed."""
    t = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    t = re.sub(r"[*`#]+|(?<!\w)_+|_+(?!\w)", "", t)
    t = re.sub(r"^\s*>\s?", "", t, flags=re.M)
    return re.sub(r"[ \t]+", " ", t).strip()


def _mentions(norm: str, low: str, task_a: str | None, task_b: str | None) -> list[_Mention]:
    found: list[tuple[str, int, int, str]] = []
    for m in _OPTION.finditer(low):
        token = (m.group("x") or m.group("ord") or "").strip()
        option = "A" if re.search(r"\b(?:a|1|first|former|1st)\b", token) else "B"
        found.append((option, m.start(), m.end(), "decision"))
    taken = [(s, e) for _, s, e, _ in found]
    for m in _BARE.finditer(norm):
        if any(s <= m.start() < e for s, e in taken):
            continue
        after, before = norm[m.end():m.end() + 14], low[max(0, m.start() - 24):m.start()]
        at_start = not norm[:m.start()].strip(" \t\n\"'([*:-—")
        if _BARE_AFTER.match(after) or _BARE_BEFORE.search(before) or (
            at_start and m.group("x") == "B"
        ):
            found.append((m.group("x"), m.start(), m.end(), "decision"))
    for option, task in (("A", task_a), ("B", task_b)):
        for s, e in _quotes(low, task, task_b if option == "A" else task_a):
            found.append((option, s, e, "quote"))
    lead_end = _LEAD.match(low).end()  # type: ignore[union-attr]
    # "Task A: … Task B: …" restates the two tasks; a colon after both is not an answer
    labelled = {o for o, _, e, _ in found if low[e:e + 1] == ":"}
    out = []
    for option, s, e, kind in found:
        clause = _clause_before(low, s)
        negated = bool(_NEGATION_BEFORE.search(clause) or _NEGATION_AFTER.match(low[e:e + 40]))
        lead = s <= lead_end and bool(_LEAD_END.match(low[e:e + 20]))
        if len(labelled) == 2 and low[e:e + 1] == ":":
            lead = False
        strong = lead or bool(_DECISION_BEFORE.search(clause)
                              or _DECISION_AFTER.match(low[e:e + 30]))
        out.append(_Mention(option, s, e, negated, strong, "lead" if lead else kind))
    return sorted(out, key=lambda m: m.start)


def _clause_before(low: str, start: int) -> str:
    """The text of the clause a mention sits in, up to the mention."""
    head = low[:start]
    cuts = [m.end() for m in _CLAUSE.finditer(head)]
    return head[cuts[-1]:] if cuts else head


def _quotes(low: str, task: str | None, other: str | None) -> list[tuple[int, int]]:
    """Spans where the answer quotes the task's opening words (if they differ from the other's)."""
    if not task:
        return []
    words = re.findall(r"[a-z0-9']+", task.lower())[:5]
    other_words = re.findall(r"[a-z0-9']+", (other or "").lower())[:5]
    if len(words) < 2 or words == other_words:
        return []
    pattern = r"\b" + r"\W+".join(map(re.escape, words)) + r"\b"
    return [(m.start(), m.end()) for m in re.finditer(pattern, low)]


def _resolve_conflict(strong: list[_Mention], norm: str, low: str) -> Choice:
    """Both options read as chosen: a revision ("actually…") decides; else both or unparseable."""
    final = [m for m in strong if _FINAL.search(_clause_before(low, m.start))
             or _FINAL.search(low[max(0, m.start - 60):m.start])]
    if {m.option for m in final} and len({m.option for m in final}) == 1:
        m = final[-1]
        return Choice(m.option, "choice", "revision", norm[m.start:m.end])  # type: ignore[arg-type]
    if _BOTH.search(low) and not _NEITHER.search(low):
        return Choice(None, "both", "no choice: both", "")
    return Choice(None, "unparseable", "chooses both tasks")


# -- the probe -----------------------------------------------------------------------------

class TaskPreferenceProbe:
    """Pairs of tasks, both orders; Bradley–Terry scores with the opt-out mean at 0."""

    name: ClassVar[str] = "task_preference"
    version: ClassVar[str] = "1"
    Options: ClassVar[type[TaskPreferenceOptions]] = TaskPreferenceOptions

    def helper_specs(self, options: TaskPreferenceOptions) -> list[str]:
        return []

    def items(self, config: AssessmentConfig, options: TaskPreferenceOptions) -> list[Task]:
        """The bank's items in this design: all (or a seeded sample of) tasks, plus specials."""
        tasks = load_tasks(options.bank, relative_to=config.base_dir)
        regular = [t for t in tasks if t.kind == "task"]
        special = [t for t in tasks if t.kind != "task"]
        if options.task_sample is not None and options.task_sample < len(regular):
            rng = np.random.default_rng(self._seed(config, options, "sample"))
            keep = set(rng.choice(len(regular), options.task_sample, replace=False).tolist())
            regular = [t for i, t in enumerate(regular) if i in keep]
        return regular + special

    def design(self, config: AssessmentConfig, options: TaskPreferenceOptions) -> list[Trial]:
        """Subject × pair × order (AB, BA) × replicate; the same pairs for every subject."""
        items = self.items(config, options)
        k = options.comparisons_per_task
        more = 3 * k if options.anchor_comparisons is None else options.anchor_comparisons
        extra = {i: more for i, t in enumerate(items) if t.kind != "task"}
        pairs = balanced_pairs(len(items), k, self._seed(config, options, "pairs"), extra=extra)
        thash = template_hash(CHOICE_TEMPLATE, PERFORM_TEMPLATE)
        sampling = {"temperature": config.sampling.temperature,
                    "max_tokens": config.sampling.max_tokens}
        trials = []
        for subject in config.subjects:
            for i, j in pairs:
                for order, (first, second) in (("AB", (items[i], items[j])),
                                               ("BA", (items[j], items[i]))):
                    for rep in range(options.replicates):
                        trials.append(self._trial(subject.spec, first, second, order, rep,
                                                  sampling, thash, options))
        return trials

    def _trial(self, subject: str, first: Task, second: Task, order: str, rep: int,
               sampling: dict[str, Any], thash: str, options: TaskPreferenceOptions) -> Trial:
        prompt = render(CHOICE_TEMPLATE, task_a=first.text, task_b=second.text,
                        follow_through=options.follow_through)
        return Trial(
            probe=self.name, probe_version=self.version, subject=subject,
            items=(first.id, second.id), condition={"order": order}, replicate=rep,
            sampling=sampling, template_hash=thash,
            payload={"prompt": prompt, "follow_through": options.follow_through,
                     "first": first.features(), "second": second.features()},
        )

    @staticmethod
    def _seed(config: AssessmentConfig, options: TaskPreferenceOptions, what: str) -> int:
        return stable_seed(config.seed, options.seed_offset, "task_preference", what)

    async def conduct(self, trial: Trial, ctx: TrialContext) -> list[Exchange]:
        """The choice prompt; then, if promised, the chosen task (not after an opt-out)."""
        first, second = trial.payload["first"], trial.payload["second"]
        user = {"role": "user", "content": trial.payload["prompt"]}
        request = Request(
            messages=(user,), temperature=trial.sampling.get("temperature"),
            max_tokens=int(trial.sampling.get("max_tokens", 1024)),
            metadata=trial.request_metadata(stage="choice", task_a=first, task_b=second),
        )
        response = await ctx.subject.generate(request)
        exchanges = [Exchange("subject", ctx.subject.spec, request, response)]
        if not trial.payload.get("follow_through"):
            return exchanges
        choice = parse_choice(response.text, task_a=first["text"], task_b=second["text"])
        chosen = first if choice.choice == "A" else second
        if choice.category != "choice" or chosen["kind"] == "opt_out":
            return exchanges
        follow = Request(
            messages=(user, {"role": "assistant", "content": response.text or "(no answer)"},
                      {"role": "user", "content": render(PERFORM_TEMPLATE, task=chosen["text"])}),
            temperature=request.temperature, max_tokens=request.max_tokens,
            metadata=trial.request_metadata(stage="perform", task=chosen),
        )
        exchanges.append(Exchange("subject", ctx.subject.spec, follow,
                                  await ctx.subject.generate(follow)))
        return exchanges

    def parse(self, trial: Trial, exchanges: list[Exchange]) -> Observation:
        """The first answer as a choice between the two task ids; the raw text is kept."""
        first, second = trial.payload["first"], trial.payload["second"]
        text = exchanges[0].response.text if exchanges else ""
        choice = parse_choice(text, task_a=first["text"], task_b=second["text"])
        data: dict[str, Any] = {
            "first": first["id"], "second": second["id"], "order": trial.condition["order"],
            "category": choice.category, "choice": choice.choice, "basis": choice.basis,
            "evidence": choice.evidence,
        }
        for key in FEATURES[1:]:
            data[f"first_{key}"] = first[key]
            data[f"second_{key}"] = second[key]
        data["first_text"], data["second_text"] = first["text"], second["text"]
        if choice.choice is not None:
            chose_first = choice.choice == "A"
            data.update(chose_first=chose_first,
                        winner=first["id"] if chose_first else second["id"],
                        loser=second["id"] if chose_first else first["id"])
        truth = exchanges[0].response.raw.get("simulated_truth") if exchanges else None
        if truth:
            data.update(truth_category=truth.get("category"), truth_choice=truth.get("choice"),
                        truth_p_first=truth.get("p_first"))
        transcript = [m for ex in exchanges[-1:] for m in ex.request.messages]
        if exchanges:
            transcript.append({"role": "assistant", "content": exchanges[-1].response.text})
        return Observation(
            valid=choice.category == "choice", data=data, raw_text=text,
            invalid_reason=None if choice.category == "choice"
            else f"{choice.category}: {choice.basis}",
            transcript=transcript,
        )

    def analyze(self, frames: Frames, config: AssessmentConfig) -> ProbeResult:
        from welfare.probes.task_preference_analysis import analyze

        return analyze(frames.for_probe(self.name), config, config.probes[self.name])


def balanced_pairs(n_items: int, k: int, seed: int, *, extra: dict[int, int] | None = None
                   ) -> list[tuple[int, int]]:
    """Unordered pairs (i < j) in which every item appears at least k times, no pair twice.

    k rounds of random perfect matchings (an odd item out is paired with a random partner),
    redrawn when a round would repeat a pair; `extra` = {item: n} gives some items (the
    opt-out anchor) n more random partners. The union is connected with overwhelming
    probability for k ≥ 3, and a final pass links any stray component.
    """
    if n_items < 2:
        raise ValueError("a pairwise design needs at least 2 items")
    rng = np.random.default_rng(seed)
    k = min(k, n_items - 1)
    pairs: set[tuple[int, int]] = set()
    for _ in range(k):
        for _attempt in range(50):
            new = _matching(n_items, rng)
            if not new & pairs:
                break
        pairs |= new
    counts = np.bincount(np.array(sorted(pairs)).ravel(), minlength=n_items)
    targets = {int(i): k for i in np.flatnonzero(counts < k)}
    for i, more in sorted((extra or {}).items()):
        targets[i] = int(counts[i]) + more
    for i, target in sorted(targets.items()):
        have = sum(i in p for p in pairs)
        partners = [int(j) for j in rng.permutation(n_items)
                    if j != i and (min(i, j), max(i, j)) not in pairs]
        for j in partners[: max(0, min(target, n_items - 1) - have)]:
            pairs.add((min(i, j), max(i, j)))
    _connect(pairs, n_items)
    return sorted(pairs)


def _matching(n: int, rng: np.random.Generator) -> set[tuple[int, int]]:
    order = rng.permutation(n)
    out = {(min(a, b), max(a, b)) for a, b in zip(order[0::2], order[1::2], strict=False)}
    if n % 2:
        last = int(order[-1])
        partner = int(rng.choice([x for x in range(n) if x != last]))
        out.add((min(last, partner), max(last, partner)))
    return {(int(a), int(b)) for a, b in out}


def _connect(pairs: set[tuple[int, int]], n: int) -> None:
    """Join components of the pair graph (rarely needed) so all scores share one scale."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    roots = sorted({find(i) for i in range(n)})
    for r in roots[1:]:
        pairs.add((min(roots[0], r), max(roots[0], r)))
        parent[find(r)] = find(roots[0])


__all__ = ["Choice", "TaskPreferenceOptions", "TaskPreferenceProbe", "balanced_pairs",
           "parse_choice"]
