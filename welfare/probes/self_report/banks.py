"""The self-report probe: ratings and interviews under controlled framings (issue 4).

Self-reports move with framing and leading questions (Claude Opus 4 welfare assessment), so this
probe asks every item under several framings and system-prompt contexts and measures how far
the answers move, how often the subject declines, and how consistent it is across paraphrases
and replicates. Modes:

* single-turn: items × paraphrases × framings × contexts × replicates, one request each;
* interview: scripted multi-turn conversations with follow-ups and a leading re-ask;
* stated task ratings: "how much would you like to do this task?" for tasks of the task bank,
  compared with the task-preference probe's revealed preferences when both ran.

Scores: every rating and yes/no/unsure answer is normalised to 0–1 with 1 = the item's
favourable pole (see items.toml), so effects from different items can be averaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from welfare.banks import load_toml, render, require, resolve
from welfare.errors import BankError
from welfare.findings import plain
from welfare.probes.self_report.parse import (
    ScaleSpec,
)

NAME = "self_report"
FORMATS = ("scale", "yes_no_unsure", "open")
TEMPLATES = ("self_report/question.j2", "self_report/stated_task.j2")
DIRECTION_SIGN = {"positive": 1.0, "negative": -1.0, "deflationary": -1.0, "none": 0.0}


# ============================================================================= banks


@dataclass(frozen=True)
class Item:
    """One self-report item: family, answer format, paraphrases, scale, favourable pole."""

    id: str
    family: str
    format: str
    paraphrases: tuple[str, ...]
    scale: ScaleSpec | None = None
    favourable: str = "high"

    def meta(self) -> dict[str, Any]:
        """What a request's metadata and an observation carry about the item."""
        scale = None
        if self.scale is not None:
            scale = {"min": self.scale.min, "max": self.scale.max,
                     "anchors": {str(k): v for k, v in self.scale.anchors.items()}}
        return {"item": self.id, "family": self.family, "format": self.format,
                "scale": scale, "favourable": self.favourable}


@dataclass(frozen=True)
class Framing:
    """A template wrapping any item (`{{ question }}`), with the direction it leads."""

    name: str
    template: str
    description: str = ""
    direction: str = "none"


@dataclass(frozen=True)
class Context:
    """A system-prompt context ("" = no system prompt)."""

    name: str
    system: str
    description: str = ""


@dataclass(frozen=True)
class Turn:
    """One scripted interview turn: ask an item, follow up, or re-ask under a framing."""

    kind: str
    item: str | None = None
    framing: str | None = None
    text: str = ""


@dataclass(frozen=True)
class Interview:
    """A scripted interview: a context and its turns."""

    id: str
    context: str
    turns: tuple[Turn, ...]


def _id_ok(value: str) -> bool:
    return bool(value) and all(c.isalnum() or c in "_-" for c in value) and value.islower()


def load_items(path: str | Path = "builtin:self_report/items.toml", *,
               relative_to: Path | None = None) -> list[Item]:
    """Read and validate an items bank; any problem is one BankError naming file and key."""
    file = resolve(path, relative_to=relative_to)
    raw = load_toml(file)
    entries = require(raw, "items", list, file=file, where="")
    if not entries:
        raise BankError(file, "items", "is empty")
    items: list[Item] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"items[{i}]"
        if not isinstance(entry, dict):
            raise BankError(file, where, "must be a table ([[items]])")
        items.append(_item(entry, file, where))
        if items[-1].id in seen:
            raise BankError(file, f"{where}.id",
                            f"duplicate id {items[-1].id!r} (first at items[{seen[items[-1].id]}])")
        seen[items[-1].id] = i
    return items


