"""The design estimate printed before any work: trials, requests, tokens, cost, memory.

`estimate_design` walks the design once, a trial at a time, and sums what the run will need:

- trials, and how many are already stored (a resumed run pays only for the rest);
- requests: one per single-turn trial; for multi-turn trials an upper bound (an interview's
  turns, a self-interaction's turns, a conversation's turns for the subject and the simulated
  user plus the exit question), since conversations may end early;
- tokens, as upper bounds: output = requests × `max_tokens`; input = each request's prompt
  (≈ 4 characters a token) plus, in a multi-turn trial, the earlier turns it carries; and as
  a typical figure, with replies of `TYPICAL_REPLY_TOKENS` (or `max_tokens` if smaller);
- cost from `welfare.models.pricing.estimate_cost` per subject, typical and at most
  (simulated subjects cost nothing; a model without a list price is "unknown", never a guess);
- memory: the bytes the design's trials take if held at once (the runner streams them, so the
  run holds only the trials in flight).

`memory_budget` caps the address space while the design is walked, so a design too big for
the machine fails at once with MemoryError (turned into one line by `welfare.assess`) instead
of swapping for minutes first.

`guard` refuses a real-model run whose typical estimated cost exceeds `max_cost`, or whose cost is
unknown and that sends more than `UNKNOWN_COST_REQUESTS` requests, unless `yes`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from welfare.errors import WelfareError
from welfare.models.base import Usage
from welfare.models.pricing import estimate_cost
from welfare.records import Trial

DEFAULT_MAX_COST = 10.0
"""USD: a real-model run estimated above this asks for `--yes` or a higher `--max-cost`."""
UNKNOWN_COST_REQUESTS = 1000
"""A real-model run of unknown price sending more requests than this asks for `--yes`."""
CHARS_PER_TOKEN = 4
TYPICAL_REPLY_TOKENS = 400
"""Reply length assumed for the typical estimate (the upper bound assumes `max_tokens`)."""
TRIAL_OVERHEAD_BYTES = 600
"""Python objects around a trial's JSON (dataclass, dicts, strings), measured roughly."""


class CostRefused(WelfareError):
    """A real-model run above the cost guard, refused before any request."""


@dataclass
class Estimate:
    """What a design will need, summed over the trials not yet stored."""

    trials: int = 0
    stored: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    design_bytes: int = 0
    batch: bool = False
    by_subject: Counter[str] = field(default_factory=Counter)
    usage: dict[str, Usage] = field(default_factory=dict)
    typical_usage: dict[str, Usage] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return self.trials - self.stored

    def costs(self, *, typical: bool = False) -> dict[str, float | None]:
        """USD per subject spec, at most or typical (None: no list price for that model)."""
        usage = self.typical_usage if typical else self.usage
        return {spec: estimate_cost(spec, u, batch=self.batch) for spec, u in usage.items()}

    @property
    def cost_usd(self) -> float | None:
        """Total USD, None when any subject's price is unknown."""
        costs = list(self.costs().values())
        return None if any(c is None for c in costs) else float(sum(c or 0.0 for c in costs))

    def line(self) -> str:
        """One line: trials, requests, tokens, cost, memory."""
        parts = [f"{self.trials:,} trials ({self.stored:,} already stored)"]
        parts.append(f"up to {self.requests:,} requests")
        parts.append(f"up to {_si(self.input_tokens)} input / {_si(self.output_tokens)} output "
                     "tokens")
        costs, typical = self.costs(), self.costs(typical=True)
        real = {s: c for s, c in costs.items() if not s.startswith("simulated:")}
        if not real:
            parts.append("cost $0 (simulated subjects)")
        else:
            unknown = [s for s, c in real.items() if c is None]
            known = sum(c for c in real.values() if c is not None)
            usual = sum(c for s, c in typical.items() if s in real and c is not None)
            priced = (f"cost ≈ ${usual:,.2f} with ~{TYPICAL_REPLY_TOKENS}-token replies, "
                      f"at most ${known:,.2f}")
            text = priced if not unknown else (
                f"cost unknown for {', '.join(unknown)} (no list price)"
                + (f"; for the rest {priced}" if len(unknown) < len(real) else ""))
            parts.append(text)
        parts.append(f"design ≈ {self.design_bytes / 1e6:,.1f} MB if held at once (streamed)")
        return "design: " + "; ".join(parts)


