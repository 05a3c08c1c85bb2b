"""Team reports: one team, one period — what customers said, what it cost, what was done about it.

:func:`build_team_report` gathers the sections (headline metrics vs the previous period, the
team's themes ranked by NPS impact with sparklines and quotes, open register items, verified
fixes — "you said, we did" — and follow-up list sizes); :func:`write_report` renders it to
``.html`` (self-contained, charts inline), ``.pdf`` (WeasyPrint, from the same HTML), ``.xlsx``
(one sheet per section, formula-safe) or ``.md``. :func:`write_team_reports` does every team.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.analytics.filters import Filters
from cx_text.analytics.metrics import require_rows
from cx_text.core.config import Settings
from cx_text.core.errors import ConfigError
from cx_text.loop.service import (
    Measurement,
    Team,
    Teams,
    fix_note,
    followup,
    latest_measurement,
    list_items,
    load_teams,
)
from cx_text.reports.sections import headline, team_themes, weekly_series
from cx_text.store.store import Store

FORMATS = (".html", ".pdf", ".xlsx", ".md")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$", re.IGNORECASE)
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*(?:\.\.|/)\s*(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Period:
    """A reporting period: inclusive first and last day, and its label (``2026-10``)."""

    label: str
    start: date
    end: date
    kind: str  # month | week | quarter | range

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        if self.kind == "month":
            return parse_period(f"{self.start - timedelta(days=1):%Y-%m}")
        if self.kind == "quarter":
            last = self.start - timedelta(days=1)
            return parse_period(f"{last.year}-Q{(last.month - 1) // 3 + 1}")
        if self.kind == "week":
            iso = (self.start - timedelta(days=7)).isocalendar()
            return parse_period(f"{iso.year}-W{iso.week:02d}")
        end = self.start - timedelta(days=1)
        return Period(
            f"{end - timedelta(days=self.days - 1)}..{end}",
            end - timedelta(days=self.days - 1),
            end,
            "range",
        )

    def filters(self) -> Filters:
        return Filters(start=self.start, end=self.end)


def parse_period(text: str) -> Period:
    """``2026-10`` (month), ``2026-W42`` (ISO week), ``2026-Q3`` or ``2026-10-01..2026-10-31``."""
    value = text.strip()
    try:
        if m := _MONTH.match(value):
            start = date(int(m[1]), int(m[2]), 1)
            nxt = date(start.year + start.month // 12, start.month % 12 + 1, 1)
            return Period(value, start, nxt - timedelta(days=1), "month")
        if m := _WEEK.match(value):
            start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return Period(f"{m[1]}-W{int(m[2]):02d}", start, start + timedelta(days=6), "week")
        if m := _QUARTER.match(value):
            start = date(int(m[1]), 3 * int(m[2]) - 2, 1)
            nxt = date(start.year + (start.month + 3 > 12), (start.month + 2) % 12 + 1, 1)
            return Period(value.upper(), start, nxt - timedelta(days=1), "quarter")
        if m := _RANGE.match(value):
            start, end = date.fromisoformat(m[1]), date.fromisoformat(m[2])
            if end >= start:
                return Period(f"{start}..{end}", start, end, "range")
    except ValueError:
        pass
    raise ConfigError(
        f"period {text!r} is not understood.",
        "Use 2026-10 (month), 2026-W42 (ISO week), 2026-Q3 or 2026-10-01..2026-10-31.",
    )


def latest_period(store: Store) -> Period:
    """The month of the newest message in the store."""
    row = store.con.execute("SELECT max(created_at) FROM tagged").fetchone()
    if row is None or row[0] is None:
        raise ConfigError(
            "the store has no dated messages, so there is no period to report on.",
            "Pass --period, e.g. 2026-10.",
        )
    return parse_period(f"{row[0]:%Y-%m}")


@dataclass(frozen=True)
class TeamReport:
    """Everything a team report shows; renderers only format it."""

    team: Team
    period: Period
    previous: Period
    generated_at: datetime
    headline: pd.DataFrame
    theme_level: str  # theme | subtopic | topic
    themes: pd.DataFrame
    open_items: pd.DataFrame
    verified: pd.DataFrame
    followups: pd.DataFrame
    complaint_trend: pd.DataFrame
    nps_trend: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def followup_total(self) -> int:
        return int(self.followups["customers"].sum()) if len(self.followups) else 0

    @property
    def title(self) -> str:
        return f"{self.team.name()} — customer feedback report {self.period.label}"


def build_team_report(
    store: Store,
    team: str,
    period: str | Period | None = None,
    settings: Settings | None = None,
    teams: Teams | None = None,
) -> TeamReport:
    """Gather every section of one team's report for ``period`` (default: the latest month)."""
    settings, teams = settings or Settings(), teams or load_teams()
    require_rows(store)
    owner = teams.get(team)
    cur = (
        period
        if isinstance(period, Period)
        else (parse_period(period) if period else latest_period(store))
    )
    prev = cur.previous()
    days = (_observed_days(store, cur), _observed_days(store, prev))
    head = headline(store, owner.topics, cur.filters(), prev.filters(), days, settings)
    level, themes = team_themes(store, owner.topics, cur.filters(), prev.filters(), settings)
    share, nps = weekly_series(store, owner.topics, cur.end)
    items = list_items(store, team=owner.id, open_only=True, teams=teams)
    return TeamReport(
        owner,
        cur,
        prev,
        datetime.now(UTC).replace(tzinfo=None),
        head,
        level,
        themes,
        items,
        _verified(store, owner, cur, teams),
        _followups(store, items, cur),
        share,
        nps,
        _notes(days, cur, level),
    )


