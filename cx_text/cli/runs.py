"""``cx-text runs``: list the tagging runs of a store, discard a crashed or failed one."""

from __future__ import annotations

from pathlib import Path

import click

from cx_text.core.config import Settings


def _db(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="DuckDB store (default: cx.duckdb in the working directory, or $CX_TEXT_DB)",
    )(func)


@click.group()
def runs() -> None:
    """Tagging runs in the store: what ran, what failed, what to clean up."""


@runs.command("list")
@_db
def runs_list(db: Path | None) -> None:
    """Show every run: id, source export, status (complete/failed/interrupted/running/discarded),
    rows in and out, rows that failed to tag, start time and why a run did not complete."""
    from cx_text.store.runs import render_runs
    from cx_text.store.store import open_store

    with open_store(Settings.from_env(db_path=db).db_path, read_only=True) as store:
        click.echo(render_runs(store.list_runs()))


@runs.command("discard")
@click.argument("run_id")
@_db
def runs_discard(run_id: str, db: Path | None) -> None:
    """Remove every row a crashed (running), interrupted or failed run wrote to the store, and its
    work folder (.<output>.cx-parts next to the output, if it holds only that run's parts).

    The run stays listed as 'discarded'. A complete run cannot be discarded: tag the same
    export again and the new run supersedes it.
    """
    from cx_text.engines.base import discard_run
    from cx_text.store.store import open_store

    with open_store(Settings.from_env(db_path=db).db_path) as store:
        removed, folder = discard_run(store, run_id)
    detail = ", ".join(f"{table} {n:,}" for table, n in removed.items() if n)
    click.echo(f"discarded run {run_id}: removed {detail or 'no rows'}; {folder}.")
