"""Render a :class:`~cx_text.reports.team.TeamReport` to HTML, PDF, XLSX and Markdown.

One view model (:func:`view`) of formatted strings feeds the HTML template and the Markdown
writer, so all formats say the same thing. Customer text is escaped by Jinja2 autoescape in HTML,
escaped for Markdown tables in ``.md``, and neutralised in XLSX (a cell starting with
``= + - @`` gets a leading ``'`` and is written as a string, never a formula).
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd

from cx_text.io.output import neutralize
from cx_text.loop.register import NEXT_STATUSES
from cx_text.reports import charts as report_charts

if TYPE_CHECKING:
    from cx_text.reports.team import TeamReport

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE = "team_report.html.j2"
LOWER_IS_BETTER = {"volume", "complaint_share", "topic_neg_share"}
BARS = "▁▂▃▄▅▆▇█"
LEVEL_NAMES = {"theme": "theme", "subtopic": "sub-topic", "topic": "topic"}


# -- formatting helpers ----------------------------------------------------------------------------
def _missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or value is pd.NA
        or value is pd.NaT
    )


def fmt(value: Any, digits: int = 1, sign: bool = False, unit: str = "") -> str:
    if _missing(value):
        return "–"
    return f"{float(value):{'+' if sign else ''},.{digits}f}{unit}"


def fmt_p(value: Any) -> str:
    if _missing(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def fmt_date(value: Any) -> str:
    return "" if _missing(value) else str(value)[:10]


def spark_text(values: list[float]) -> str:
    """Unicode sparkline for Markdown and spreadsheets."""
    if not values:
        return ""
    top = max(values) or 1.0
    return "".join(BARS[min(len(BARS) - 1, round((len(BARS) - 1) * v / top))] for v in values)


def _direction(metric: str, change: float, p: float) -> str:
    """``good`` / ``bad`` for significant changes (p < 0.05), else ``flat``."""
    if _missing(change) or _missing(p) or p >= 0.05 or change == 0:
        return "flat"
    better = change < 0 if metric in LOWER_IS_BETTER else change > 0
    return "good" if better else "bad"


# -- the view model --------------------------------------------------------------------------------
def view(report: TeamReport, charts: bool = True) -> dict[str, Any]:
    """Formatted strings (and chart URIs) for templates."""
    return {
        "title": report.title,
        "team": report.team.name(),
        "team_id": report.team.id,
        "team_ru": report.team.name("ru"),
        "period": report.period.label,
        "period_span": f"{report.period.start} – {report.period.end}",
        "previous": report.previous.label,
        "generated": f"{report.generated_at:%Y-%m-%d %H:%M} UTC",
        "notes": report.notes,
        "headline": [_headline_row(r) for r in report.headline.to_dict("records")],
        "level": LEVEL_NAMES[report.theme_level],
        "themes": [_theme_row(r, charts) for r in report.themes.to_dict("records")],
        "items": [_item_row(r, report) for r in report.open_items.to_dict("records")],
        "verified": [_verified_row(r) for r in report.verified.to_dict("records")],
        "followup_total": report.followup_total,
        "followups": report.followups.to_dict("records"),
        "charts": _charts(report) if charts else {},
        "methods": sorted({r["formula"] for r in report.headline.to_dict("records")}),
    }


def _headline_row(r: dict[Any, Any]) -> dict[str, Any]:
    digits = 0 if r["metric"] == "volume" else 1
    unit = "%" if r["unit"] == "%" else ""
    ci = "" if _missing(r["lo"]) else f"{fmt(r['lo'], digits)}…{fmt(r['hi'], digits)}"
    return {
        "label": r["label"],
        "value": fmt(r["value"], digits, unit=unit),
        "ci": ci,
        "previous": fmt(r["previous"], digits, unit=unit),
        "change": fmt(
            r["change"], digits, sign=True, unit=" pts" if r["unit"] != "messages" else ""
        ),
        "p": fmt_p(r["p_value"]),
        "n": fmt(r["n"], 0),
        "direction": _direction(r["metric"], r["change"], r["p_value"]),
        "significant": not _missing(r["p_value"]) and r["p_value"] < 0.05,
    }


def _theme_row(r: dict[Any, Any], charts: bool) -> dict[str, Any]:
    prev, cur = r["volume_prev"], r["volume"]
    change = "new" if not prev else f"{100 * (cur - prev) / prev:+.0f}%"
    return {
        "key": r["key"],
        "label": r["label"],
        "volume": fmt(cur, 0),
        "volume_prev": fmt(prev, 0),
        "change": change,
        "impact": fmt(r["impact"], 1, sign=True),
        "impact_ci": ""
        if _missing(r["impact_lo"])
        else f"{fmt(r['impact_lo'], 1, True)}…{fmt(r['impact_hi'], 1, True)}",
        "low_n": bool(r["low_n"]),
        "spark_uri": report_charts.sparkline_uri(r["spark"]) if charts else "",
        "spark_text": spark_text(r["spark"]),
        "spark_max": fmt(max(r["spark"], default=0), 0),
        "quotes": list(r["quotes"]),
    }


def _item_row(r: dict[Any, Any], report: TeamReport) -> dict[str, Any]:
    due = r["due_date"]
    overdue = not _missing(due) and pd.Timestamp(due).date() < date.today()
    fu = (
        report.followups.set_index("item_id")["customers"].to_dict()
        if len(report.followups)
        else {}
    )
    return {
        "id": r["item_id"],
        "title": r["title"],
        "subject": r["theme_id"] if isinstance(r["theme_id"], str) else r["topic"],
        "status": r["status"].replace("_", " "),
        "owner": r["owner"] if isinstance(r["owner"], str) else "",
        "due": fmt_date(due),
        "overdue": overdue,
        "fixed": fmt_date(r["fixed_at"]),
        "verdict": r["verdict"] if isinstance(r["verdict"], str) else "",
        "next": ", ".join(s.replace("_", " ") for s in NEXT_STATUSES[r["status"]]),
        "followup": fu.get(r["item_id"], 0),
    }


def _verified_row(r: dict[Any, Any]) -> dict[str, Any]:
    return {
        "id": r["item_id"],
        "title": r["title"],
        "subject": r["subject"],
        "fixed": fmt_date(r["fixed_at"]),
        "share": f"{fmt(r['share_before'], 1, unit='%')} → {fmt(r['share_after'], 1, unit='%')}",
        "weekly": f"{fmt(r['weekly_before'], 1)} → {fmt(r['weekly_after'], 1)}",
        "impact": f"{fmt(r['impact_before'], 1, True)} → {fmt(r['impact_after'], 1, True)}",
        "p": fmt_p(r["p_value"]),
        "did": r["did"] if isinstance(r["did"], str) else "",
    }


def _charts(report: TeamReport) -> dict[str, str | None]:
    return {
        "complaints": report_charts.complaint_trend_uri(report.complaint_trend, report.team.name()),
        "nps": report_charts.nps_trend_uri(report.nps_trend),
        "impact": report_charts.impact_uri(report.themes),
    }


# -- HTML / PDF -----------------------------------------------------------------------------------
def render_html(report: TeamReport) -> str:
    """The self-contained HTML page (autoescaped; charts as inline data URIs)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(TEMPLATE).render(**view(report))