def _observed_days(store: Store, period: Period) -> int:
    """Days of the period that the store has data for (a period cut by the data end is shorter)."""
    row = store.con.execute(
        "SELECT CAST(min(created_at) AS DATE), CAST(max(created_at) AS DATE) FROM tagged"
    ).fetchone()
    if row is None or row[0] is None:
        return 0
    first, last = max(period.start, row[0]), min(period.end, row[1])
    return max((last - first).days + 1, 0)


def _verified(store: Store, team: Team, period: Period, teams: Teams) -> pd.DataFrame:
    """Verified items fixed on or before the period end, with their re-measurement."""
    items = list_items(store, team=team.id, status="verified", teams=teams)
    items = items[pd.to_datetime(items["fixed_at"]) <= pd.Timestamp(period.end)]
    rows = [
        _you_said(
            r, latest_measurement(store, int(r["item_id"])), fix_note(store, int(r["item_id"]))
        )
        for r in items.to_dict("records")
    ]
    return pd.DataFrame(rows, columns=VERIFIED_COLUMNS)


VERIFIED_COLUMNS = [
    "item_id",
    "title",
    "subject",
    "fixed_at",
    "verdict",
    "share_before",
    "share_after",
    "weekly_before",
    "weekly_after",
    "impact_before",
    "impact_after",
    "p_value",
    "did",
]


def _you_said(item: dict[Any, Any], m: Measurement | None, did: str | None) -> dict[str, Any]:
    s, v, i = (m.share, m.volume, m.nps_impact) if m else ({}, {}, {})
    return {
        "item_id": item["item_id"],
        "title": item["title"],
        "subject": item["theme_id"] if isinstance(item["theme_id"], str) else item["topic"],
        "fixed_at": item["fixed_at"],
        "verdict": m.verdict if m else "",
        "share_before": s.get("before"),
        "share_after": s.get("after"),
        "weekly_before": v.get("weekly_before"),
        "weekly_after": v.get("weekly_after"),
        "impact_before": i.get("before"),
        "impact_after": i.get("after"),
        "p_value": s.get("p_value"),
        "did": did,
    }


def _followups(store: Store, items: pd.DataFrame, period: Period) -> pd.DataFrame:
    rows = []
    for r in items.to_dict("records"):
        fu = followup(store, int(r["item_id"]), start=period.start, end=period.end)
        rows.append(
            {
                "item_id": r["item_id"],
                "title": r["title"],
                "status": r["status"],
                "customers": fu.size,
                "anonymous": fu.anonymous,
            }
        )
    return pd.DataFrame(rows, columns=["item_id", "title", "status", "customers", "anonymous"])


def _notes(days: tuple[int, int], period: Period, level: str) -> list[str]:
    notes = []
    if days[0] < period.days:
        notes.append(
            f"The store has data for {days[0]} of the period's {period.days} days; "
            "volume changes are compared per day."
        )
    if level != "theme":
        notes.append(
            f"No recurring-complaint themes were discovered for this team yet, so {level}s "
            "are ranked instead (run `cx-text themes discover`)."
        )
    return notes


def write_report(report: TeamReport, path: Path | str) -> Path:
    """Render ``report`` to ``path``; the format comes from the suffix (.html .pdf .xlsx .md)."""
    from cx_text.reports import render as report_render

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(
            f"cannot write a report as {suffix or 'a file without a suffix'!r}.",
            f"End the output name in one of: {', '.join(FORMATS)}.",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    writers = {
        ".html": report_render.write_html,
        ".pdf": report_render.write_pdf,
        ".xlsx": report_render.write_xlsx,
        ".md": report_render.write_markdown,
    }
    writers[suffix](report, path)
    return path


def write_team_reports(
    store: Store,
    output: Path | str,
    team: str = "all",
    period: str | Period | None = None,
    settings: Settings | None = None,
    teams: Teams | None = None,
    fmt: str = ".html",
) -> list[Path]:
    """One report per team (``team="all"``) or one. ``output`` is a file (``out.html``; with
    ``all`` each team's id is added to the name) or a directory (``reports/`` →
    ``<team>-<period><fmt>``)."""
    teams = teams or load_teams()
    chosen = list(teams.teams) if team.strip().lower() == "all" else [teams.get(team)]
    output = Path(output)
    paths = []
    for owner in chosen:
        report = build_team_report(store, owner.id, period, settings, teams)
        paths.append(
            write_report(
                report, _target(output, owner.id, report.period.label, len(chosen) > 1, fmt)
            )
        )
    return paths


def _target(output: Path, team: str, label: str, many: bool, fmt: str) -> Path:
    if output.is_dir() or not output.suffix:  # a directory
        return output / f"{team}-{label}{fmt}"
    return output.with_name(f"{output.stem}-{team}{output.suffix}") if many else output
