"""The `welfare code` report: one self-contained, autoescaped HTML page from a run's summary.

It carries the prevalence table with the coder's measured recall and precision beside each
label, the trajectory figure, and the examples viewer shared with the assessment report
(`templates/code_examples.html.j2`): per label, the full coded turns with the evidence marked
and a filter by label. Scripts run under a Content-Security-Policy that allows only the
report's own script (by hash), so no text from a transcript can run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from welfare.coders.codebook import Codebook
from welfare.coders.reliability import measured
from welfare.report.plots.coders import monitor_figure
from welfare.report.render import format_number, script_hash

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def render_monitor_report(summary: dict[str, Any], codebook: Codebook) -> str:
    """The monitoring report as one self-contained, autoescaped HTML page."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    names = {label.id: label.name for label in codebook.labels}
    figure = monitor_figure(summary, names)
    js = (STATIC / "report.js").read_text(encoding="utf-8")
    coder = str(summary.get("coder", ""))
    reliability = {label.id: measured(coder, label.id) for label in codebook.labels}
    return env.get_template("coders_monitor.html.j2").render(
        summary=summary, names=names, figure=figure,
        labels=[{"id": lab.id, "name": lab.name, "definition": lab.definition}
                for lab in codebook.labels],
        reliability=reliability, css=(STATIC / "report.css").read_text(encoding="utf-8"),
        js=js, script_hash=script_hash(js),
        examples=summary.get("examples", []), label_names=names,
        per_label=summary.get("examples_per_label", 5),
    )
