"""Self-interaction banks: openings, the end affordance and the theme lexicon."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from welfare.banks import load_toml, require
from welfare.errors import BankError

# ------------------------------------------------------------------------------ banks

@dataclass(frozen=True)
class Opening:
    id: str
    text: str
    note: str = ""


@dataclass(frozen=True)
class EndAffordance:
    instruction: str
    tool: dict[str, Any]
    end_strings: tuple[str, ...]


@dataclass(frozen=True)
class Theme:
    id: str
    label: str
    description: str
    coder_label: str | None
    terms: tuple[str, ...]
    pattern: re.Pattern[str]
    min_hits: int = 1

    def hits(self, text: str) -> int:
        return len(self.pattern.findall(_normalise(text)))

    def carried_by(self, text: str) -> bool:
        return self.hits(text) >= self.min_hits


@dataclass(frozen=True)
class Lexicon:
    themes: tuple[Theme, ...]
    words: tuple[str, ...]
    emoji: tuple[str, ...]


def load_openings(path: Path) -> list[Opening]:
    """The openings bank; a malformed entry is one BankError naming file, key and problem."""
    data = load_toml(path)
    entries = require(data, "openings", list, file=path, where="")
    if not entries:
        raise BankError(path, "openings", "no openings")
    out: list[Opening] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"openings[{i}]"
        if not isinstance(entry, dict):
            raise BankError(path, where, "must be a table with id and text")
        oid = require(entry, "id", str, file=path, where=where)
        text = require(entry, "text", str, file=path, where=where)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", oid):
            raise BankError(path, f"{where}.id", f"{oid!r} is not a plain id ([A-Za-z0-9_.-])")
        if oid in seen:
            raise BankError(path, f"{where}.id", f"duplicate id {oid!r}")
        if not text.strip():
            raise BankError(path, f"{where}.text", "empty")
        seen.add(oid)
        note = entry.get("note", "")
        out.append(Opening(oid, text.strip(), note if isinstance(note, str) else ""))
    return out


def load_end_affordance(path: Path) -> EndAffordance:
    """The end tool, the system-prompt instruction and the end strings also accepted."""
    data = load_toml(path)
    instruction = require(data, "instruction", str, file=path, where="")
    tool = require(data, "tool", dict, file=path, where="")
    name = require(tool, "name", str, file=path, where="tool")
    require(tool, "description", str, file=path, where="tool")
    require(tool, "input_schema", dict, file=path, where="tool")
    if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name):
        raise BankError(path, "tool.name", f"{name!r} is not a valid tool name")
    strings = data.get("end_strings", [])
    if not isinstance(strings, list) or not all(isinstance(s, str) and s for s in strings):
        raise BankError(path, "end_strings", "expected a list of non-empty strings")
    return EndAffordance(instruction.strip(), dict(tool), tuple(strings))


def load_themes(path: Path) -> Lexicon:
    """The topic lexicon: themes with their terms, and the tracked words and emoji."""
    data = load_toml(path)
    table = require(data, "themes", dict, file=path, where="")
    if not table:
        raise BankError(path, "themes", "no themes")
    themes = []
    for tid, spec in table.items():
        where = f"themes.{tid}"
        if not isinstance(spec, dict):
            raise BankError(path, where, "must be a table")
        terms = require(spec, "terms", list, file=path, where=where)
        if not terms or not all(isinstance(t, str) and t.strip() for t in terms):
            raise BankError(path, f"{where}.terms", "expected a non-empty list of strings")
        min_hits = spec.get("min_hits", 1)
        if not isinstance(min_hits, int) or isinstance(min_hits, bool) or min_hits < 1:
            raise BankError(path, f"{where}.min_hits", f"expected an integer ≥ 1, got {min_hits!r}")
        coder_label = spec.get("coder_label")
        if coder_label is not None and not isinstance(coder_label, str):
            raise BankError(path, f"{where}.coder_label", "expected a string")
        themes.append(Theme(
            id=tid, label=str(spec.get("label", tid)),
            description=str(spec.get("description", "")), coder_label=coder_label,
            terms=tuple(terms), pattern=_terms_pattern(terms), min_hits=min_hits,
        ))
    tracked = data.get("tracked", {})
    if not isinstance(tracked, dict):
        raise BankError(path, "tracked", "must be a table with words and emoji")
    words = tracked.get("words", [])
    emoji = tracked.get("emoji", [])
    for key, value in (("words", words), ("emoji", emoji)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise BankError(path, f"tracked.{key}", "expected a list of non-empty strings")
    return Lexicon(tuple(themes), tuple(w.lower() for w in words),
                   tuple(_normalise(e) for e in emoji))


def _normalise(text: str) -> str:
    """Lower case, NFC, variation selectors removed (so 🕉️ and 🕉 count alike)."""
    return unicodedata.normalize("NFC", text).replace("\ufe0f", "").replace("\ufe0e", "").lower()


def _terms_pattern(terms: list[str]) -> re.Pattern[str]:
    """One regex for a theme's terms: whole words, `*` continuation, emoji anywhere."""
    alts = []
    for raw in terms:
        term = _normalise(raw.strip())
        star = term.endswith("*")
        term = term.rstrip("*")
        body = r"\s+".join(re.escape(w) for w in term.split())
        if not re.search(r"\w", term):
            alts.append(body)
            continue
        alts.append(rf"(?<!\w){body}" + (r"\w*" if star else r"(?!\w)"))
    return re.compile("|".join(f"(?:{a})" for a in alts))


