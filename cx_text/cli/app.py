"""``cx-text app``: the Streamlit app."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cx_text.cli.group import cli, db_option
from cx_text.core.config import Settings


@cli.command()
@db_option
@click.option("--port", default=8501, show_default=True, help="port to serve on")
@click.option(
    "--host", default="localhost", show_default=True, help="address to bind (0.0.0.0 = all)"
)
def app(db: Path | None, port: int, host: str) -> None:
    """Start the Streamlit app on a store (headless) and print its URL; Ctrl+C stops it.

    Pages: Overview, Themes, Trends, Segments, Verbatims, Upload & tag, Loop (docs/APP.md).
    A missing store is created empty; add data on the Upload & tag page or with `cx-text tag`.
    """
    from cx_text.app.launch import streamlit_command
    from cx_text.core.extras import require

    require("app", "cx-text app")

    settings = Settings.from_env(db_path=db)
    command = streamlit_command(settings.db_path.resolve(), port, host)
    if not settings.db_path.is_file():
        click.echo(f"No store at {settings.db_path} yet: the app starts empty.")
    click.echo(
        f"cx_text app: http://{'localhost' if host == '0.0.0.0' else host}:{port}  "
        f"(store {settings.db_path}; Ctrl+C to stop)"
    )
    run_in_place(command)


def run_in_place(command: list[str]) -> None:
    """Become ``command`` (``os.execv``): the server *is* this process, so SIGTERM/SIGINT from
    systemd, docker or a test stop it and no orphan is left. Where exec is missing, wait on it."""
    import os
    import subprocess

    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(command[0], command)
    raise SystemExit(subprocess.call(command))
