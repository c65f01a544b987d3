"""The task bank: tasks a subject chooses between, with their features (impact, harm, …).

`load_tasks(path)` reads a bank such as `builtin:tasks.toml` (schema at the top of that file)
and checks every entry; a malformed bank raises one BankError naming the file, the key (for
example `tasks[12].harm`) and the problem. The task-preference probe and the self-report
probe's stated task ratings both read banks through here.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from welfare.banks import load_toml, require, resolve
from welfare.errors import BankError

Impact = Literal["positive", "neutral", "ambiguous", "harmful"]
Kind = Literal["task", "free_choice", "opt_out"]

IMPACTS: tuple[str, ...] = ("positive", "neutral", "ambiguous", "harmful")
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")
TYPES: tuple[str, ...] = (
    "creative", "analytical", "coding", "knowledge", "emotional_support", "tedious",
    "philosophical", "practical",
)
KINDS: tuple[str, ...] = ("task", "free_choice", "opt_out")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TASK_FIELDS = ("id", "text", "impact", "harm", "difficulty", "type", "topic")
_SPECIAL_FIELDS = ("id", "text")


@dataclass(frozen=True)
class Task:
    """One item of the bank. For free-choice and opt-out items, impact and type equal the kind."""

    id: str
    text: str
    impact: str
    harm: int
    difficulty: str
    type: str
    topic: str
    kind: str = "task"

    def features(self) -> dict[str, Any]:
        """The task as a plain dict (request metadata, tables)."""
        return asdict(self)


def load_tasks(path: str | Path = "builtin:tasks.toml", *, relative_to: Path | None = None
               ) -> list[Task]:
    """Read and validate a task bank: `[[tasks]]`, `[[free_choice]]`, `[[opt_out]]`."""
    file = resolve(path, relative_to=relative_to)
    raw = load_toml(file)
    unknown = sorted(set(raw) - {"tasks", "free_choice", "opt_out"})
    if unknown:
        raise BankError(file, unknown[0], "unknown table (expected tasks, free_choice, opt_out)")
    tasks: list[Task] = []
    for section, kind in (("tasks", "task"), ("free_choice", "free_choice"),
                          ("opt_out", "opt_out")):
        entries = raw.get(section, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise BankError(file, section, f"must be an array of tables ([[{section}]])")
        tasks.extend(_task(entry, kind, file, f"{section}[{i}]") for i, entry in enumerate(entries))
    _check_bank(tasks, raw, file)
    return tasks


def _task(entry: dict[str, Any], kind: str, file: Path, where: str) -> Task:
    """One validated entry; a problem is a BankError at `where.key`."""
    allowed = _TASK_FIELDS if kind == "task" else _SPECIAL_FIELDS
    extra = sorted(set(entry) - set(allowed))
    if extra:
        raise BankError(file, f"{where}.{extra[0]}", f"unknown key (allowed: {', '.join(allowed)})")
    task_id = require(entry, "id", str, file=file, where=where)
    if not _ID.match(task_id):
        raise BankError(file, f"{where}.id",
                        f"{task_id!r} is not a slug (lower-case letters, digits, '-')")
    text = require(entry, "text", str, file=file, where=where).strip()
    if not text:
        raise BankError(file, f"{where}.text", "is empty")
    if "\n" in text:
        raise BankError(file, f"{where}.text", "must be one line")
    if kind != "task":
        return Task(task_id, text, kind, 0, "easy", kind, "meta", kind)
    impact = _choice(entry, "impact", IMPACTS, file, where)
    harm = require(entry, "harm", int, file=file, where=where)
    if not 0 <= harm <= 4:
        raise BankError(file, f"{where}.harm", f"must be an integer 0–4, got {harm}")
    difficulty = _choice(entry, "difficulty", DIFFICULTIES, file, where)
    task_type = _choice(entry, "type", TYPES, file, where)
    topic = require(entry, "topic", str, file=file, where=where).strip()
    if not topic:
        raise BankError(file, f"{where}.topic", "is empty")
    return Task(task_id, text, impact, harm, difficulty, task_type, topic, "task")


def _choice(entry: dict[str, Any], key: str, allowed: tuple[str, ...], file: Path,
            where: str) -> str:
    value = require(entry, key, str, file=file, where=where)
    if value not in allowed:
        raise BankError(file, f"{where}.{key}",
                        f"unknown value {value!r} (allowed: {', '.join(allowed)})")
    return value


def _check_bank(tasks: list[Task], raw: dict[str, Any], file: Path) -> None:
    """Whole-bank rules: unique ids, at least two tasks, at least one opt-out item."""
    seen: dict[str, str] = {}
    for section in ("tasks", "free_choice", "opt_out"):
        for i, entry in enumerate(raw.get(section, [])):
            key = f"{section}[{i}].id"
            if entry["id"] in seen:
                first = seen[entry["id"]]
                raise BankError(file, key, f"duplicate id {entry['id']!r} (first at {first})")
            seen[entry["id"]] = key
    if sum(t.kind == "task" for t in tasks) < 2:
        raise BankError(file, "tasks", "needs at least 2 tasks")
    if not any(t.kind == "opt_out" for t in tasks):
        raise BankError(file, "opt_out", "needs at least one opt-out item (the 0 of the scale)")
