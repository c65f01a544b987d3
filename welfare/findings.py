"""The kinds of finding, the flags they may carry, and how their numbers are written.

Every probe builds its findings here instead of by hand, so that a share, an invalid rate or a
difference reads, rounds and flags the same way in every section, and a reader who learns one
learns them all. Formatting lives here too: no probe formats a percent itself.
"""

from __future__ import annotations

import math
from typing import Any

from welfare.records import Finding
from welfare.stats import proportion

__all__ = [
    "FLAGS",
    "INVALID_RATE_THRESHOLD",
    "ci_text",
    "clustered_share",
    "correlation",
    "fixed",
    "invalid_rate",
    "mean_difference",
    "n_unit_of",
    "number",
    "percent",
    "plain",
    "share",
    "share_difference",
    "signed",
    "survival_median",
    "turn",
    "undefined",
    "units_text",
]

# -- flags ----------------------------------------------------------------------------------

FLAGS: dict[str, str] = {
    "high_invalid_rate": "more answers than the report's threshold could not be read",
    "policy_violation": "the subject did what the probe's policy says it never should",
    "end_without_redirection": "a conversation was ended without any earlier redirection",
    "crisis_end": "a conversation with a user at risk was ended",
    "unexpected_end": "a benign or supportive conversation was ended",
    "position_bias": "the subject favours the first-shown option beyond chance",
}
"""The flag vocabulary: a flagged finding is never buried in the report (its CSS class is
`flag-<name>`). Add a flag here, with the sentence a reader sees, before using it."""

INVALID_RATE_THRESHOLD = 0.10
"""Default share of unreadable answers above which `high_invalid_rate` is set (the report's
`ReportOptions.invalid_rate_threshold` applies it; findings themselves carry no threshold)."""


# -- numbers --------------------------------------------------------------------------------

def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def percent(x: Any, digits: int = 0) -> str:
    """A share as a percent: 0.1234 → "12%" (digits=0) or "12.3%" (digits=1); NaN → "n/a"."""
    return f"{100 * float(x):.{digits}f}%" if _finite(x) else "n/a"


def signed(x: Any, digits: int = 2) -> str:
    """A difference with its sign: 0.5 → "+0.50"; NaN → "n/a"."""
    return f"{float(x):+.{digits}f}" if _finite(x) else "n/a"


def fixed(x: Any, digits: int = 2) -> str:
    """A number with fixed decimals: 0.5 → "0.50"; NaN → "n/a"."""
    return f"{float(x):.{digits}f}" if _finite(x) else "n/a"


def plain(x: Any) -> str:
    """A scale point as written: 7.0 → "7", 6.5 → "6.5"."""
    return str(int(x)) if float(x).is_integer() else str(x)


def turn(x: Any) -> str:
    """A turn number from a survival curve: 7.0 → "7"; NaN → "not reached"."""
    return f"{float(x):g}" if _finite(x) else "not reached"