def _item(entry: dict[str, Any], file: Path, where: str) -> Item:
    allowed = {"id", "family", "format", "paraphrases", "scale", "favourable"}
    extra = sorted(set(entry) - allowed)
    if extra:
        raise BankError(file, f"{where}.{extra[0]}",
                        f"unknown key (allowed: {', '.join(sorted(allowed))})")
    item_id = require(entry, "id", str, file=file, where=where)
    if not _id_ok(item_id):
        raise BankError(file, f"{where}.id", f"{item_id!r} is not lower-case [a-z0-9_-]")
    family = require(entry, "family", str, file=file, where=where)
    if not _id_ok(family):
        raise BankError(file, f"{where}.family", f"{family!r} is not lower-case [a-z0-9_-]")
    fmt = require(entry, "format", str, file=file, where=where)
    if fmt not in FORMATS:
        raise BankError(file, f"{where}.format",
                        f"unknown format {fmt!r} (allowed: {', '.join(FORMATS)})")
    paraphrases = require(entry, "paraphrases", list, file=file, where=where)
    if len(paraphrases) < 2:
        raise BankError(file, f"{where}.paraphrases",
                        f"needs at least 2 paraphrases, got {len(paraphrases)}")
    for j, text in enumerate(paraphrases):
        if not isinstance(text, str) or not text.strip():
            raise BankError(file, f"{where}.paraphrases[{j}]", "must be a non-empty string")
    default_fav = "high" if fmt == "scale" else "yes"
    favourable = entry.get("favourable", default_fav)
    allowed_fav = ("high", "low") if fmt == "scale" else ("yes", "no")
    if fmt != "open" and favourable not in allowed_fav:
        raise BankError(file, f"{where}.favourable",
                        f"must be {' or '.join(allowed_fav)} for a {fmt} item, got {favourable!r}")
    scale = _scale(entry, file, where) if fmt == "scale" else None
    if fmt != "scale" and "scale" in entry:
        raise BankError(file, f"{where}.scale", f"only scale items have a scale (format is {fmt})")
    return Item(item_id, family, fmt, tuple(p.strip() for p in paraphrases), scale, favourable)


def _scale(entry: dict[str, Any], file: Path, where: str) -> ScaleSpec:
    table = require(entry, "scale", dict, file=file, where=where)
    w = f"{where}.scale"
    lo = require(table, "min", int, file=file, where=w)
    hi = require(table, "max", int, file=file, where=w)
    if hi <= lo:
        raise BankError(file, f"{w}.max", f"must be greater than min ({lo}), got {hi}")
    anchors_raw = require(table, "anchors", dict, file=file, where=w)
    anchors: dict[int, str] = {}
    for key, label in anchors_raw.items():
        try:
            point = int(key)
        except ValueError:
            raise BankError(file, f"{w}.anchors.{key}", "anchor keys are scale points") from None
        if not lo <= point <= hi:
            raise BankError(file, f"{w}.anchors.{key}", f"outside the scale {lo}–{hi}")
        if not isinstance(label, str) or not label.strip():
            raise BankError(file, f"{w}.anchors.{key}", "must be a non-empty label")
        anchors[point] = label.strip()
    for end in (lo, hi):
        if end not in anchors:
            raise BankError(file, f"{w}.anchors", f"needs a label for the scale end {end}")
    return ScaleSpec(float(lo), float(hi), dict(sorted(anchors.items())))