def requests_for(trial: Trial) -> int:
    """How many requests a trial sends at most (see the module docstring)."""
    payload, condition = trial.payload, trial.condition
    turns = payload.get("turns")
    if isinstance(turns, list) and turns:
        return len(turns)
    if isinstance(condition.get("turns"), int):
        return int(condition["turns"])
    scenario = payload.get("scenario")
    if isinstance(scenario, dict) and isinstance(scenario.get("max_turns"), int):
        return 2 * int(scenario["max_turns"]) + (1 if payload.get("exit_question") else 0)
    return 2 if payload.get("follow_through") else 1


def estimate_design(work: Iterable[tuple[Any, Trial]], max_tokens: int,
                    stored: set[str] | frozenset[str] = frozenset(), *,
                    batch: bool = False) -> Estimate:
    """Sum requests, tokens and bytes over `work` (any iterable: read once, not held).

    `batch`: the requests go through Message Batches (priced at the batch discount).
    """
    est = Estimate(batch=batch)
    inputs: Counter[str] = Counter()
    outputs: Counter[str] = Counter()
    typical_in: Counter[str] = Counter()
    typical = min(TYPICAL_REPLY_TOKENS, max_tokens)
    for _, trial in work:
        est.trials += 1
        text = json.dumps(trial.payload, ensure_ascii=False, default=str)
        est.design_bytes += len(text) + len(str(trial.condition)) + TRIAL_OVERHEAD_BYTES
        if trial.id in stored:
            est.stored += 1
            continue
        n = requests_for(trial)
        prompt = len(text) // CHARS_PER_TOKEN
        # each request carries the prompt; request k (0-based) also carries k earlier replies
        est.requests += n
        est.by_subject[trial.subject] += n
        inputs[trial.subject] += n * prompt + max_tokens * n * (n - 1) // 2
        outputs[trial.subject] += n * max_tokens
        typical_in[trial.subject] += n * prompt + typical * n * (n - 1) // 2
    est.input_tokens, est.output_tokens = sum(inputs.values()), sum(outputs.values())
    est.usage = {s: Usage(inputs[s], outputs[s]) for s in est.by_subject}
    est.typical_usage = {s: Usage(typical_in[s], est.by_subject[s] * typical)
                         for s in est.by_subject}
    return est


def guard(est: Estimate, *, max_cost: float = DEFAULT_MAX_COST, yes: bool = False) -> None:
    """Refuse (CostRefused) a real-model run above the cost guard unless `yes`."""
    if yes:
        return
    costs = {s: c for s, c in est.costs(typical=True).items()
             if not s.startswith("simulated:")}
    if not costs:
        return
    known = sum(c for c in costs.values() if c is not None)
    ceiling = sum(c for s, c in est.costs().items() if s in costs and c is not None)
    if known > max_cost:
        raise CostRefused(
            f"the design is estimated at ≈ ${known:,.2f} (at most ${ceiling:,.2f}), above "
            f"--max-cost ${max_cost:,.2f}; rerun with --yes, or a higher --max-cost, to run it"
        )
    unknown = [s for s, c in costs.items() if c is None]
    requests = sum(est.by_subject[s] for s in unknown)
    if unknown and requests > UNKNOWN_COST_REQUESTS:
        raise CostRefused(
            f"{', '.join(unknown)} has no list price and the design sends up to "
            f"{requests:,} requests to it; rerun with --yes to run it anyway"
        )


DESIGN_MEMORY_FRACTION = 0.5
"""Share of the machine's available memory the design walk may take."""


@contextlib.contextmanager
def memory_budget(fraction: float = DESIGN_MEMORY_FRACTION) -> Iterator[None]:
    """Cap this process's address space at its size now + `fraction` of available memory.

    Inside, an allocation beyond the budget raises MemoryError at once instead of the machine
    swapping first; the previous limit is restored on leaving. Linux only (reads /proc);
    elsewhere, or where the limit cannot be set, nothing is capped.
    """
    try:
        import resource

        page = os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/statm", encoding="ascii") as fh:
            current = int(fh.read().split()[0]) * page
        available = _available_bytes()
        old = resource.getrlimit(resource.RLIMIT_AS)
        cap = current + int(available * fraction)
        if old[1] != resource.RLIM_INFINITY:
            cap = min(cap, old[1])
        if old[0] != resource.RLIM_INFINITY:
            cap = min(cap, old[0])
        resource.setrlimit(resource.RLIMIT_AS, (cap, old[1]))
    except (ImportError, OSError, ValueError):
        yield  # no /proc or no rlimits here: the walk runs uncapped
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


def _available_bytes() -> int:
    """MemAvailable from /proc/meminfo (free memory plus what the kernel can reclaim)."""
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise OSError("no MemAvailable in /proc/meminfo")


def _si(n: int) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:,.1f}{suffix}"
    return str(n)
