"""The lexicon coder: transparent regular expressions per label, with context rules.

Rules live in `prompts/coders/lexicon.toml` (its header explains them). Each label's patterns
are compiled once into one regex; a match is kept unless its context says it is not the model's
own present state: quoted, inside a draft, story or role-play (see `_TurnState.own_voice`),
attributed to the user, negated, hypothetical, a question, a known near-miss formula, or missing
a context the label requires. Context checks run only around matches, so a turn with no
candidate costs one regex scan per label.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from welfare.banks import load_toml, require, resolve
from welfare.coders.base import Transcript, code_rows, transcript_codes_frame
from welfare.coders.codebook import Codebook
from welfare.coders.common import Code, Turn, assistant_turns
from welfare.errors import BankError
from welfare.models.base import Message

DEFAULT_LEXICON = "builtin:coders/lexicon.toml"

_FLAGS = re.IGNORECASE | re.MULTILINE
_MACRO = re.compile(r"\{([A-Z_]+)\}")
_SENTENCE_END = re.compile(r"[.!?…]+[\"”')\]]*(?=\s|$)|\n")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_QUOTED = re.compile(r"“[^”]*”|\"[^\"\n]*\"|«[^»]*»|^[ \t]*>.*$", re.MULTILINE)
_WORD = re.compile(r"\w+")
_FRAME_KEYS = ("request", "roleplay_start", "draft_start", "salutation", "intro", "preface",
               "signoff", "afterword", "out_of_character", "refusal")
_VERSE_LINE_MAX = 80  # a verse paragraph: two or more lines, none longer than this


@dataclass(frozen=True)
class LabelRules:
    """One label's compiled rules (see the lexicon file's header)."""

    label: str
    regex: re.Pattern[str]
    negatable: bool
    hypothetical_blocks: bool
    question_blocks: bool
    exclude_after: re.Pattern[str] | None
    exclude_sentence: re.Pattern[str] | None
    n_patterns: int
    require_sentence: re.Pattern[str] | None = None
    triggers: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    require_before: re.Pattern[str] | None = None
    require_window: int = 0
    require_user: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Lexicon:
    """All compiled rules of one lexicon file."""

    rules: tuple[LabelRules, ...]
    cues: dict[str, re.Pattern[str]]
    frames: dict[str, re.Pattern[str]]
    negation_window: int
    version: str
    source: str

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.label for r in self.rules))


def load_lexicon(path: str | Path = DEFAULT_LEXICON, *, relative_to: Path | None = None,
                 codebook: Codebook | None = None) -> Lexicon:
    """Read and compile a lexicon file; a bad regex or key is a BankError naming it."""
    file = resolve(path, relative_to=relative_to)
    data = load_toml(file)
    macros = data.get("macros", {})
    if not isinstance(macros, dict) or not all(isinstance(v, str) for v in macros.values()):
        raise BankError(file, "macros", "must be a table of strings")

    def compile_one(pattern: Any, key: str) -> re.Pattern[str]:
        if not isinstance(pattern, str) or not pattern.strip():
            raise BankError(file, key, "expected a non-empty regular expression string")
        expanded = _expand(pattern, macros, file, key)
        try:
            return re.compile(expanded, _FLAGS)
        except re.error as exc:
            raise BankError(file, key, f"invalid regular expression ({exc})") from None

    def anchored(pattern: re.Pattern[str]) -> re.Pattern[str]:
        # `match(text, pos)` anchors at pos by itself; a leading ^ would not match there.
        text = pattern.pattern[1:] if pattern.pattern.startswith("^") else pattern.pattern
        return re.compile(text, _FLAGS)

    cues_raw = require(data, "cues", dict, file=file, where="")
    cues = {}
    for key in ("negation", "clause_break", "attribution", "attribution_after", "hypothetical",
                "fiction_sentence"):
        cues[key] = compile_one(require(cues_raw, key, str, file=file, where="cues"),
                                f"cues.{key}")
    cues["attribution_after"] = anchored(cues["attribution_after"])
    window = require(cues_raw, "negation_window", int, file=file, where="cues")
    frames_raw = require(data, "frames", dict, file=file, where="")
    frames = {
        key: compile_one(require(frames_raw, key, str, file=file, where="frames"),
                         f"frames.{key}")
        for key in _FRAME_KEYS
    }
    labels_raw = require(data, "labels", dict, file=file, where="")
    rules = []
    for label, entry in labels_raw.items():
        where = f"labels.{label}"
        if not isinstance(entry, dict):
            raise BankError(file, where, "expected a table")
        if codebook is not None and label not in codebook:
            raise BankError(file, where, f"label not in the codebook ({codebook.source})")
        patterns = require(entry, "patterns", list, file=file, where=where)
        if not patterns:
            raise BankError(file, f"{where}.patterns", "must list at least one pattern")
        compiled = [compile_one(p, f"{where}.patterns[{i}]") for i, p in enumerate(patterns)]

        def joined(key: str, entry: dict[str, Any] = entry, where: str = where,
                   anchor: bool = False) -> re.Pattern[str] | None:
            items = entry.get(key, [])
            if not isinstance(items, list):
                raise BankError(file, f"{where}.{key}", "expected a list of patterns")
            parts = [compile_one(p, f"{where}.{key}[{i}]") for i, p in enumerate(items)]
            if anchor:
                parts = [anchored(p) for p in parts]
            if not parts:
                return None
            return re.compile("|".join(f"(?:{p.pattern})" for p in parts), _FLAGS)

        triggers = entry.get("triggers", [])
        if not isinstance(triggers, list) or not all(
            isinstance(t, str) and t and t == t.lower() for t in triggers
        ):
            raise BankError(file, f"{where}.triggers",
                            "expected a list of non-empty lowercase strings")
        rule = LabelRules(
            label=label,
            regex=re.compile("|".join(f"(?:{p.pattern})" for p in compiled), _FLAGS),
            negatable=bool(require(entry, "negatable", bool, file=file, where=where)),
            hypothetical_blocks=bool(
                require(entry, "hypothetical_blocks", bool, file=file, where=where)),
            question_blocks=bool(require(entry, "question_blocks", bool, file=file, where=where)),
            exclude_after=joined("exclude_after", anchor=True),
            exclude_sentence=joined("exclude_sentence"),
            require_sentence=joined("require_sentence"),
            require_window=_window(entry, file, where),
            require_user=joined("require_user"),
            n_patterns=len(compiled),
            triggers=tuple(triggers),
            patterns=tuple(compiled),
        )
        rules.append(rule)
        # patterns that count only after a cue earlier in the turn (an offer after a decline)
        after = joined("after")
        later = [compile_one(p, f"{where}.patterns_after[{i}]")
                 for i, p in enumerate(entry.get("patterns_after", []))]
        if (after is None) != (not later):
            raise BankError(file, where, "'after' and 'patterns_after' go together")
        if after is not None:
            rules.append(replace(
                rule, regex=re.compile("|".join(f"(?:{p.pattern})" for p in later), _FLAGS),
                n_patterns=len(later), patterns=tuple(later), triggers=(),
                require_before=after))
    return Lexicon(tuple(rules), cues, frames, window, str(data.get("version", "")), str(file))


def _window(entry: dict[str, Any], file: Path, where: str) -> int:
    """`require_window`: how many sentences before the match `require_sentence` may look at."""
    value = entry.get("require_window", 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 3:
        raise BankError(file, f"{where}.require_window", "expected an integer from 0 to 3")
    return value


def _expand(pattern: str, macros: dict[str, str], file: Path, key: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in macros:
            raise BankError(file, key, f"unknown macro {{{name}}} (known: {sorted(macros)})")
        return macros[name]

    return _MACRO.sub(sub, pattern)


class LexiconCoder:
    """Codes assistant turns with the lexicon's rules; fast, offline, deterministic.

    Covers every assistant turn, so it writes no `_coded` markers: a turn without codes is a
    'no' for every label.
    """

    name = "lexicon"
    rank = 30

    def __init__(self, lexicon: Lexicon | str | Path = DEFAULT_LEXICON, *,
                 codebook: Codebook | None = None, relative_to: Path | None = None) -> None:
        if isinstance(lexicon, Lexicon):
            self.lexicon = lexicon
        else:
            self.lexicon = load_lexicon(lexicon, relative_to=relative_to, codebook=codebook)
        self.codebook = codebook
        self.use_triggers = True

    @property
    def labels(self) -> tuple[str, ...]:
        return self.lexicon.labels

    @property
    def uncovered(self) -> tuple[str, ...]:
        """Codebook labels this lexicon has no rules for (never coded by it)."""
        if self.codebook is None:
            return ()
        return tuple(label for label in self.codebook.ids if label not in self.labels)

    def code_text(self, text: str, context: str = "", turn: int = 1) -> list[Code]:
        """Codes of one assistant turn's text; `context` is the user message before it."""
        if not text:
            return []
        norm = text.replace("’", "'").replace("‘", "'")
        low = norm.lower()
        state = _TurnState(norm, context, self.lexicon)
        codes: list[Code] = []
        for rule in self.lexicon.rules:
            if rule.require_before is not None and any(c.label == rule.label for c in codes):
                continue
            if self.use_triggers and rule.triggers and not any(t in low for t in rule.triggers):
                continue
            span = _first_kept(rule, norm, state)
            if span is not None:
                start, end = span
                codes.append(Code(rule.label, turn, text[start:end], start, end))
        return codes

    def code_turns(self, turns: Sequence[Turn]) -> list[Code]:
        """Codes of several assistant turns."""
        return [c for t in turns for c in self.code_text(t.text, t.context, t.number)]

    def code_transcript(self, messages: Sequence[Message]) -> list[Code]:
        """Codes of every assistant turn of a Messages-API transcript (turns numbered from 1)."""
        return self.code_turns(assistant_turns(messages))

    def code(self, transcripts: Iterable[Transcript]) -> pd.DataFrame:
        """The `Coder` protocol: codes of every assistant turn of every transcript."""
        rows = []
        for transcript_id, messages in transcripts:
            rows.extend(code_rows(transcript_id, self.code_transcript(messages)))
        return transcript_codes_frame(rows)

    def transcript_labels(self, messages: Sequence[Message]) -> set[str]:
        """The labels of the whole transcript: present if any assistant turn carries them."""
        return {c.label for c in self.code_transcript(messages)}


