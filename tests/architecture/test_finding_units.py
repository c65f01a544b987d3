"""Every finding names what its n counts: each `Finding(...)` built in `welfare` passes `n_unit`.

The contract test (tests/probes/test_contract.py) checks the findings of a small run of every
probe; this walks the source with `ast`, so findings a small run never reaches (coders,
cross-subject, the report's own invalid rates, rare branches) are held to it too. The
constructors in `welfare.findings` that derive n's unit ("share of answers" → answers) are the
only other way to build a finding.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "welfare"

PENDING: tuple[str, ...] = ()
"""Sources allowed to build a finding without `n_unit` while they are rewritten (none now)."""


def _finding_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name) and node.func.id == "Finding"]


def _has_n_unit(call: ast.Call) -> bool:
    # Finding's 12th field is n_unit: 12 positional arguments name it too; **kwargs may
    return len(call.args) >= 12 or any(k.arg in ("n_unit", None) for k in call.keywords)


def test_every_finding_built_in_welfare_names_its_n() -> None:
    missing, calls = [], 0
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for call in _finding_calls(path):
            calls += 1
            if not _has_n_unit(call) and not rel.startswith(PENDING):
                missing.append(f"{rel}:{call.lineno}")
    assert calls > 20  # the walk found the findings (a broken walk would pass vacuously)
    assert not missing, f"Finding(...) without n_unit=: {missing}"


def test_the_walk_sees_a_missing_n_unit(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("Finding('a', 's', 1.0, (0, 1), 3, 'u', 'x')\n"
                   "Finding('a', 's', 1.0, (0, 1), 3, 'u', 'x', n_unit='items')\n")
    assert [_has_n_unit(c) for c in _finding_calls(src)] == [False, True]
