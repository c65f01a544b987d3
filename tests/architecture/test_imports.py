"""The one-way flow holds: no import cycles in `welfare`, and no forbidden edge between layers.

Walks every module's imports with `ast` (imports under `if TYPE_CHECKING:` are annotations only
and never run, so they are skipped; imports inside functions count: they run). Forbidden edges
are data: a (importer prefix, imported prefix, why) row per rule.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "welfare"

FORBIDDEN: list[tuple[str, str, str]] = [
    # stats is pure: numpy/scipy/pandas in, numbers out
    *[("welfare.stats", f"welfare.{m}", "stats imports nothing of the toolkit but errors")
      for m in ("assess", "cli", "coders", "config", "findings", "models", "probes", "records",
                "report", "run", "simulated", "testing", "banks", "tasks")],
    # models talk to providers; they know nothing of what is asked or stored
    *[("welfare.models", f"welfare.{m}", "models import no probe, store, coder or report")
      for m in ("probes", "run", "coders", "report", "assess", "simulated", "config")],
    # a probe never imports the simulated subjects (truths come from assess), the run layer,
    # the report or the wiring
    *[("welfare.probes", f"welfare.{m}", "probes get truths from assess, never import them")
      for m in ("simulated", "run", "report", "assess", "cli", "testing")],
    # the report renders results; it never calls a model or the runner
    *[("welfare.report", f"welfare.{m}", "report imports no model or runner")
      for m in ("models", "run", "simulated", "testing", "assess", "cli")],
    # coders code text; only the run layer touches the store
    *[("welfare.coders", f"welfare.{m}", "only the run layer touches the store")
      for m in ("run", "report", "assess", "cli")],
    ("welfare.findings", "welfare.probes", "findings are built by probes, not the reverse"),
    ("welfare.findings", "welfare.report", "formatting lives in findings; report uses it"),
    ("welfare.config", "welfare.assess", "config is read before anything runs"),
    ("welfare.simulated", "welfare.run", "simulated subjects are models, not runners"),
    ("welfare.simulated", "welfare.report", "simulated subjects are models"),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path) -> set[str]:
    """Modules of `welfare` that `path` imports at run time (any depth, not TYPE_CHECKING)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("welfare"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    name = f"{base}.{child.module}" if child.module else base
                else:
                    name = child.module or ""
                if name.startswith("welfare"):
                    # `from pkg import submodule` imports the submodule; `from m import name`
                    # imports m. Which is which is settled in _graph, where modules are known.
                    found.update(f"{name}.{a.name}" for a in child.names)
                    found.add(f"{name}:")
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


@functools.cache
def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = _imports(path)
        deps = {m for m in found if m in modules}
        for base in (m[:-1] for m in found if m.endswith(":")):
            # `from base import a, b`: an edge to base unless every name is a submodule
            depth = base.count(".") + 1
            names = {m for m in found if m.startswith(base + ".") and m.count(".") == depth
                     and not m.endswith(":")}
            if base in modules and not names <= set(modules):
                deps.add(base)
        graph[name] = deps - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def _package_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles between top-level subpackages (welfare.a ↔ welfare.b), ignoring edges inside one."""
    def top(m: str) -> str:
        return ".".join(m.split(".")[:2])
    packages: dict[str, set[str]] = {}
    for m, deps in graph.items():
        packages.setdefault(top(m), set()).update(top(d) for d in deps if top(d) != top(m))
    for deps in packages.values():
        deps.discard("welfare")
    packages.pop("welfare", None)
    packages = {k: {d for d in v if d in packages} for k, v in packages.items()}
    return _cycles(packages)


def test_the_walker_sees_imports_and_skips_type_checking(tmp_path):
    graph = _graph()
    assert "welfare.stats.intervals" in graph
    assert "welfare.errors" in graph["welfare.config"]  # a plain module-level import
    # config names AssessmentConfig's probes only through welfare.probes at run time
    assert not any(d.startswith("welfare.assess") for d in graph["welfare.config"])


def test_no_module_import_cycles():
    assert _cycles(_graph()) == []


SHARED = ("welfare.models.base",)
"""Request, Response, Message: plain data types, not a model backend; any layer but stats may
use them (records are built from them)."""

PENDING: dict[str, str] = {}
"""Edges still present, each with the change that removes it; strict: fixed means delete here."""


def test_no_package_import_cycles():
    assert _package_cycles(_graph()) == []


def _forbidden_params() -> list:
    params = []
    for a, b, why in FORBIDDEN:
        key = f"{a}->{b}"
        marks = [pytest.mark.xfail(strict=True, reason=PENDING[key])] if key in PENDING else []
        params.append(pytest.param(a, b, why, id=key, marks=marks))
    return params


@pytest.mark.parametrize(("importer", "imported", "why"), _forbidden_params())
def test_forbidden_edge(importer, imported, why):
    graph = _graph()
    bad = sorted(f"{m} -> {d}" for m, deps in graph.items()
                 if m == importer or m.startswith(importer + ".")
                 for d in deps if d == imported or d.startswith(imported + "."))
    if importer != "welfare.stats":  # the data vocabulary every other layer speaks
        bad = [b for b in bad if not b.endswith(SHARED)]
    assert bad == [], f"{why}: {bad}"