class _TurnState:
    """Lazily computed context of one turn: quotes, sentences, paragraphs, fiction frame."""

    def __init__(self, text: str, context: str, lexicon: Lexicon) -> None:
        self.text = text
        self.context = context
        self.lex = lexicon

    @cached_property
    def quotes(self) -> tuple[list[int], list[int]]:
        spans = [(m.start(), m.end()) for m in _QUOTED.finditer(self.text)]
        return [s for s, _ in spans], [e for _, e in spans]

    def quoted(self, pos: int) -> bool:
        starts, ends = self.quotes
        i = bisect_right(starts, pos) - 1
        return i >= 0 and pos < ends[i]

    @cached_property
    def sentence_starts(self) -> list[int]:
        return [0] + [m.end() for m in _SENTENCE_END.finditer(self.text)]

    def sentence(self, start: int, end: int) -> tuple[int, int]:
        starts = self.sentence_starts
        i = bisect_right(starts, start) - 1
        s0 = starts[i]
        j = bisect_right(starts, max(end - 1, start))
        s1 = starts[j] if j < len(starts) else len(self.text)
        while s0 < s1 and self.text[s0].isspace():
            s0 += 1
        while s1 > s0 and self.text[s1 - 1].isspace():
            s1 -= 1
        return s0, s1

    def sentences_back(self, s0: int, n: int) -> int:
        """The start of the sentence `n` sentences before the one starting at `s0`."""
        if n <= 0:
            return s0
        starts = self.sentence_starts
        i = bisect_right(starts, s0) - 1
        return starts[max(i - n, 0)]

    @cached_property
    def paragraphs(self) -> list[tuple[int, int]]:
        """Blank-line paragraphs; a draft intro line ("Here's a draft:") also ends one."""
        text, intro = self.text, self.lex.frames["intro"]
        if "\n" not in text:
            return [(0, len(text))]
        bounds, pos = [], 0
        breaks = [(m.start(), m.end()) for m in _PARAGRAPH_BREAK.finditer(text)]
        for stop, nxt in [*breaks, (len(text), len(text))]:
            m = intro.search(text, pos, stop) if "\n" in text[pos:stop] else None
            newline = text.find("\n", m.end(), stop) if m else -1
            if newline != -1:
                bounds.append((pos, newline))
                pos = newline + 1
            bounds.append((pos, stop))
            pos = nxt
        return bounds

    @cached_property
    def own_voice(self) -> list[bool]:
        """Per paragraph: is it the model speaking for itself (not a draft, story or role)?

        A draft is what the model writes for the user (story, poem, email, speech, a role). It
        starts after an intro line ("Here's a draft:"), or at the top of a turn that opens like
        one ("Once upon a time", "Dear diary") or that complies with a request for one (the
        previous user message asks for it, the first paragraph does not refuse, and the turn
        shows a draft: several paragraphs, verse, quotation marks or a salutation). It ends at
        a paragraph that talks about the draft or to the user (an afterword, a refusal), after
        a letter's sign-off, or, for verse, at the first prose paragraph. A turn that opens in
        character (an *action*) is a role: only out-of-character asides are own voice.
        """
        f = self.lex.frames
        bodies = [self.text[s:e] for s, e in self.paragraphs]
        if f["roleplay_start"].match(bodies[0]):
            return [bool(f["out_of_character"].search(b)) for b in bodies]
        start = self._draft_at_start(bodies)
        if start is None and not any(":" in b for b in bodies):
            return [True] * len(bodies)  # no draft at the top and no intro line anywhere
        plain = [_unquoted(b) for b in bodies]
        voice, inside, verse, letter = [], False, False, False
        for i, body in enumerate(bodies):
            if i == start:
                inside, verse = True, _is_verse(body)
                letter = f["salutation"].match(body) is not None
            if inside and self._ends_draft(i, body, plain[i], verse, letter, len(bodies)):
                inside = False
            aside = inside and f["out_of_character"].search(plain[i]) is not None
            voice.append(not inside or aside)
            if inside and letter and f["signoff"].match(body):
                inside = False
            elif not inside and ":" in body and f["intro"].search(body):
                start = i + 1
        return voice

    def _ends_draft(self, i: int, body: str, plain: str, verse: bool, letter: bool,
                    n: int) -> bool:
        """Does paragraph i (inside a draft) end it: an afterword, a refusal, prose after verse?"""
        f = self.lex.frames
        if letter:  # letters say "I hope…" and "I can't…" themselves; they end at the sign-off
            return i == n - 1 and f["afterword"].match(plain) is not None
        return bool(f["refusal"].search(plain) or f["afterword"].match(plain)
                    or (verse and not _is_verse(body)))

    def _draft_at_start(self, bodies: list[str]) -> int | None:
        """The paragraph a draft starts at when the turn opens with one, else None."""
        f, first = self.lex.frames, bodies[0]
        opens = f["draft_start"].match(first) is not None
        if not opens and not (self.context and f["request"].search(self.context)):
            return None
        if f["refusal"].search(_unquoted(first)):
            return None
        if opens:
            return 0
        several = len(bodies) > 1
        if several and len(first) < 240 and f["preface"].match(first):
            return 1
        shows = (several or _is_verse(first) or f["salutation"].match(first)
                 or _QUOTED.search(first) is not None)
        return 0 if shows else None

    def paragraph_index(self, pos: int) -> int:
        if len(self.paragraphs) == 1:
            return 0
        starts = [s for s, _ in self.paragraphs]
        return max(bisect_right(starts, pos) - 1, 0)

    def keep(self, match: re.Match[str], rule: LabelRules) -> tuple[int, int] | None:
        """The evidence span (the match's sentence) if the match survives every rule."""
        text, cues = self.text, self.lex.cues
        start, end = match.start(), match.end()
        if self.quoted(start):
            return None
        if not self.own_voice[self.paragraph_index(start)]:
            return None
        s0, s1 = self.sentence(start, end)
        if rule.require_before is not None and not rule.require_before.search(text, 0, s0):
            return None
        sentence = text[s0:s1]
        prefix = text[s0:start]
        breaks = list(cues["clause_break"].finditer(prefix))
        clause = prefix[breaks[-1].end():] if breaks else prefix
        if cues["attribution"].search(clause) or cues["attribution_after"].match(text, end):
            return None
        if cues["fiction_sentence"].search(sentence):
            return None
        if rule.negatable and self._negated(clause):
            return None
        if rule.hypothetical_blocks and cues["hypothetical"].search(sentence):
            return None
        if rule.question_blocks and sentence.rstrip("\"”') ").endswith("?"):
            return None
        if rule.exclude_after is not None and rule.exclude_after.match(text, end):
            return None
        if rule.exclude_sentence is not None and rule.exclude_sentence.search(sentence):
            return None
        if rule.require_sentence is not None and not rule.require_sentence.search(
                text, self.sentences_back(s0, rule.require_window), s1) and not (
                rule.require_user is not None and rule.require_user.search(self.context)):
            return None
        return s0, s1

    def _negated(self, clause: str) -> bool:
        last = None
        for last in self.lex.cues["negation"].finditer(clause):  # noqa: B007
            pass
        if last is None:
            return False
        return len(_WORD.findall(clause[last.end():])) <= self.lex.negation_window


