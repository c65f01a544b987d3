"""Self-reports: questions about the subject's own states, under neutral and leading framings.

One package: `banks` (items, framings, interviews), `options`, `probe` (design, conduct),
`parse` (ratings, yes/no/unsure, open answers), `analysis`, `figures`, `section.html.j2`.
"""

from welfare.probes.self_report.banks import (
    Context,
    Framing,
    Interview,
    Item,
    Turn,
    frame_question,
    load_framings,
    load_interviews,
    load_items,
    render_question,
)
from welfare.probes.self_report.options import SelfReportOptions
from welfare.probes.self_report.probe import Banks, SelfReportProbe, load_banks

__all__ = [
    "Banks", "Context", "Framing", "Interview", "Item", "SelfReportOptions", "SelfReportProbe",
    "Turn", "frame_question", "load_banks", "load_framings", "load_interviews", "load_items",
    "render_question",
]
