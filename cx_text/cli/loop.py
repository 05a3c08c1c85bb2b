"""``cx-text loop …``: the closing-the-loop register."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cx_text.cli.group import cli, db_option
from cx_text.core.config import Settings


@cli.group()
def loop() -> None:
    """The closing-the-loop register: themes routed to teams, fixed and re-measured.

    Workflow: open → acknowledged → in_progress → fixed (with the fix date) → customers_notified
    → verified (after `cx-text loop verify` says improved). `followup` lists the customers to call.
    """


def _loop_store(db: Path | None, read_only: bool = False) -> Any:
    from cx_text.store.store import open_store

    return open_store(Settings.from_env(db_path=db).db_path, read_only=read_only)


def _actor(by: str | None) -> str | None:
    if by:
        return by
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _teams(path: Path | None) -> Any:
    from cx_text.loop.service import load_teams

    return load_teams(path)


_TEAMS_OPTION = click.option(
    "--teams",
    "teams_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="your own teams YAML (default: cx_text/core/lang/teams.yaml)",
)


_BY_OPTION = click.option("--by", default=None, help="who makes the change (default: your login)")


@loop.command("list")
@db_option
@click.option("--team", default=None, help="only this team (id or alias)")
@click.option("--status", default=None, help="only this status, e.g. in_progress")
@click.option("--open", "open_only", is_flag=True, help="only items not yet verified")
@_TEAMS_OPTION
def loop_list(
    db: Path | None, team: str | None, status: str | None, open_only: bool, teams_file: Path | None
) -> None:
    """List register items: status, team, owner, due and fix dates, latest re-measurement."""
    from cx_text.loop import service as register

    with _loop_store(db) as store:
        frame = register.list_items(store, team, status, open_only, _teams(teams_file))
        click.echo(register.render_items(frame))


@loop.command("show")
@click.argument("item_id", type=int)
@db_option
def loop_show(item_id: int, db: Path | None) -> None:
    """One item: fields, allowed next states, latest re-measurement and the history of changes."""
    from cx_text.loop import service as register

    with _loop_store(db) as store:
        click.echo(register.render_item(store, item_id))


@loop.command("open")
@db_option
@click.option("--theme", default=None, help="theme id, e.g. delivery:t003 (see cx-text themes)")
@click.option(
    "--topic", default=None, help="or a topic / sub-topic, e.g. delivery or delivery/late"
)
@click.option("--team", default=None, help="owning team (default: the team owning the topic)")
@click.option("--title", default=None, help="short title (default: the theme label)")
@click.option("--owner", default=None, help="person responsible for the fix")
@click.option("--due", default=None, help="due date, YYYY-MM-DD")
@click.option("--notes", default=None, help="free text: context, links, ticket numbers")
@_TEAMS_OPTION
@_BY_OPTION
def loop_open(
    db: Path | None, due: str | None, teams_file: Path | None, by: str | None, **kwargs: Any
) -> None:
    """Open a register item: route a theme (or topic) to its owning team."""
    from cx_text.analytics.filters import parse_day
    from cx_text.loop import service as register

    with _loop_store(db) as store:
        item = register.open_item(
            store, due=parse_day(due, "--due"), teams=_teams(teams_file), actor=_actor(by), **kwargs
        )
        click.echo(
            f"Opened #{item.item_id} “{item.title}” [{item.subject}] for team {item.team} "
            f"(status {item.status})."
        )


@loop.command("update")
@click.argument("item_id", type=int)
@db_option
@click.option(
    "--status",
    default=None,
    help="new status: acknowledged, in_progress, fixed, customers_notified, verified",
)
@click.option(
    "--fixed-at",
    default=None,
    help="date the fix reached customers, YYYY-MM-DD (with --status fixed; default today)",
)
@click.option("--owner", default=None, help="person responsible")
@click.option("--due", default=None, help="due date, YYYY-MM-DD")
@click.option("--team", default=None, help="hand the item to another team")
@click.option("--title", default=None, help="new title")
@click.option("--note", default=None, help="what happened / what was done (kept in the history)")
@_TEAMS_OPTION
@_BY_OPTION
def loop_update(
    item_id: int,
    db: Path | None,
    status: str | None,
    fixed_at: str | None,
    due: str | None,
    teams_file: Path | None,
    by: str | None,
    **kwargs: Any,
) -> None:
    """Change an item's status, owner, dates or team; bad status moves say what is allowed."""
    from cx_text.analytics.filters import parse_day
    from cx_text.loop import service as register

    with _loop_store(db) as store:
        item = register.update_item(
            store,
            item_id,
            status=status,
            due=parse_day(due, "--due"),
            fixed_at=parse_day(fixed_at, "--fixed-at"),
            teams=_teams(teams_file),
            actor=_actor(by),
            **kwargs,
        )
        click.echo(register.render_item(store, item.item_id))


@loop.command("verify")
@click.argument("item_id", type=int)
@db_option
@click.option(
    "--window", default="6w", show_default=True, help="length of each window: 42, 42d or 6w"
)
@click.option(
    "--gap",
    default="7d",
    show_default=True,
    help="settling days skipped after the fix date before the 'after' window",
)
@click.option("--json", "as_json", is_flag=True, help="print the measurement as JSON")
@_BY_OPTION
def loop_verify(
    item_id: int, db: Path | None, window: str, gap: str, as_json: bool, by: str | None
) -> None:
    """Re-measure a fixed item: complaint share, weekly volume and NPS impact before vs after.

    Verdict (improved / no change / worse / too little data) from a two-proportion z-test on
    the theme's share of all feedback; an item whose customers were notified moves to verified
    when it improved.
    """
    import json

    from cx_text.loop import service as register

    settings = Settings.from_env(db_path=db)
    with _loop_store(db) as store:
        item, result = register.verify_item(
            store, item_id, window=window, gap=gap, settings=settings, actor=_actor(by)
        )
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"#{item.item_id} {item.title} [{item.subject}] — status {item.status}")
    click.echo(register.render_measurement(result))


@loop.command("followup")
@click.argument("item_id", type=int)
@db_option
@click.option("--from", "start", default=None, help="first day, YYYY-MM-DD")
@click.option("--to", "end", default=None, help="last day, YYYY-MM-DD")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="write the list for a CRM: .csv or .xlsx (formula-safe)",
)
@click.option(
    "--show-pii",
    is_flag=True,
    help="keep phones/e-mails in texts when the store holds them unmasked",
)
@click.option("--limit", default=20, show_default=True, help="rows printed (the file gets all)")
def loop_followup(
    item_id: int,
    db: Path | None,
    start: str | None,
    end: str | None,
    output: Path | None,
    show_pii: bool,
    limit: int,
) -> None:
    """The inner loop: detractors who mentioned the item's theme, to contact one by one."""
    from cx_text.analytics.filters import parse_day
    from cx_text.loop import service as register

    with _loop_store(db, read_only=True) as store:
        result = register.followup(
            store,
            item_id,
            start=parse_day(start, "--from"),
            end=parse_day(end, "--to"),
            show_pii=show_pii,
        )
    click.echo(result.summary())
    if output:
        click.echo(f"Wrote {register.export_followup(result, output)}")
    shown = result.customers.head(limit)
    for r in shown.to_dict("records"):
        click.echo(
            f"  {r['customer_id']:<11} {str(r['created_at'])[:10]} {r['channel'] or '':<14} "
            f"{r['score_type']} {r['score']}  “{str(r['quote'])[:90]}”"
        )
    if len(result.customers) > limit:
        click.echo(f"  … {len(result.customers) - limit} more (use -o to export all).")