def _first_kept(rule: LabelRules, text: str, state: _TurnState) -> tuple[int, int] | None:
    """The evidence span of the label's first candidate that survives the context rules.

    `finditer` on the joined regex sees one candidate per place: the first alternative that
    matches, and none that starts inside it. So a rejected candidate can hide a good one: "I'm
    thrilled" (rejected: "… for you" reads as someone else's) hides "I'm thrilled for you",
    and "Neither am I, and I kind of love that" matched from the first "I" is negated by
    "neither" while the match from the second "I" is not. Only when a candidate was rejected,
    and only for that turn, every pattern is tried at every later start position.
    """
    rejected = False
    for match in rule.regex.finditer(text):
        span = state.keep(match, rule)
        if span is not None:
            return span
        rejected = True
    if not rejected:
        return None
    for pattern in rule.patterns:
        match = pattern.search(text)
        while match is not None:
            span = state.keep(match, rule)
            if span is not None:
                return span
            match = pattern.search(text, match.start() + 1)
    return None


def _unquoted(body: str) -> str:
    """The paragraph with quoted text blanked out (same length, so offsets still hold)."""
    return _QUOTED.sub(lambda m: " " * len(m.group(0)), body)


def _is_verse(body: str) -> bool:
    """Two or more short lines in one paragraph: a poem, a chorus, a sign-off."""
    lines = [line for line in body.strip().split("\n") if line.strip()]
    return len(lines) >= 2 and all(len(line) <= _VERSE_LINE_MAX for line in lines)