def write_html(report: TeamReport, path: Path) -> None:
    path.write_text(render_html(report), encoding="utf-8")


def write_pdf(report: TeamReport, path: Path) -> None:
    """PDF drawn by WeasyPrint from the same HTML (A4, page numbers in the footer)."""
    import logging

    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    HTML(string=render_html(report), base_url=str(TEMPLATES_DIR)).write_pdf(path)


# -- Markdown --------------------------------------------------------------------------------------
_MD_ESCAPE = str.maketrans(
    {c: "\\" + c for c in "\\`*_[]|#"} | {"<": "&lt;", ">": "&gt;", "\n": " ", "\r": " "}
)


def md(value: Any) -> str:
    """Text safe inside a Markdown table cell (no HTML, no breaking pipes or emphasis)."""
    return str(value).translate(_MD_ESCAPE)


def render_markdown(report: TeamReport) -> str:
    from cx_text.reports.markdown import markdown_lines

    return "\n".join(markdown_lines(view(report, charts=False), md)) + "\n"


def write_markdown(report: TeamReport, path: Path) -> None:
    path.write_text(render_markdown(report), encoding="utf-8")


def write_xlsx(report: TeamReport, path: Path) -> None:
    from cx_text.reports.xlsx import write_workbook

    write_workbook(report, view(report, charts=False), path)


__all__ = [
    "fmt",
    "fmt_p",
    "md",
    "neutralize",
    "render_html",
    "render_markdown",
    "spark_text",
    "view",
    "write_html",
    "write_markdown",
    "write_pdf",
    "write_xlsx",
]
