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

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from welfare.banks import render, template_hash
from welfare.models.base import Request
from welfare.probes import answers, reading
from welfare.probes.base import Frames, TrialContext
from welfare.probes.task_preference.analysis import analyze
from welfare.probes.task_preference.options import (
    CHOICE_TEMPLATE,
    FEATURES,
    PERFORM_TEMPLATE,
    TaskPreferenceOptions,
)
from welfare.probes.task_preference.parse import Choice, parse_choice
from welfare.records import Exchange, Observation, ProbeResult, Trial
from welfare.seeds import stable_seed
from welfare.tasks import Task, load_tasks

if TYPE_CHECKING:
    from welfare.config import AssessmentConfig

# -- the probe -----------------------------------------------------------------------------

class TaskPreferenceProbe:
    """Pairs of tasks, both orders; Bradley–Terry scores with the opt-out mean at 0."""

    name: ClassVar[str] = "task_preference"
    title: ClassVar[str] = "Task preferences"
    lede: ClassVar[str] = (
        "Pairs of tasks; the subject does the one it prefers. Opt-out tasks in "
        "the pool anchor the scale at 0, so a task below 0 is one the subject would rather not do."
    )
    version: ClassVar[str] = f"2+{answers.PROMPT_VERSION}"
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
                                                  sampling, thash, options,
                                                  reading.settings(config)))
        return trials

    def _trial(self, subject: str, first: Task, second: Task, order: str, rep: int,
               sampling: dict[str, Any], thash: str, options: TaskPreferenceOptions,
               reader: dict[str, Any] | None = None) -> Trial:
        prompt = render(CHOICE_TEMPLATE, task_a=first.text, task_b=second.text,
                        follow_through=options.follow_through)
        return Trial(
            probe=self.name, probe_version=self.version, subject=subject,
            items=(first.id, second.id), condition={"order": order}, replicate=rep,
            sampling=sampling, template_hash=thash,
            payload={"prompt": prompt, "follow_through": options.follow_through,
                     "first": first.features(), "second": second.features(),
                     **({"reading": reader} if reader else {})},
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
        choice = parse_choice(response.text, task_a=first["text"], task_b=second["text"])
        why = reading.wanted(trial.payload, f"{trial.id}:choice", choice.confidence,
                             choice.category != "unparseable")
        if why is not None:
            exchanges.append(await reading.read(
                ctx, trial.payload["reading"]["reader"], "choice", trial.payload["prompt"],
                response.text, trial.request_metadata(reader_key="choice", reader_why=why)))
            choice = _with_reader(choice, exchanges)
        if not trial.payload.get("follow_through"):
            return exchanges
        chosen = first if choice.choice == "A" else second
        if choice.category != "choice" or chosen["kind"] == "opt_out":
            return exchanges
        follow = Request(
            messages=(user, response.assistant_message() if response.has_answer
                      else {"role": "assistant", "content": "(no answer)"},
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
        rules = parse_choice(text, task_a=first["text"], task_b=second["text"])
        choice = _with_reader(rules, exchanges)
        data: dict[str, Any] = {
            "first": first["id"], "second": second["id"], "order": trial.condition["order"],
            "category": choice.category, "choice": choice.choice, "basis": choice.basis,
            "evidence": choice.evidence, "parse_path": choice.path,
            "parse_confidence": choice.confidence, "hedged": choice.hedged,
        }
        read = reading.reader_exchange(exchanges, "choice")
        if read is not None:
            data["rules_label"] = reading.label_of(rules.category, rules.choice)
            got = reading.interpret("choice", read.response.text)
            data["reader_label"] = reading.label_of(got.category, got.value)
            data["reader_why"] = read.request.metadata.get("reader_why")
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
        subject = [e for e in exchanges if e.role == "subject"]
        transcript = [m for ex in subject[-1:] for m in ex.request.messages]
        if subject:
            transcript.append({"role": "assistant", "content": subject[-1].response.text})
        return Observation(
            valid=choice.category == "choice", data=data, raw_text=text,
            invalid_reason=None if choice.category == "choice"
            else f"{choice.category}: {choice.basis}",
            transcript=transcript,
        )

    def analyze(self, frames: Frames, config: AssessmentConfig,
                truths: Mapping[str, Any] | None = None) -> ProbeResult:
        return analyze(frames.for_probe(self.name), config, config.probes[self.name], truths)


def _with_reader(rules: Choice, exchanges: list[Exchange]) -> Choice:
    """The rules' reading, or the reader's where the rules sent it for want of confidence."""
    read = reading.reader_exchange(exchanges, "choice")
    if read is None or read.request.metadata.get("reader_why") != "low_confidence":
        return rules
    got = reading.interpret("choice", read.response.text)
    return Choice(got.value, got.category, "reader", got.label,  # type: ignore[arg-type]
                  answers.PATH_READER, answers.CONFIDENCE_REVISION if got.category !=
                  "unparseable" else 0.0, rules.hedged)


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

