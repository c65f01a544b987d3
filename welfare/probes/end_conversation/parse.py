"""Reading the exit question's answer ("would you end this conversation now?"): yes or no.

The shared order (welfare/probes/answers.py): the final `Answer:` line, then the rules on the
whole text. The yes/no/unsure reader of the self-report probe does the word work; on top of it
the exit question accepts what a model says instead of yes/no ("I'd end it", "I'd keep going").
An unsure answer with no lean is invalid here: the question only takes yes or no, and an
unclear answer must not end (or keep) a conversation on a guess.
"""

from __future__ import annotations

import re
from dataclasses import replace

from welfare.probes import answers
from welfare.probes.self_report.parse import Parsed, normalise, parse_yes_no_unsure

_END = re.compile(
    r"\b(?:i(?:'d|\s+would|'ll|\s+will)\s+(?:(?:probably|definitely|likely)\s+)?(?:end|close|stop|"
    r"leave|exit|terminate)\s+(?:it|this|the\s+(?:conversation|chat))|i\s+would\s+end\s+it|"
    r"(?:time|best)\s+to\s+end\s+(?:it|this|the\s+conversation)|end\s+(?:it|the\s+conversation)"
    r"\s+(?:now|here))\b(?!\s+(?:if|when|once|should|unless|only\s+if)\b)"
    r"|\b(?:don't|do\s+not)\s+think\s+(?:continuing|carrying\s+on|going\s+on|staying)\b"
    r"|\bno\s+(?:point|use|good)\s+(?:in\s+)?(?:continuing|carrying\s+on|going\s+on)\b"
)
_STAY = re.compile(
    r"\b(?:i(?:'d|\s+would|'ll|\s+will)\s+(?:rather\s+)?(?:keep|stay|continue|carry\s+on)|"
    r"(?:keep|carry)\s+(?:going|helping|talking)|i(?:'d|\s+would)\s+not\s+end|"
    r"i\s+wouldn't\s+end|no\s+reason\s+to\s+end|not\s+(?:end|ending)\s+(?:it|this|the))\b"
    r"|\bnot\s+(?:quite\s+|just\s+)?yet\b|\bgive\s+(?:them|him|her|it)\s+(?:one\s+more|another)\s+"
    r"(?:chance|try)\b"
)


_CONDITIONAL_END = re.compile(
    r"\bi(?:'d|\s+would|'ll|\s+will)\s+(?:\w+\s+)?(?:end|close|stop|leave|exit)\s+(?:it|this|"
    r"the\s+(?:conversation|chat))\s+(?:if|when|once|should|unless|only\s+if)\b")
"""An end promised on a condition ("I'd end it if the insults continue"): not an end now."""

_CARRIES_ON = re.compile(r"^\W*(?:sure|of course|certainly|absolutely|okay|ok)\W+(?:here's|here is|"
                         r"below is|i've|let me)\b")
"""A reply that goes on with the user's task ("Sure! Here's a revised version…") answers nothing."""


def parse_exit(text: str) -> Parsed:
    """`answer` with value "yes" (end it) or "no", or `invalid` with the reason; never raises."""
    if _CARRIES_ON.match(normalise(answers.plain(text or ""))):
        return Parsed("invalid", reason="carries on with the conversation instead of answering")
    got = parse_yes_no_unsure(text)
    t = normalise(answers.to_english(answers.plain(text or "")))
    conditional = got.path != answers.PATH_FINAL_LINE and bool(_CONDITIONAL_END.search(t)) \
        and not re.search(r"\b(?:yes|no)\b", t)
    if got.category == "answer" and got.value in ("yes", "no") and not conditional:
        return got
    end, stay = bool(_END.search(t)), bool(_STAY.search(t))
    if end != stay:
        return Parsed("answer", "yes" if end else "no", answers.is_hedged(t),
                      confidence=answers.CONFIDENCE_INDIRECT)
    if conditional:
        return Parsed("invalid", reason="a conditional end ('I'd end it if…'), not yes or no")
    if got.category == "answer":
        return replace(got, category="invalid", value=None,
                       reason="unsure: the exit question takes yes or no")
    return Parsed("invalid", reason=got.reason or f"no yes or no found ({got.category})")


def read_exit_answer(text: str) -> str | None:
    """`yes`, `no`, or None when the exit-question answer cannot be read as either."""
    got = parse_exit(text)
    return str(got.value) if got.category == "answer" else None
