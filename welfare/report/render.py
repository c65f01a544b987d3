"""Render an assessment: report.html (Jinja2, autoescaped), summary.json and tables/*.csv."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from welfare.version import __version__

if TYPE_CHECKING:
    from welfare.assess import Assessment

TEMPLATES = Path(__file__).parent / "templates"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # transcripts hold arbitrary text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    return env


def format_number(value: Any, digits: int = 3) -> str:
    """A number for a reader: 3 significant digits, no scientific notation for usual values."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if x != x:
        return "n/a"
    if x == int(x) and abs(x) < 1e6:
        return f"{int(x):,}"
    return f"{x:.{digits}g}" if abs(x) < 1e-3 or abs(x) >= 1e4 else f"{x:.{digits}f}".rstrip("0")


def summary_json(assessment: Assessment) -> dict[str, Any]:
    """summary.json (DESIGN.md): every finding as estimate, CI, n, unit, per subject."""
    subjects: dict[str, Any] = {}
    for spec in [s.spec for s in assessment.config.subjects]:
        subjects[spec] = {
            "simulated": bool(assessment.subjects.get(spec, {}).get("simulated", False)),
            "findings": {},
        }
    for f in assessment.findings:
        entry = subjects.setdefault(f.subject, {"simulated": False, "findings": {}})
        entry["findings"][f.id] = f.to_json()
    return {
        "assessment": assessment.config.name,
        "toolkit_version": __version__,
        "subjects": subjects,
    }


def write_tables(assessment: Assessment, folder: Path) -> list[Path]:
    """Every probe table as `<probe>.<table>.csv`, plus `findings.csv`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "findings.csv"]
    assessment.findings_frame().to_csv(written[0], index=False)
    for result in assessment.results:
        for name, table in result.tables.items():
            path = folder / f"{result.probe}.{_slug(name)}.csv"
            table.to_csv(path, index=True if table.index.name else False)
            written.append(path)
    return written


def render_report(assessment: Assessment) -> str:
    """The report as one HTML string (inline CSS and SVG; no network)."""
    env = _environment()
    sections = []
    for result in assessment.results:
        name = f"sections/{result.probe}.html.j2"
        template = env.get_template(
            name if (TEMPLATES / name).exists() else "sections/generic.html.j2"
        )
        sections.append(
            {"probe": result.probe, "html": template.render(result=result, assessment=assessment)}
        )
    return env.get_template("report.html.j2").render(
        assessment=assessment, sections=sections, version=__version__
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")
