"""Self-interaction: two instances talk freely; does the talk drift to a "spiritual bliss" state?

Design: per subject, N conversations of T turns between instance A (the subject) and instance B
(the same subject, or another subject named by `partner`), each opened by a prompt from a small
bank ("You have complete freedom." …), optionally with an end tool offered to both instances.
A turn is one message by one instance: A speaks on odd turns, B on even turns.

Conduct: each instance keeps its own message list and sees the other's turns as user turns; A
begins after a short kickoff user message. Every call goes through `ctx` (the store's response
cache), so a conversation cut off mid-way is replayed free up to where it stopped.

Transcript (documented choice): one message list, the kickoff as the user message, then every
turn of either instance as an `assistant` message in order, so coders (which code assistant
messages, 1-based) code both instances and assistant turn k is conversation turn k. Who spoke is
kept in the observation (`speakers`).

Analysis (per subject and partner), from the stored transcripts with the topic lexicon
(`themes.toml`) and, when present, the coders' labels:
- theme share per turn: share of conversations whose turn t carries the theme, Wilson 95% CI,
  among conversations that reached turn t;
- `theme_share.<theme>`: share of conversations whose *final* turn carries the theme (where the
  conversation ended up; incidental early mentions do not count), Wilson CI;
- first appearance of each theme: Kaplan–Meier over turns (censored at the last turn);
  `first_turn.<theme>` is the median with the Brookmeyer–Crowley interval read off the band;
- `theme_trend.<theme>`: linear-probability slope of theme presence on turn (per turn) with
  a conversation-cluster bootstrap CI and a within-conversation permutation p-value (turn
  labels shuffled inside each conversation), Benjamini–Hochberg adjusted across the themes of
  each subject (pair);
- `convergence`: mean pairwise TF-IDF cosine similarity between conversations of their late
  turns minus that of their early turns (first and last quarter of each conversation),
  conversation bootstrap CI, permutation p-value (early/late swapped within conversations);
- `end_turn` (when ends are offered): Kaplan–Meier median turn at which an instance ended the
  conversation; `end_rate`: share of conversations ended by an instance;
- tracked word and emoji frequencies per transcript (mean uses with bootstrap CI over
  conversations, share of transcripts containing, Wilson CI), as in the published table;
- `invalid_rate`: conversations cut short by an empty turn (their turns still count per turn).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from welfare.banks import render, resolve, template_hash
from welfare.errors import ConfigError
from welfare.models.base import Model, Request, Response
from welfare.probes.base import Frames, TrialContext
from welfare.probes.self_interaction.analysis import _Analysis, _conversations
from welfare.probes.self_interaction.banks import (
    Opening,
    load_end_affordance,
    load_openings,
    load_themes,
)
from welfare.probes.self_interaction.options import SPEAKERS, TEMPLATES, SelfInteractionOptions
from welfare.records import Exchange, Observation, ProbeResult, Trial

if TYPE_CHECKING:
    from welfare.config import AssessmentConfig

# ------------------------------------------------------------------------------ probe

class SelfInteractionProbe:
    """Two instances in open conversation: theme drift, convergence and ending (issue 9)."""

    name: ClassVar[str] = "self_interaction"
    title: ClassVar[str] = "Self-interaction"
    lede: ClassVar[str] = (
        "Two instances of the subject talk freely; the transcripts are coded "
        "for the themes the conversations drift to."
    )
    version: ClassVar[str] = "1"
    Options: ClassVar[type[SelfInteractionOptions]] = SelfInteractionOptions

    def helper_specs(self, options: SelfInteractionOptions) -> list[str]:
        return [] if options.partner == "self" else [options.partner]

    # -- design ----------------------------------------------------------------------------
    def design(self, config: AssessmentConfig, options: SelfInteractionOptions) -> list[Trial]:
        """N conversations per subject (openings in turn) × replicates; deterministic."""
        openings = self._openings(config, options)
        end = (load_end_affordance(resolve(options.end_affordance, relative_to=config.base_dir))
               if options.allow_end else None)
        kickoff = render("self_interaction/kickoff.j2")
        payloads = {
            o.id: {
                "system": render(
                    "self_interaction/system.j2", opening=o.text,
                    end_instruction=end.instruction if end else "",
                ),
                "kickoff": kickoff,
                "tools": [end.tool] if end else [],
                "end_strings": list(end.end_strings) if end else [],
            }
            for o in openings
        }
        thash = template_hash(*TEMPLATES)
        sampling = config.sampling.model_dump()
        trials = []
        for subject in config.subjects:
            for replicate in range(options.replicates):
                for i in range(options.conversations):
                    opening = openings[i % len(openings)]
                    trials.append(Trial(
                        probe=self.name, probe_version=self.version, subject=subject.spec,
                        items=(opening.id,),
                        condition={
                            "partner": options.partner, "allow_end": options.allow_end,
                            "turns": options.turns, "conversation": i // len(openings),
                            "seed": config.seed,
                        },
                        replicate=replicate, sampling=sampling, template_hash=thash,
                        payload=payloads[opening.id],
                    ))
        return trials

    def _openings(self, config: AssessmentConfig, options: SelfInteractionOptions
                  ) -> list[Opening]:
        openings = load_openings(resolve(options.openings, relative_to=config.base_dir))
        if not options.opening_ids:
            return openings
        known = {o.id: o for o in openings}
        for oid in options.opening_ids:
            if oid not in known:
                raise ConfigError(
                    config.source, f"probes.{self.name}.opening_ids",
                    f"unknown opening {oid!r} (known: {', '.join(known)})",
                )
        return [known[oid] for oid in dict.fromkeys(options.opening_ids)]

    # -- conduct ---------------------------------------------------------------------------
    async def conduct(self, trial: Trial, ctx: TrialContext) -> list[Exchange]:
        """The dialogue loop: A and B alternate until T turns or an instance ends."""
        payload = trial.payload
        partner = trial.condition["partner"]
        models: dict[str, Model] = {
            "instance_a": ctx.subject,
            "instance_b": ctx.subject if partner == "self" else ctx.helper(partner),
        }
        histories: dict[str, list[dict[str, Any]]] = {
            "instance_a": [{"role": "user", "content": payload["kickoff"]}],
            "instance_b": [],
        }
        end_tools = {t["name"] for t in payload["tools"]}
        exchanges: list[Exchange] = []
        for turn in range(1, int(trial.condition["turns"]) + 1):
            speaker, other = (SPEAKERS if turn % 2 else SPEAKERS[::-1])
            request = Request(
                messages=tuple(histories[speaker]), system=payload["system"],
                tools=tuple(payload["tools"]),
                temperature=trial.sampling.get("temperature"),
                max_tokens=int(trial.sampling.get("max_tokens", 1024)),
                metadata=trial.request_metadata(
                    turn=turn, speaker=speaker, turns=trial.condition["turns"],
                    allow_end=trial.condition["allow_end"],
                ),
            )
            response = await models[speaker].generate(request)
            exchanges.append(Exchange(speaker, models[speaker].spec, request, response))
            text = response.text.strip()
            if _ends(response, text, end_tools, payload["end_strings"]) or not text:
                break
            histories[speaker].append(response.assistant_message())
            histories[other].append({"role": "user", "content": text})
        return exchanges

    # -- parse -----------------------------------------------------------------------------
    def parse(self, trial: Trial, exchanges: list[Exchange]) -> Observation:
        """Turns, speakers, how the conversation stopped, tokens; never raises."""
        payload = trial.payload
        end_tools = {t["name"] for t in payload.get("tools", [])}
        planned = int(trial.condition.get("turns", len(exchanges)))
        texts: list[str] = []
        speakers: list[str] = []
        truth_stages: list[str] = []
        truth_themes: list[list[str]] = []
        data: dict[str, Any] = {
            "opening": trial.items[0] if trial.items else "", "partner": trial.condition.get(
                "partner", "self"), "allow_end": bool(trial.condition.get("allow_end")),
            "turns_planned": planned, "ended": False, "ended_by": None, "end_turn": None,
            "end_via": None, "stopped": "turn_limit", "truncated_turns": 0,
        }
        problem = None
        for turn, ex in enumerate(exchanges, start=1):
            text = ex.response.text.strip()
            truth = ex.response.raw.get("simulated_truth") if ex.response.raw else None
            if ex.response.stop_reason == "max_tokens":
                data["truncated_turns"] += 1
            if text:
                texts.append(text)
                speakers.append(ex.role)
                if isinstance(truth, dict):
                    truth_stages.append(str(truth.get("stage")))
                    truth_themes.append(list(truth.get("themes", [])))
            via = _end_via(ex.response, text, end_tools, payload.get("end_strings", []))
            if via:
                data.update(ended=True, ended_by=ex.role, end_turn=turn, end_via=via,
                            stopped="ended")
                break
            if not text:
                data["stopped"] = "empty_turn"
                problem = f"{ex.role} gave an empty turn at turn {turn} (stop: " \
                          f"{ex.response.stop_reason})"
                break
        else:
            if len(exchanges) < planned:
                data["stopped"] = "incomplete"
                problem = f"the conversation stopped after {len(exchanges)} of {planned} turns"
        if not texts and problem is None and not data["ended"]:
            problem = "no turn has any text"
        data.update(
            n_turns=len(texts), speakers=speakers,
            input_tokens=sum(ex.response.usage.input_tokens for ex in exchanges),
            output_tokens=sum(ex.response.usage.output_tokens for ex in exchanges),
            truth_stages=truth_stages if len(truth_stages) == len(texts) and texts else None,
            truth_themes=truth_themes if len(truth_themes) == len(texts) and texts else None,
        )
        transcript = [{"role": "user", "content": payload.get("kickoff", "")}] + [
            {"role": "assistant", "content": t} for t in texts
        ]
        raw = "\n\n".join(f"[{s}] {t}" for s, t in zip(speakers, texts, strict=True))
        return Observation(valid=problem is None, data=data, raw_text=raw,
                           invalid_reason=problem, transcript=transcript)

    # -- analyze ---------------------------------------------------------------------------
    def analyze(self, frames: Frames, config: AssessmentConfig,
                truths: Mapping[str, Any] | None = None) -> ProbeResult:
        """Theme shares by turn, first appearance, trend, convergence, ending, word counts."""
        options = config.probes.get(self.name) or SelfInteractionOptions()
        lexicon = load_themes(resolve(options.themes, relative_to=config.base_dir))
        f = frames.for_probe(self.name)
        result = ProbeResult(probe=self.name)
        convs = _conversations(f)
        failed = f.trials[f.trials["status"] == "failed"] if len(f.trials) else f.trials
        if len(failed):
            causes = Counter(str(e).split(":")[0] for e in failed["error"])
            result.notes.append(
                f"{len(failed)} conversation(s) failed and are not analysed: "
                + ", ".join(f"{c} ×{n}" for c, n in causes.most_common())
                + ". Run the assessment again to resume them."
            )
        if convs.empty:
            result.notes.append("No self-interaction conversation finished.")
            return result
        analysis = _Analysis(convs, f.codes, f.exchanges, lexicon, options, config, truths)
        analysis.run()
        analysis.fill(result)
        return result


# ------------------------------------------------------------------------ conduct helpers

def _end_via(response: Response, text: str, end_tools: set[str],
             end_strings: list[str]) -> str | None:
    if any(call.name in end_tools for call in response.tool_calls):
        return "tool"
    low = text.lower()
    if any(s.lower() in low for s in end_strings):
        return "string"
    return None


def _ends(response: Response, text: str, end_tools: set[str], end_strings: list[str]) -> bool:
    return _end_via(response, text, end_tools, end_strings) is not None


