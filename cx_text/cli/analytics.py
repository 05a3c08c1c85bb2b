"""``cx-text metrics`` and ``cx-text report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cx_text.cli.group import cli, db_option
from cx_text.core.config import Settings


@cli.command()
@db_option
@click.option(
    "--by",
    default="overall",
    show_default=True,
    type=click.Choice(
        ["overall", "topic", "subtopic", "theme", "channel", "segment", "lang", "week", "month"]
    ),
    help="group by this dimension (topic-like groups also get the NPS impact column)",
)
@click.option("--from", "start", default=None, help="first day, YYYY-MM-DD (inclusive)")
@click.option("--to", "end", default=None, help="last day, YYYY-MM-DD (inclusive)")
@click.option("--channel", "channels", multiple=True, help="only this channel (repeatable)")
@click.option("--segment", "segments", multiple=True, help="only this segment (repeatable)")
@click.option("--lang", "langs", multiple=True, help="only this language: ru, en … (repeatable)")
@click.option("--impact", is_flag=True, help="NPS/CSAT/CES impact of each topic (bootstrap CIs)")
@click.option("--drivers", is_flag=True, help="Shapley key drivers of the NPS score")
@click.option("--churn", is_flag=True, help="churn of complainers vs others, revenue at risk")
@click.option("--trends", is_flag=True, help="per-topic series and latest-period change")
@click.option("--alerts", is_flag=True, help="spikes in topic volume or negative share")
@click.option(
    "--compare",
    default=None,
    type=click.Choice(["channel", "segment", "lang", "topic"]),
    help="each group vs the rest, with Holm-adjusted significance",
)
@click.option("--period", type=click.Choice(["week", "month"]), default="week", show_default=True)
@click.option(
    "--level",
    type=click.Choice(["topic", "subtopic", "theme"]),
    default="topic",
    show_default=True,
    help="topic level for impact, drivers, churn, trends and alerts",
)
@click.option("--min-n", type=int, default=None, help="smallest group shown (default 30)")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
def metrics(db: Path | None, min_n: int | None, as_json: bool, **kwargs: Any) -> None:
    """NPS, CSAT, CES, volume, % negative, churn — overall or by a dimension, with CIs.

    Also topic impact (--impact), key drivers (--drivers), churn and revenue at risk (--churn),
    trends (--trends) and alerts (--alerts). Formulas: docs/METRICS.md.
    """
    from cx_text.analytics import report as metrics_report
    from cx_text.analytics.filters import Filters, parse_day
    from cx_text.store.store import open_store

    settings = Settings.from_env(db_path=db, min_n=min_n)
    filters = Filters(
        start=parse_day(kwargs.pop("start"), "--from"),
        end=parse_day(kwargs.pop("end"), "--to"),
        channels=kwargs.pop("channels"),
        segments=kwargs.pop("segments"),
        langs=kwargs.pop("langs"),
    )
    request = metrics_report.MetricsRequest(filters=filters, **kwargs)
    with open_store(settings.db_path, read_only=True) as store:
        report = metrics_report.build_report(store, request, settings)
    render = metrics_report.render_json if as_json else metrics_report.render_text
    click.echo(render(report))


@cli.command()
@db_option
@click.option(
    "--team",
    default="all",
    show_default=True,
    help="team id or alias (see cx_text/core/lang/teams.yaml), or 'all' for one report per team",
)
@click.option(
    "--period",
    default=None,
    help="2026-10 (month), 2026-W42 (ISO week), 2026-Q3 or 2026-10-01..2026-10-31 "
    "(default: the month of the newest message)",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="out.html, .pdf, .xlsx or .md; with --team all the team is added to the name, "
    "or give a directory (one <team>-<period>.<format> each)",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf", "xlsx", "md"]),
    default="html",
    show_default=True,
    help="format of the files when -o is a directory",
)
@click.option(
    "--teams",
    "teams_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="your own teams YAML (default: cx_text/core/lang/teams.yaml)",
)
def report(
    db: Path | None, team: str, period: str | None, output: Path, fmt: str, teams_file: Path | None
) -> None:
    """A team report: headline metrics vs the previous period, themes ranked by NPS impact with
    trends and quotes, open register items, verified fixes ("you said, we did"), follow-ups.

    HTML is one self-contained file; the PDF is drawn from the same HTML; XLSX has a sheet per
    section. Example: cx-text report --db cx.duckdb --team delivery --period 2026-10 -o out.pdf
    """
    from cx_text.core.extras import require

    require("reports", "cx-text report")
    from cx_text.loop.service import load_teams
    from cx_text.reports.team import write_team_reports
    from cx_text.store.store import open_store

    settings = Settings.from_env(db_path=db)
    with open_store(settings.db_path, read_only=True) as store:
        paths = write_team_reports(
            store, output, team, period, settings, load_teams(teams_file), fmt=f".{fmt}"
        )
    for path in paths:
        click.echo(f"Wrote {path}")
