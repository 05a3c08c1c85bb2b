"""Static charts for reports: Altair (``viz`` builders where they exist) → SVG → ``data:`` URI.

Charts are embedded as ``<img src="data:…;base64,…">`` (PNG for Altair charts, a hand-drawn SVG
polyline for sparklines): the HTML stays one self-contained file, WeasyPrint draws the same
images in the PDF, and an image can never run script, whatever text ends up inside it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd

from cx_text.analytics import viz

WIDTH = 640
SPARK_W, SPARK_H = 120, 26


def png_uri(chart: Any, scale: float = 1.5) -> str:
    """Render an Altair chart to a PNG data URI with vl-convert (offline, no browser).

    PNG rather than SVG: vl-convert lays text out with its own font metrics, so an SVG drawn by
    another renderer (WeasyPrint, a browser) can clip Cyrillic labels; a PNG looks the same
    everywhere.
    """
    import vl_convert as vlc

    png = vlc.vegalite_to_png(chart.to_dict(), scale=scale)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def complaint_trend_uri(share: pd.DataFrame, team_name: str) -> str | None:
    """Weekly complaints about the team's topics as % of all feedback (None when no data)."""
    if share.empty:
        return None
    data = share.assign(volume=share["n_neg"])
    chart = viz.trend_chart(
        data,
        value="complaint_share",
        title=f"{team_name}: complaints per week",
        y_title="% of all feedback",
    )
    return png_uri(chart.properties(width=WIDTH, height=200))


def nps_trend_uri(nps: pd.DataFrame) -> str | None:
    """Weekly company NPS with its 95% CI band (None when no data)."""
    if nps.empty:
        return None
    base = alt.Chart(nps).encode(x=alt.X("period:T", title="week"))
    band = base.mark_area(opacity=0.2, color=viz.BAR_COLOR).encode(
        y=alt.Y("lo:Q", title="NPS, points"), y2="hi:Q"
    )
    line = base.mark_line(point=True, color=viz.BAR_COLOR).encode(y="nps:Q")
    title = alt.TitleParams("Company NPS per week", subtitle="band = 95% CI", anchor="start")
    return png_uri((band + line).properties(width=WIDTH, height=170, title=title))


def impact_uri(themes: pd.DataFrame) -> str | None:
    """Bars of the themes' NPS impact with CIs (``viz.impact_chart``)."""
    rows = themes.dropna(subset=["impact"])
    if rows.empty:
        return None
    data = pd.DataFrame(
        {
            "key": rows["key"],
            "value": rows["impact"],
            "lo": rows["impact_lo"],
            "hi": rows["impact_hi"],
            "n": rows["impact_n"],
            "low_n": rows["low_n"].astype(bool),
        }
    )
    names = {k: _short(str(label)) for k, label in zip(rows["key"], rows["label"], strict=True)}
    chart = viz.impact_chart(data, metric="value", names=names, title="What costs NPS this period")
    return png_uri(chart.properties(width=WIDTH - 160))


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sparkline_svg(values: Sequence[float]) -> str:
    """A tiny inline SVG polyline of weekly counts, last point marked (empty string if < 2)."""
    clean = [
        0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values
    ]
    if len(clean) < 2:
        return ""
    top = max(clean) or 1.0
    step = (SPARK_W - 4) / (len(clean) - 1)
    points = [(2 + i * step, SPARK_H - 3 - (SPARK_H - 6) * v / top) for i, v in enumerate(clean)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    x, y = points[-1]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SPARK_W}" height="{SPARK_H}" '
        f'viewBox="0 0 {SPARK_W} {SPARK_H}" role="img" aria-label="weekly complaints">'
        f'<polyline fill="none" stroke="{viz.BAR_COLOR}" stroke-width="1.5" points="{path}"/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{viz.ALERT_COLOR}"/></svg>'
    )


def sparkline_uri(values: Sequence[float]) -> str:
    svg = sparkline_svg(values)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode() if svg else ""
