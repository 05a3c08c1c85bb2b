"""The ``cx-text`` click group and the options several commands share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cx_text.core.version import __version__

EXIT_USER_ERROR = 2


_MAPPING_FLAGS = (
    ("text", "column holding the message text"),
    ("id", "column with a unique message id"),
    ("date", "column with the message date/time (created_at)"),
    ("channel", "column with the channel (app review, chat, e-mail …)"),
    ("source", "column with the source system"),
    ("nps", "column with the 0–10 NPS score"),
    ("csat", "column with the 1–5 CSAT score"),
    ("ces", "column with the 1–7 CES score"),
    ("rating", "column with the 1–5 star rating"),
    ("customer", "column with the customer id"),
    ("segment", "column with the customer segment"),
)


def mapping_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--text-col``, ``--id-col`` … and ``--sheet`` to a command."""
    for name, help_text in reversed(_MAPPING_FLAGS):
        func = click.option(f"--{name}-col", f"{name}_col", default=None, help=help_text)(func)
    func = click.option("--sheet", default=None, help="XLSX sheet name (default: first)")(func)
    return func


def column_mapping(kwargs: dict[str, Any]) -> dict[str, str]:
    """Turn ``--text-col`` style flags into ``{canonical: input column}``."""
    canonical = {"date": "created_at", "customer": "customer_id"}
    mapping = {}
    for name, _ in _MAPPING_FLAGS:
        value = kwargs.pop(f"{name}_col", None)
        if value:
            mapping[canonical.get(name, name)] = value
    return mapping


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="DuckDB store (default: cx.duckdb in the working directory, or $CX_TEXT_DB)",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cx-text")
def cli() -> None:
    """cx_text — tag Russian and English customer feedback, find what costs you NPS, close the loop.

    Typical day: `cx-text inspect export.xlsx`, then `cx-text tag export.xlsx -o tagged.parquet`,
    then `cx-text app` to explore, `cx-text report --team delivery` to hand it over.
    """
