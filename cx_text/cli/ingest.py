"""``cx-text inspect`` and ``cx-text tag``: read an export, tag every row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cx_text.cli.group import cli, column_mapping, db_option, mapping_options
from cx_text.core.config import Settings


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@mapping_options
@click.option("--rows", default=5, show_default=True, help="preview rows to show")
def inspect(path: Path, rows: int, sheet: str | None, **kwargs: Any) -> None:
    """Show what cx_text detects in an export: format, encoding, delimiter, column mapping,
    flags."""
    from cx_text.io import ingest
    from cx_text.io.source import source_name

    mapping = column_mapping(kwargs)
    report = ingest.inspect_file(path, mapping=mapping, sheet=sheet, preview_rows=rows)
    click.echo(report.render())
    click.echo(
        f"Source in the store: {source_name(path)} (messages are keyed by source + id; "
        "`cx-text tag --source NAME` names it)"
    )


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="output file: .parquet, .csv, .xlsx or .jsonl",
)
@mapping_options
@db_option
@click.option("--no-db", is_flag=True, help="do not append the run to the DuckDB store")
@click.option(
    "--customers",
    type=click.Path(path_type=Path),
    default=None,
    help="customers file (customer_id, signup, churned_at, ltv) to store with the run",
)
@click.option("--no-mask-pii", is_flag=True, help="keep phones, e-mails, names … unmasked")
@click.option(
    "--model",
    "encoder",
    default=None,
    help="encoder: 'e5-small' (embedded default), a local model dir or a HF hub id",
)
@click.option(
    "--sentiment-model",
    default=None,
    help="a ready HF sequence-classification model (local dir or hub id) for sentiment",
)
@click.option(
    "--label-map",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML/JSON mapping the sentiment model's labels to negative/neutral/positive",
)
@click.option("--allow-network", is_flag=True, help="allow downloading a named hub model")
@click.option(
    "--taxonomy",
    type=click.Path(path_type=Path),
    default=None,
    help="taxonomy YAML (default: the packaged default.yaml)",
)
@click.option(
    "--model-version",
    default=None,
    help="model version: 'shipped' (default) or one trained with `cx-text train --labels`",
)
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True)
@click.option("--master", default=None, help="Spark master, e.g. local[2] or spark://host:7077")
@click.option("--chunk-size", type=int, default=None, help="rows per chunk (default 5000)")
@click.option("--resume", is_flag=True, help="continue an interrupted run of the same command")
@click.option(
    "--source",
    default=None,
    help="name of this export in the store (default: the file name's stem); messages are "
    "keyed by source + id, so re-tagging a source supersedes its own earlier tags",
)
def tag(path: Path, output: Path, **kwargs: Any) -> None:
    """Tag every row of an export: language, sentiment, topics, per-topic sentiment, evidence.

    Every input row and column is kept; rows that could not be tagged say why in row_status.
    The run is appended to the DuckDB store (--db, default cx.duckdb) unless --no-db; a run in
    which more than 5 % of rows failed to tag is recorded as failed (exit status 1) and the
    store keeps the previous tags.
    """
    from cx_text.api import tag_file
    from cx_text.io.output import read_frame

    settings = Settings.from_env(
        encoder=kwargs["encoder"],
        sentiment_model=kwargs["sentiment_model"],
        sentiment_label_map=kwargs["label_map"],
        taxonomy_path=kwargs["taxonomy"],
        chunk_size=kwargs["chunk_size"],
        db_path=kwargs["db"],
        model_version=kwargs["model_version"],
        allow_network=kwargs["allow_network"] or None,
        mask_pii=False if kwargs["no_mask_pii"] else None,
    )
    summary = tag_file(
        path,
        output,
        engine=kwargs["engine"],
        settings=settings,
        db=None if kwargs["no_db"] else settings.db_path,
        resume=kwargs["resume"],
        mapping=column_mapping(kwargs),
        sheet=kwargs["sheet"],
        source=kwargs["source"],
        customers=read_frame(kwargs["customers"]) if kwargs["customers"] else None,
        master=kwargs["master"] or "local[2]",
        progress=True,
    )
    click.echo(summary.render())
    if summary.status != "complete":
        raise click.exceptions.Exit(1)
