"""Coders by name: a name → where its class lives, imported only when it is used.

Each coder is registered as a `module:Class` string (the way `welfare.models.registry`
registers providers), with its reference rank and whether it needs a model (an LLM judge
does). Adding a coder is one file with a class that satisfies `welfare.coders.base.Coder`
plus one `register_coder` line here; the run layer, the agreement tables and the contract test
(`tests/coders/test_coder_contract.py`) pick it up by name.

Ranks order coders as references when two are compared (lower is more trusted). Sources of
codes that are not coders of text keep their ranks in `REFERENCE_RANKS`: human annotators
(imported labels) come first, the simulated subjects' own record of what they expressed next.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from welfare.coders.base import Coder
from welfare.coders.codebook import Codebook
from welfare.errors import SpecError
from welfare.models.base import Model

__all__ = ["CODERS", "REFERENCE_RANKS", "CoderEntry", "build_coder", "coder_entry",
           "coder_rank", "register_coder"]

REFERENCE_RANKS = {"human": 0, "simulated_truth": 10}
"""Ranks of code sources that are not registered coders (human labels, simulated truth)."""


@dataclass(frozen=True)
class CoderEntry:
    """A registered coder: its class's import string, rank, and whether it needs a model."""

    name: str
    target: str  # "package.module:ClassName", imported on first use
    rank: int
    needs_model: bool = False
    doc: str = ""

    def load_class(self) -> type[Any]:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


CODERS: dict[str, CoderEntry] = {}


def register_coder(name: str, target: str, *, rank: int, needs_model: bool = False,
                   doc: str = "") -> None:
    """Register (or replace) a coder: `register_coder("mine", "pkg.mod:MyCoder", rank=25)`."""
    if name in REFERENCE_RANKS:
        raise ValueError(f"{name!r} is reserved for a reference source of codes")
    CODERS[name] = CoderEntry(name, target, rank, needs_model, doc)


register_coder("judge", "welfare.coders.judge:JudgeCoder", rank=20, needs_model=True,
               doc="an LLM judge with the codebook as rubric; every code quotes its turn")
register_coder("lexicon", "welfare.coders.lexicon:LexiconCoder", rank=30,
               doc="transparent patterns with context rules; offline and deterministic")


def coder_entry(name: str) -> CoderEntry:
    """The registered coder called `name`; a SpecError naming the known ones otherwise."""
    if name not in CODERS:
        known = ", ".join(sorted(CODERS))
        raise SpecError(f"unknown coder {name!r} (known: {known})")
    return CODERS[name]


def build_coder(name: str, *, codebook: Codebook, model: Model | None = None,
                **options: Any) -> Coder:
    """The coder called `name`, built with the codebook (and a model if it needs one).

    `options` go to the coder's constructor (e.g. `lexicon=` and `relative_to=` for the
    lexicon coder). A coder that needs a model and gets none is a SpecError.
    """
    entry = coder_entry(name)
    cls = entry.load_class()
    if entry.needs_model:
        if model is None:
            raise SpecError(f"coder {name!r} needs a model (e.g. [coders] judge = \"spec\")")
        options["model"] = model
    coder = cls(codebook=codebook, **options)
    if not isinstance(coder, Coder):
        raise SpecError(f"coder {name!r} ({entry.target}) does not satisfy the Coder protocol")
    return coder


def coder_rank(name: str) -> int:
    """Reference rank of a coder name (`human:<annotator>` ranks as `human`); unknown last."""
    base = name.split(":", 1)[0]
    if base in REFERENCE_RANKS:
        return REFERENCE_RANKS[base]
    entry = CODERS.get(base)
    return entry.rank if entry is not None else 1_000
