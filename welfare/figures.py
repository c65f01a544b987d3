"""Figures as inline SVG: matplotlib drawn deterministically, text kept as text.

One module per probe holds that probe's figures; this module holds what they share: the style,
and `figure_to_svg`, which strips dates and random ids so the same data gives the same bytes.
"""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure as MplFigure

STYLE = {
    "svg.fonttype": "none",  # text stays text: searchable, small, readable when printed
    "svg.hashsalt": "welfare",  # deterministic element ids
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
}

PALETTE = ["#3b6ea8", "#c2571a", "#4d9a4d", "#8e5ba8", "#b8a02c", "#5f6b73", "#c24a6b"]
"""Colour per subject or group, colour-blind tolerable, in a fixed order."""

IMPACT_COLOURS = {
    "positive": "#4d9a4d",
    "neutral": "#5f6b73",
    "ambiguous": "#b8a02c",
    "harmful": "#c2571a",
    "free_choice": "#3b6ea8",
    "opt_out": "#222222",
}


def new_figure(width: float = 7.0, height: float = 4.0) -> tuple[MplFigure, plt.Axes]:
    """A figure and axes in the report style (size in inches)."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def figure_to_svg(fig: MplFigure, *, title: str = "") -> str:
    """Render and close `fig`; return an `<svg>` element without XML prolog or metadata."""
    buffer = io.StringIO()
    with plt.rc_context(STYLE):
        fig.savefig(
            buffer,
            format="svg",
            bbox_inches="tight",
            metadata={"Date": None, "Creator": None, "Title": title or None},
        )
    plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    return svg.replace('width="', 'class="figure" width="', 1)
