"""Reports: one self-contained HTML file, summary.json and CSV tables per assessment;
`write_comparison` for a report across separate assessments (loaded by
`welfare.assess.compare_assessments`)."""

from welfare.report.compare import write_comparison
from welfare.report.crosssubject import compare_units, cross_subject, finding_difference
from welfare.report.render import (
    ReportOptions,
    answer_counts,
    mask_timestamps,
    rank_findings,
    render_report,
    report_findings,
    summary_json,
    write_tables,
)
from welfare.report.transcripts import sample_transcripts

__all__ = [
    "ReportOptions",
    "answer_counts",
    "compare_units",
    "cross_subject",
    "finding_difference",
    "mask_timestamps",
    "rank_findings",
    "render_report",
    "report_findings",
    "sample_transcripts",
    "summary_json",
    "write_comparison",
    "write_tables",
]
