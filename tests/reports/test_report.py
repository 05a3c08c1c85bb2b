"""Team reports: periods, section numbers against a hand count, all four formats, and that
customer text cannot inject script (HTML), markup (Markdown) or formulas (XLSX)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from cx_text.cli.main import cli
from cx_text.loop import service as loop
from cx_text.reports.render import md, render_html, render_markdown
from cx_text.reports.team import build_team_report, parse_period, write_report, write_team_reports
from cx_text.store.store import Store, open_store
from tests.error_codes import raises_code
from tests.loop.test_loop import feedback_row, fill

SCRIPT = "<script>alert(1)</script> курьер опоздал"
FORMULA = '=HYPERLINK("http://evil.example","Курьер опоздал")'
PIPE = "Late | **bold** [link](http://x) # heading"


@pytest.mark.parametrize(
    ("text", "start", "end", "previous"),
    [
        ("2026-10", date(2026, 10, 1), date(2026, 10, 31), "2026-09"),
        ("2026-01", date(2026, 1, 1), date(2026, 1, 31), "2025-12"),
        ("2026-W42", date(2026, 10, 12), date(2026, 10, 18), "2026-W41"),
        ("2026-W01", date(2025, 12, 29), date(2026, 1, 4), "2025-W52"),
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31), "2025-Q4"),
        ("2026-10-01..2026-10-10", date(2026, 10, 1), date(2026, 10, 10), "2026-09-21..2026-09-30"),
    ],
)
def test_report_parse_period(text: str, start: date, end: date, previous: str) -> None:
    period = parse_period(text)
    assert (period.start, period.end, period.previous().label) == (start, end, previous)


@pytest.mark.parametrize("bad", ["2026-13", "октябрь", "2026-W60", "2026-10-10..2026-10-01", ""])
def test_report_parse_period_rejects(bad: str) -> None:
    with raises_code("CX-E010", "2026-W42"):
        parse_period(bad)


def _month_rows(start_id: int, month: date, n: int, k: int) -> list[dict[str, object]]:
    """``n`` messages spread over a month, the first ``k`` delivery complaints (NPS 1)."""
    return [
        feedback_row(
            start_id + j,
            month + timedelta(days=j % 28),
            member=j < k,
            nps=1 if j < k else (10 if j % 2 else 8),
            text=[SCRIPT, FORMULA, PIPE][j % 3] if j < k else None,
        )
        for j in range(n)
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    rows = _month_rows(0, date(2026, 9, 1), 120, 30) + _month_rows(1000, date(2026, 10, 1), 100, 10)
    with open_store(fill(tmp_path / "r.duckdb", rows)) as st:
        fixed = loop.open_item(st, topic="delivery", title="Курьеры опаздывают <b>", owner="Ольга")
        for status in ("acknowledged", "in_progress"):
            loop.update_item(st, fixed.item_id, status=status)
        loop.update_item(
            st,
            fixed.item_id,
            status="fixed",
            fixed_at=date(2026, 10, 1),
            note="вернули прежнего партнёра",
        )
        loop.update_item(st, fixed.item_id, status="customers_notified")
        loop.verify_item(st, fixed.item_id, window="4w", gap=0)
        loop.open_item(
            st, topic="delivery", title=SCRIPT, due=date(2026, 10, 20)
        )  # the first is verified
        yield st


def test_report_sections_match_hand_count(store: Store) -> None:
    report = build_team_report(store, "logistics", "2026-10")
    head = report.headline.set_index("metric")
    assert head.loc["complaint_share", "value"] == pytest.approx(100 * 10 / 100)
    assert head.loc["complaint_share", "previous"] == pytest.approx(100 * 30 / 120)
    assert head.loc["complaint_share", "p_value"] < 0.05
    # NPS of the writers: complaints are detractors → −100 both months
    assert head.loc["topic_nps", "value"] == pytest.approx(-100)
    nps_all = 100 * (45 - 10) / 100  # 45 promoters, 45 passives, 10 detractors
    assert head.loc["nps", "value"] == pytest.approx(nps_all)
    assert head.loc["impact", "value"] == pytest.approx(nps_all - 100 * 45 / 90)
    assert report.theme_level == "topic" and report.themes["volume"].tolist() == [10]
    assert len(report.themes["spark"].iloc[0]) == 9  # weeks of data from 2026-09-01 to 2026-10-31
    assert report.verified["did"].tolist() == ["вернули прежнего партнёра"]
    assert report.open_items["title"].tolist() == [SCRIPT]
    assert report.followups["customers"].tolist() == [10]  # October's 10 detractors, all with ids


def test_report_html_escapes_customer_text(store: Store) -> None:
    html = render_html(build_team_report(store, "delivery", "2026-10"))
    assert (
        "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    )
    assert "Курьеры опаздывают &lt;b&gt;" in html
    assert not re.search(
        r"<(?:script|iframe|link)\b", html
    )  # self-contained: no script, no external CSS
    assert "data:image/png;base64," in html and "data:image/svg+xml;base64," in html
    assert not re.search(r'src="https?://', html)


def test_report_markdown_escapes_tables_and_markup(store: Store) -> None:
    text = render_markdown(build_team_report(store, "delivery", "2026-10"))
    assert "<script>" not in text and "&lt;script&gt;" in text
    for line in text.splitlines():
        if line.startswith("| ") and "Late" in line:
            assert r"Late \| \*\*bold\*\* \[link\]" in line
    assert md("a|b\nc") == r"a\|b c"


def test_report_xlsx_neutralizes_formulas(store: Store, tmp_path: Path) -> None:
    path = write_report(build_team_report(store, "delivery", "2026-10"), tmp_path / "d.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [
        "Summary",
        "Headline",
        "Themes",
        "Open items",
        "You said we did",
        "Follow-up",
        "Methods",
    ]
    cells = [
        c
        for ws in book.worksheets
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and "HYPERLINK" in c.value
    ]
    assert cells and all(c.data_type == "s" for c in cells)
    assert all(not c.value.startswith("=") for c in cells)
    assert any(c.value.startswith("'=HYPERLINK") for c in cells)
    headline = {r[0].value: r[1].value for r in book["Headline"].iter_rows(min_row=2)}
    assert headline["Complaints about delivery, % of all feedback"] == pytest.approx(10.0)


@pytest.mark.slow
def test_report_pdf_renders_pages(store: Store, tmp_path: Path) -> None:
    from weasyprint import HTML

    report = build_team_report(store, "delivery", "2026-10")
    data = write_report(report, tmp_path / "d.pdf").read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000
    assert len(HTML(string=render_html(report)).render().pages) >= 2


def test_report_all_teams_one_file_each(store: Store, tmp_path: Path) -> None:
    paths = write_team_reports(store, tmp_path / "out.md", "all", "2026-10")
    assert [p.name for p in paths][:2] == ["out-delivery.md", "out-store_staff.md"]
    assert len(paths) == len(loop.load_teams().teams) and all(p.stat().st_size > 500 for p in paths)
    into_dir = write_team_reports(store, tmp_path / "reports", "pricing", "2026-10", fmt=".md")
    assert [p.name for p in into_dir] == ["pricing-2026-10.md"]


def test_report_rejects_unknown_format(store: Store, tmp_path: Path) -> None:
    with raises_code("CX-E010", ".pdf"):
        write_report(build_team_report(store, "delivery", "2026-10"), tmp_path / "d.docx")


def test_report_cli_writes_markdown(tmp_path: Path) -> None:
    db = fill(tmp_path / "c.duckdb", _month_rows(0, date(2026, 10, 1), 60, 12))
    out = tmp_path / "delivery.md"
    result = CliRunner().invoke(
        cli, ["report", "--db", str(db), "--team", "delivery", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "2026-10" in out.read_text(encoding="utf-8")  # default period: the newest month
