"""Reports: one self-contained HTML file, summary.json and CSV tables per assessment."""

from welfare.report.render import render_report, summary_json, write_tables

__all__ = ["render_report", "summary_json", "write_tables"]