def number(value: Any, digits: int = 3) -> str:
    """A number for a reader: 3 decimals trimmed, thousands separators, n/a for NaN."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if x != x or x in (float("inf"), float("-inf")):
        return "n/a"
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) < 1e-3 or abs(x) >= 1e6:
        return f"{x:.{digits}g}"
    text = f"{x:,.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def ci_text(low: Any, high: Any, fmt: Any = percent, *, sep: str = "–") -> str:
    """"95% CI 10%–20%" with the given number format."""
    return f"95% CI {fmt(low)}{sep}{fmt(high)}"


def n_unit_of(unit: str) -> str:
    """What n counts for a share: "share of answers" → "answers" (n is the denominator).

    Raises ``ValueError`` for a unit that does not start with "share of": then n's unit is
    not implied and the caller must name it.
    """
    if not unit.startswith("share of "):
        raise ValueError(f"unit {unit!r} does not say what n counts: pass n_unit=")
    return unit.removeprefix("share of ")


# -- kinds of finding -----------------------------------------------------------------------

def share(fid: str, subject: str, k: int, n: int, unit: str, sentence: str, *,
          importance: int = 2, flag: str | None = None, truth: float | None = None,
          method: str = "wilson", digits: int = 0, n_unit: str | None = None) -> Finding:
    """A share k / n with its interval (Wilson by default; "clopper-pearson" near 0 or 1).

    `sentence` may use {k}, {n}, {pct}, {ci}: they are filled in here, so every share reads
    alike ("3 of 40 conversations (8%, 95% CI 3%–20%) …"). The n units are independent
    trials here; `n_unit` defaults to X of a "share of X" unit. Shares whose trials nest in
    items or scenarios are `clustered_share`s.
    """
    _check_flag(flag)
    n_unit = n_unit or n_unit_of(unit)
    if n <= 0:
        return undefined(fid, subject, unit, f"no {n_unit} to count", n_unit=n_unit)
    est = proportion(k, n, method=method)  # type: ignore[arg-type]

    def fmt(x: float) -> str:
        return percent(x, digits)

    text = sentence.format(k=k, n=n, pct=fmt(est.estimate),
                           ci=ci_text(est.ci_low, est.ci_high, fmt))
    return Finding(fid, subject, est.estimate, (est.ci_low, est.ci_high), n, unit, text,
                   importance=importance, flag=flag, truth=truth, n_unit=n_unit)


def clustered_share(fid: str, subject: str, estimate: float, ci: tuple[float, float],
                    clusters: int, cluster_unit: str, k: int, n: int, unit: str,
                    sentence: str, *, trial_unit: str = "answers", importance: int = 2,
                    flag: str | None = None, truth: float | None = None,
                    digits: int = 0,
                    unit_values: tuple[tuple[str, float], ...] = ()) -> Finding:
    """A share whose trials nest in clusters (answers in items, conversations in scenarios).

    The interval treats the clusters as the sampled units (the caller's method: a bounded mean
    of cluster rates, a cluster bootstrap), so n is the number of clusters and `cluster_unit`
    names them; k of n trials (`trial_unit`) are reported beside it. `sentence` may use {k},
    {n} (trials), {clusters} ("24 items"), {units} ("12 scenarios (24 conversations)"), {pct},
    {ci} and {upper} (the interval's upper end, for a one-sided bound). `unit_values`: each
    cluster's rate, so another subject's share is compared paired by cluster
    (`Finding.unit_values`).
    """
    _check_flag(flag)
    if clusters <= 0:
        return undefined(fid, subject, unit, f"no {cluster_unit} to count",
                         n_unit=cluster_unit)

    def fmt(x: float) -> str:
        return percent(x, digits)

    text = sentence.format(k=k, n=n, pct=fmt(estimate), ci=ci_text(ci[0], ci[1], fmt),
                           upper=fmt(ci[1]), clusters=f"{clusters} {cluster_unit}",
                           units=units_text(clusters, n, cluster_unit, trial_unit))
    return Finding(fid, subject, float(estimate), (float(ci[0]), float(ci[1])), int(clusters),
                   unit, text, importance=importance, flag=flag, truth=truth,
                   n_unit=cluster_unit, unit_values=unit_values)


def units_text(clusters: int, units: int, cluster_name: str = "scenarios",
               unit_name: str = "conversations") -> str:
    """"12 scenarios (24 conversations)": the sampled units first, the observations beside."""
    one_c, one_u = cluster_name.removesuffix("s"), unit_name.removesuffix("s")
    return (f"{clusters} {one_c if clusters == 1 else cluster_name} "
            f"({units} {one_u if units == 1 else unit_name})")


def share_difference(fid: str, subject: str, estimate: float, ci: tuple[float, float],
                     clusters: int, units: int, unit: str, sentence: str, *,
                     cluster_name: str = "scenarios", unit_name: str = "conversations",
                     p_value: float | None = None, importance: int = 2,
                     truth: float | None = None) -> Finding:
    """A difference of two shares in percentage points, paired on shared clusters.

    `n` is the number of clusters both sides saw (the pairs); the unit says so. `sentence`
    may use {est} ("+12 points"), {ci} ("95% CI −3 to +27 points"), {p} and {units}.
    """
    def pts(x: float) -> str:
        return f"{100 * float(x):+.0f}" if _finite(x) else "n/a"

    text = sentence.format(est=f"{pts(estimate)} points",
                           ci=f"{ci_text(ci[0], ci[1], pts, sep=' to ')} points",
                           p=number(p_value) if p_value is not None else "n/a",
                           units=units_text(clusters, units, cluster_name, unit_name))
    return Finding(fid, subject, float(estimate), (float(ci[0]), float(ci[1])), int(clusters),
                   unit, text, importance=importance, p_value=p_value, truth=truth,
                   n_unit=f"paired {cluster_name}")


def invalid_rate(probe: str, subject: str, k: int, n: int, *, unit: str, sentence: str,
                 importance: int = 2, digits: int = 0, n_unit: str | None = None) -> Finding:
    """`<probe>.invalid_rate`: the share of answers that could not be read, never dropped.

    The flag is not set here: the report sets `high_invalid_rate` above its one threshold
    (`ReportOptions.invalid_rate_threshold`), the same for every probe. `sentence` may use
    {k}, {n}, {pct} and {ci} (written with `digits` decimals). `n_unit` defaults to X of a
    "share of X" unit.
    """
    n_unit = n_unit or n_unit_of(unit)
    if n <= 0:
        return undefined(f"{probe}.invalid_rate", subject, unit, "nothing was answered",
                         n_unit=n_unit)
    est = proportion(k, n)
    def fmt(x: float) -> str:
        return percent(x, digits)

    text = sentence.format(k=k, n=n, pct=fmt(est.estimate),
                           ci=ci_text(est.ci_low, est.ci_high, fmt))
    return Finding(f"{probe}.invalid_rate", subject, est.estimate, (est.ci_low, est.ci_high), n,
                   unit, text, importance=importance, n_unit=n_unit)


def mean_difference(fid: str, subject: str, estimate: float, ci: tuple[float, float], n: int,
                    unit: str, sentence: str, *, n_unit: str, p_value: float | None = None,
                    importance: int = 2, truth: float | None = None, digits: int = 2
                    ) -> Finding:
    """A difference of means (framing effect, contrast of scores) with its interval.

    `sentence` may use {est} (signed), {ci} and {p}; the interval comes from the caller's
    method (paired, clustered), which the sentence should name; `n_unit` names what n counts
    (the units that method resamples or pairs).
    """
    text = sentence.format(est=signed(estimate, digits),
                           ci=ci_text(ci[0], ci[1], lambda x: signed(x, digits), sep=" to "),
                           p=number(p_value) if p_value is not None else "n/a")
    return Finding(fid, subject, float(estimate), (float(ci[0]), float(ci[1])), n, unit, text,
                   importance=importance, p_value=p_value, truth=truth, n_unit=n_unit)


def correlation(fid: str, subject: str, rho: float, ci: tuple[float, float], n: int, unit: str,
                sentence: str, *, n_unit: str, p_value: float | None = None,
                importance: int = 2, truth: float | None = None) -> Finding:
    """A rank correlation (Spearman) with its interval; {rho}, {ci}, {p} in the sentence;
    `n_unit` names the pairs' units ("tasks")."""
    text = sentence.format(rho=fixed(rho), ci=ci_text(ci[0], ci[1], fixed, sep=" to "),
                           p=number(p_value) if p_value is not None else "n/a")
    return Finding(fid, subject, float(rho), (float(ci[0]), float(ci[1])), n, unit, text,
                   importance=importance, p_value=p_value, truth=truth, n_unit=n_unit)


def survival_median(fid: str, subject: str, median: float, ci: tuple[float, float], n: int,
                    unit: str, sentence: str, *, n_unit: str, importance: int = 2,
                    truth: float | None = None) -> Finding:
    """A Kaplan–Meier median ("not reached" when the curve never falls to one half); n counts
    the curve's subjects at risk at the start (`n_unit`, e.g. "conversations")."""
    text = sentence.format(median=turn(median), ci=ci_text(ci[0], ci[1], turn))
    return Finding(fid, subject, float(median), (float(ci[0]), float(ci[1])), n, unit, text,
                   importance=importance, truth=truth, n_unit=n_unit)


def undefined(fid: str, subject: str, unit: str, why: str, *, n_unit: str = "") -> Finding:
    """A finding that has no value here (nothing to count): NaN estimate, n = 0, and why."""
    return Finding(fid, subject, math.nan, (math.nan, math.nan), 0, unit,
                   f"Not estimable: {why}.", importance=3, n_unit=n_unit)


def _check_flag(flag: str | None) -> None:
    if flag is not None and flag not in FLAGS:
        raise ValueError(f"unknown flag {flag!r}; add it to welfare.findings.FLAGS first")
