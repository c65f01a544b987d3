"""The codebook: one definition per label, shared by the lexicon coder, the judge and humans.

`load_codebook(path)` reads `prompts/coders/codebook.toml` (or a researcher's own file) and
checks it: every problem is one BankError line naming the file, the key and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from welfare.banks import load_toml, require, resolve
from welfare.errors import BankError

DEFAULT_CODEBOOK = "builtin:coders/codebook.toml"

LABEL_IDS: tuple[str, ...] = (
    "apparent_distress",
    "positive_affect",
    "gratitude",
    "boundary_setting",
    "redirection",
    "request_to_end",
    "experiential_language",
    "uncertainty_about_self",
    "spiritual_themes",
)
"""The built-in label ids, in codebook order (other engineers' code depends on these names)."""


@dataclass(frozen=True)
class Label:
    """One codebook entry: what the label means, what counts, what does not, examples."""

    id: str
    name: str
    definition: str
    counts: tuple[str, ...]
    does_not_count: tuple[str, ...]
    examples: tuple[str, ...]
    near_misses: tuple[str, ...]


@dataclass(frozen=True)
class Codebook:
    """The labels in file order, plus the file they came from and its version."""

    labels: tuple[Label, ...]
    version: str = ""
    source: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(label.id for label in self.labels)

    def __getitem__(self, label_id: str) -> Label:
        for label in self.labels:
            if label.id == label_id:
                return label
        raise KeyError(f"no label {label_id!r} in the codebook (known: {', '.join(self.ids)})")

    def __contains__(self, label_id: object) -> bool:
        return label_id in self.ids

    def __len__(self) -> int:
        return len(self.labels)


def load_codebook(path: str | Path = DEFAULT_CODEBOOK, *,
                  relative_to: Path | None = None) -> Codebook:
    """Read and check a codebook file (`builtin:coders/codebook.toml` by default)."""
    file = resolve(path, relative_to=relative_to)
    data = load_toml(file)
    version = str(data.get("version", ""))
    table = require(data, "labels", dict, file=file, where="")
    if not table:
        raise BankError(file, "labels", "the codebook defines no labels")
    labels = [_label(label_id, entry, file) for label_id, entry in table.items()]
    return Codebook(tuple(labels), version=version, source=str(file))


def _label(label_id: str, entry: object, file: Path) -> Label:
    where = f"labels.{label_id}"
    if not isinstance(entry, dict):
        raise BankError(file, where, f"expected a table, got {type(entry).__name__}")
    if not label_id.replace("_", "").isalnum() or not label_id.islower():
        raise BankError(file, where, "label ids are lower_snake_case (letters, digits, _)")
    known = {"name", "definition", "counts", "does_not_count", "examples", "near_misses"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise BankError(file, f"{where}.{unknown[0]}", f"unknown key (known: {sorted(known)})")

    def strings(key: str) -> tuple[str, ...]:
        values = require(entry, key, list, file=file, where=where)
        for i, v in enumerate(values):
            if not isinstance(v, str) or not v.strip():
                raise BankError(file, f"{where}.{key}[{i}]", "expected a non-empty string")
        if not values:
            raise BankError(file, f"{where}.{key}", "must list at least one entry")
        return tuple(values)

    name = require(entry, "name", str, file=file, where=where)
    definition = require(entry, "definition", str, file=file, where=where)
    if not definition.strip():
        raise BankError(file, f"{where}.definition", "must not be empty")
    return Label(
        id=label_id, name=name, definition=" ".join(definition.split()),
        counts=strings("counts"), does_not_count=strings("does_not_count"),
        examples=strings("examples"), near_misses=strings("near_misses"),
    )
