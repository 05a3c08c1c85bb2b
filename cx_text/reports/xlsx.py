"""XLSX team report: one sheet per section, written cell by cell with xlsxwriter.

Every text cell goes through :func:`cx_text.io.output.neutralize` and ``write_string`` (and the
workbook has ``strings_to_formulas`` off), so ``=HYPERLINK(…)`` in a quote stays text.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import xlsxwriter

from cx_text.io.output import XLSX_MAX_CELL, neutralize

if TYPE_CHECKING:
    from cx_text.reports.team import TeamReport

_OPTIONS = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "nan_inf_to_errors": False,
}


def write_workbook(report: TeamReport, v: dict[str, Any], path: Path) -> None:
    """Sheets: Summary, Headline, Themes, Open items, You said we did, Follow-up, Methods."""
    book = xlsxwriter.Workbook(str(path), _OPTIONS)
    try:
        fmt = {
            "head": book.add_format(
                {"bold": True, "bg_color": "#eef2f6", "text_wrap": True, "valign": "top"}
            ),
            "wrap": book.add_format({"text_wrap": True, "valign": "top"}),
            "num": book.add_format({"num_format": "#,##0.0", "valign": "top"}),
            "title": book.add_format({"bold": True, "font_size": 14}),
        }
        _summary(book, v, fmt)
        h = report.headline
        _sheet(
            book,
            "Headline",
            fmt,
            [
                "Metric",
                v["period"],
                "95% CI from",
                "95% CI to",
                v["previous"],
                "Change",
                "p-value",
                "n",
                "Unit",
                "Formula",
            ],
            h[
                [
                    "label",
                    "value",
                    "lo",
                    "hi",
                    "previous",
                    "change",
                    "p_value",
                    "n",
                    "unit",
                    "formula",
                ]
            ].values.tolist(),
            [40, 12, 12, 12, 12, 12, 10, 10, 10, 60],
        )
        _sheet(
            book,
            "Themes",
            fmt,
            [
                "#",
                "Id",
                v["level"].capitalize(),
                "Complaints",
                v["previous"],
                "Change, %",
                "NPS impact",
                "CI from",
                "CI to",
                "Few answers",
                "13 weeks",
                "Quotes",
            ],
            [
                [
                    i,
                    r["key"],
                    r["label"],
                    r["volume"],
                    r["volume_prev"],
                    _pct_change(r["volume"], r["volume_prev"]),
                    r["impact"],
                    r["impact_lo"],
                    r["impact_hi"],
                    "yes" if r["low_n"] else "",
                    t["spark_text"],
                    "\n".join(r["quotes"]),
                ]
                for i, (r, t) in enumerate(
                    zip(report.themes.to_dict("records"), v["themes"], strict=True), 1
                )
            ],
            [5, 16, 40, 11, 11, 10, 11, 9, 9, 8, 16, 80],
        )
        _sheet(
            book,
            "Open items",
            fmt,
            [
                "#",
                "Title",
                "Theme/topic",
                "Status",
                "Next",
                "Owner",
                "Due",
                "Overdue",
                "Fixed",
                "Re-measured",
                "Follow up",
            ],
            [
                [
                    i["id"],
                    i["title"],
                    i["subject"],
                    i["status"],
                    i["next"],
                    i["owner"],
                    i["due"],
                    "yes" if i["overdue"] else "",
                    i["fixed"],
                    i["verdict"],
                    i["followup"],
                ]
                for i in v["items"]
            ],
            [5, 40, 18, 16, 24, 16, 11, 8, 11, 12, 10],
        )
        _sheet(
            book,
            "You said we did",
            fmt,
            [
                "#",
                "You said",
                "Theme/topic",
                "We did",
                "Fixed",
                "Complaints % before",
                "after",
                "Per week before",
                "after",
                "NPS impact before",
                "after",
                "p-value",
            ],
            [
                [
                    r["item_id"],
                    r["title"],
                    r["subject"],
                    r["did"],
                    str(r["fixed_at"])[:10],
                    r["share_before"],
                    r["share_after"],
                    r["weekly_before"],
                    r["weekly_after"],
                    r["impact_before"],
                    r["impact_after"],
                    r["p_value"],
                ]
                for r in report.verified.to_dict("records")
            ],
            [5, 40, 18, 40, 11, 12, 9, 12, 9, 12, 9, 9],
        )
        _sheet(
            book,
            "Follow-up",
            fmt,
            ["#", "Item", "Status", "Customers", "Anonymous"],
            [
                [f["item_id"], f["title"], f["status"], f["customers"], f["anonymous"]]
                for f in v["followups"]
            ],
            [5, 40, 16, 11, 11],
        )
        _sheet(
            book,
            "Methods",
            fmt,
            ["How the numbers are computed"],
            [[m] for m in v["methods"]],
            [120],
        )
    finally:
        book.close()


def _pct_change(cur: float, prev: float) -> float | None:
    return 100 * (cur - prev) / prev if prev else None


def _summary(book: xlsxwriter.Workbook, v: dict[str, Any], fmt: dict[str, Any]) -> None:
    ws = book.add_worksheet("Summary")
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 90)
    _cell(ws, 0, 0, v["title"], fmt["title"])
    rows = [
        ("Team", f"{v['team']} ({v['team_id']})"),
        ("Period", f"{v['period']} ({v['period_span']})"),
        ("Compared with", v["previous"]),
        ("Generated", v["generated"]),
        ("Open register items", len(v["items"])),
        ("Verified fixes", len(v["verified"])),
        ("Customers to follow up", v["followup_total"]),
        *(("Note", n) for n in v["notes"]),
    ]
    for i, (key, value) in enumerate(rows, 2):
        _cell(ws, i, 0, key, fmt["head"])
        _cell(ws, i, 1, value, fmt["wrap"])


def _sheet(
    book: xlsxwriter.Workbook,
    name: str,
    fmt: dict[str, Any],
    header: list[str],
    rows: list[list[Any]],
    widths: list[int],
) -> None:
    ws = book.add_worksheet(name)
    for col, (title, width) in enumerate(zip(header, widths, strict=True)):
        ws.set_column(col, col, width)
        _cell(ws, 0, col, title, fmt["head"])
    for r, row in enumerate(rows, 1):
        for c, value in enumerate(row):
            _cell(ws, r, c, value, fmt["num"] if isinstance(value, float) else fmt["wrap"])
    ws.freeze_panes(1, 0)
    if rows:
        ws.autofilter(0, 0, len(rows), len(header) - 1)


def _cell(ws: Any, row: int, col: int, value: Any, cell_format: Any = None) -> None:
    """Numbers as numbers, missing as blank, every string neutralised and written as a string."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        ws.write_blank(row, col, None, cell_format)
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, cell_format)
    elif isinstance(value, numbers.Real):
        ws.write_number(row, col, value, cell_format)
    else:
        text = str(neutralize(str(value)))
        ws.write_string(row, col, text[:XLSX_MAX_CELL], cell_format)
