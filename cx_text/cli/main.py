"""The ``cx-text`` command line: a thin click layer over the library.

Each command parses flags, builds :class:`~cx_text.core.config.Settings` and calls one library
function. Heavy imports happen inside commands so ``cx-text --help`` stays instant.
A :class:`~cx_text.core.errors.CxTextError` is printed as one paragraph and exits with status 2.
"""

from __future__ import annotations

import sys

import click

from cx_text.cli import analytics, app, ingest, loop, models, themes  # noqa: F401  (registers the commands)
from cx_text.cli.group import EXIT_USER_ERROR, cli
from cx_text.cli.labels import labels
from cx_text.cli.runs import runs
from cx_text.core.errors import CxTextError

cli.add_command(runs)
cli.add_command(labels)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning CxTextError into a clean message and exit 2."""
    try:
        code = cli.main(args=argv, prog_name="cx-text", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USER_ERROR)
    except CxTextError as exc:
        click.echo(f"Error {exc.code}: {exc}", err=True)
        sys.exit(EXIT_USER_ERROR)
    if isinstance(code, int) and code:
        sys.exit(code)
