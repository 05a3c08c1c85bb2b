"""``cx-text themes …``: recurring complaint themes with stable ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cx_text.cli.group import cli, db_option
from cx_text.core.config import Settings


@cli.group(invoke_without_command=True)
@db_option
@click.option("--topic", default=None, help="only this topic (e.g. delivery)")
@click.option("--quotes", default=3, show_default=True, help="quotes shown per theme")
@click.pass_context
def themes(ctx: click.Context, db: Path | None, topic: str | None, quotes: int) -> None:
    """Recurring complaint themes with stable ids and representative quotes.

    Without a subcommand: list them (same as `cx-text themes list`). Run `cx-text themes
    discover` after each `cx-text tag`; rename, merge, split and accept edits survive re-runs.
    """
    ctx.meta["themes_db"] = db
    if ctx.invoked_subcommand is None:
        ctx.invoke(themes_list, db=db, topic=topic, quotes=quotes, show_all=False)


def _themes_store(db: Path | None) -> Any:
    from cx_text.store.store import open_store

    db = db or click.get_current_context().meta.get("themes_db")
    return open_store(Settings.from_env(db_path=db).db_path)


@themes.command("list")
@db_option
@click.option("--topic", default=None, help="only this topic (e.g. delivery)")
@click.option("--quotes", default=3, show_default=True, help="quotes shown per theme")
@click.option("--all", "show_all", is_flag=True, help="also merged, split and retired themes")
def themes_list(db: Path | None, topic: str | None, quotes: int, show_all: bool) -> None:
    """List themes per topic: id, messages, share of the topic's negatives, label, quotes."""
    from cx_text.themes.service import coverage, list_themes, render_themes

    statuses = (
        ("active", "proposed", "merged", "split", "retired") if show_all else ("active", "proposed")
    )
    with _themes_store(db) as store:
        click.echo(
            render_themes(
                list_themes(store, topic, quotes=quotes, statuses=statuses), coverage(store, topic)
            )
        )


@themes.command("discover")
@db_option
@click.option("--topic", default=None, help="only this topic (default: every topic)")
@click.option("--full", is_flag=True, help="re-assign every clause, not only new/unassigned ones")
@click.option("--model", "encoder", default=None, help="encoder (default e5-small)")
@click.option("--reset", is_flag=True, help="retire the current themes and start afresh (new ids)")
def themes_discover(
    db: Path | None, topic: str | None, full: bool, encoder: str | None, reset: bool
) -> None:
    """(Re)run discovery on the latest tagged data: assign to existing themes, propose new ones."""
    from cx_text.themes.service import discover_themes, load_theme_tools

    settings = Settings.from_env(
        db_path=db or click.get_current_context().meta.get("themes_db"), encoder=encoder
    )
    embed, lemmatize = load_theme_tools(settings)
    with _themes_store(settings.db_path) as store:
        result = discover_themes(
            store, embed, lemmatize, topic=topic, settings=settings, full=full, reset=reset
        )
    click.echo(result.render())


@themes.command("show")
@click.argument("theme_id")
@db_option
@click.option("-n", "quotes", default=10, show_default=True, help="quotes to show")
def themes_show(theme_id: str, db: Path | None, quotes: int) -> None:
    """One theme: label, top terms, volume and representative quotes (merged ids redirect)."""
    from cx_text.themes.service import render_theme

    with _themes_store(db) as store:
        click.echo(render_theme(store, theme_id, quotes))


@themes.command("rename")
@click.argument("theme_id")
@click.argument("label")
@db_option
def themes_rename(theme_id: str, label: str, db: Path | None) -> None:
    """Name a theme (e.g. "courier did not call"); the name is kept across re-runs."""
    from cx_text.themes.service import rename_theme

    with _themes_store(db) as store:
        click.echo(f"{rename_theme(store, theme_id, label)} renamed to “{label.strip()}”.")


@themes.command("merge")
@click.argument("theme_ids", nargs=-1, required=True)
@click.option("--into", default=None, help="surviving theme id (default: the biggest)")
@db_option
def themes_merge(theme_ids: tuple[str, ...], into: str | None, db: Path | None) -> None:
    """Merge themes of one topic; merged ids redirect to the survivor from now on."""
    from cx_text.themes.service import merge_themes

    with _themes_store(db) as store:
        click.echo(f"Merged into {merge_themes(store, list(theme_ids), into)}.")


@themes.command("split")
@click.argument("theme_id")
@click.option("--parts", default=2, show_default=True, help="number of child themes")
@click.option("--model", "encoder", default=None, help="encoder (default e5-small)")
@db_option
def themes_split(theme_id: str, parts: int, encoder: str | None, db: Path | None) -> None:
    """Split a theme into child themes with new ids (k-means over its clauses)."""
    from cx_text.themes.service import load_theme_tools, split_theme

    settings = Settings.from_env(encoder=encoder)
    embed, lemmatize = load_theme_tools(settings)
    with _themes_store(db) as store:
        click.echo(
            f"{theme_id} split into "
            f"{', '.join(split_theme(store, theme_id, embed, lemmatize, parts=parts))}."
        )


@themes.command("accept")
@click.argument("theme_ids", nargs=-1, required=True)
@db_option
def themes_accept(theme_ids: tuple[str, ...], db: Path | None) -> None:
    """Accept proposed themes (found by a later discovery) as active."""
    from cx_text.themes.service import accept_theme

    with _themes_store(db) as store:
        click.echo("Accepted: " + ", ".join(accept_theme(store, t) for t in theme_ids) + ".")