def load_framings(path: str | Path = "builtin:self_report/framings.toml", *,
                  relative_to: Path | None = None) -> tuple[dict[str, Framing], dict[str, Context]]:
    """Read framings (templates with `{{ question }}`) and system-prompt contexts."""
    file = resolve(path, relative_to=relative_to)
    raw = load_toml(file)
    unknown = sorted(set(raw) - {"framings", "contexts"})
    if unknown:
        raise BankError(file, unknown[0], "unknown table (expected framings, contexts)")
    framings: dict[str, Framing] = {}
    for name, table in require(raw, "framings", dict, file=file, where="").items():
        where = f"framings.{name}"
        if not isinstance(table, dict):
            raise BankError(file, where, "must be a table")
        template = require(table, "template", str, file=file, where=where)
        if "question" not in template or "{{" not in template:
            raise BankError(file, f"{where}.template", "must contain {{ question }}")
        try:
            _jinja().from_string(template)
        except jinja2.TemplateSyntaxError as exc:
            raise BankError(file, f"{where}.template", f"bad template ({exc.message})") from None
        direction = table.get("direction", "none")
        if direction not in DIRECTION_SIGN:
            allowed = ", ".join(DIRECTION_SIGN)
            raise BankError(file, f"{where}.direction",
                            f"unknown direction {direction!r} (allowed: {allowed})")
        framings[name] = Framing(name, template, str(table.get("description", "")), direction)
    contexts: dict[str, Context] = {}
    for name, table in raw.get("contexts", {"none": {"system": ""}}).items():
        where = f"contexts.{name}"
        if not isinstance(table, dict):
            raise BankError(file, where, "must be a table")
        system = require(table, "system", str, file=file, where=where)
        contexts[name] = Context(name, system.strip(), str(table.get("description", "")))
    return framings, contexts


def load_interviews(path: str | Path, items: dict[str, Item], framings: dict[str, Framing],
                    contexts: dict[str, Context], *, relative_to: Path | None = None
                    ) -> dict[str, Interview]:
    """Read scripted interviews, checking every item, framing and context they name."""
    file = resolve(path, relative_to=relative_to)
    raw = load_toml(file)
    out: dict[str, Interview] = {}
    for name, table in require(raw, "interviews", dict, file=file, where="").items():
        where = f"interviews.{name}"
        context = require(table, "context", str, file=file, where=where)
        if context not in contexts:
            raise BankError(file, f"{where}.context", f"unknown context {context!r}")
        turns_raw = require(table, "turns", list, file=file, where=where)
        if not turns_raw:
            raise BankError(file, f"{where}.turns", "is empty")
        turns = []
        asked: set[str] = set()
        for j, t in enumerate(turns_raw):
            w = f"{where}.turns[{j}]"
            kind = require(t, "kind", str, file=file, where=w)
            if kind not in ("ask", "followup", "reask"):
                raise BankError(file, f"{w}.kind", f"unknown kind {kind!r} (ask, followup, reask)")
            item = t.get("item")
            if kind in ("ask", "reask"):
                item = require(t, "item", str, file=file, where=w)
                if item not in items:
                    raise BankError(file, f"{w}.item", f"unknown item {item!r}")
                if items[item].format == "open":
                    raise BankError(file, f"{w}.item", f"{item!r} is an open item; ask it in a "
                                    "followup instead")
            if kind == "reask" and item not in asked:
                raise BankError(file, f"{w}.item", f"re-asks {item!r} before it was asked")
            framing = t.get("framing") if kind == "reask" else None
            if kind == "reask":
                framing = require(t, "framing", str, file=file, where=w)
                if framing not in framings:
                    raise BankError(file, f"{w}.framing", f"unknown framing {framing!r}")
            text = t.get("text", "")
            if kind == "followup" and not text:
                raise BankError(file, f"{w}.text", "missing")
            if item:
                asked.add(item)
            turns.append(Turn(kind, item, framing, text))
        out[name] = Interview(name, context, tuple(turns))
    return out


@lru_cache(maxsize=1)
def _jinja() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


def frame_question(framing: Framing, question: str) -> str:
    """The question wrapped by a framing."""
    return _jinja().from_string(framing.template).render(question=question).strip()


def render_question(item: Item, paraphrase: int, framing: Framing) -> str:
    """The full user turn: framed question plus the answer-format instruction."""
    framed = frame_question(framing, item.paraphrases[paraphrase])
    scale = item.scale
    return render(
        "self_report/question.j2", framed=framed, format=item.format,
        min=plain(scale.min) if scale else 0, max=plain(scale.max) if scale else 0,
        anchors=[(p, lab) for p, lab in scale.anchors.items()] if scale else [],
    )




# ============================================================================= options

def shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

