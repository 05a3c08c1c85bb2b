"""``cx-text labels``: analysts' corrections — export, import (checked), and the review queue."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from cx_text.cli.group import db_option
from cx_text.core.config import Settings

_TAXONOMY = click.option(
    "--taxonomy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="taxonomy YAML the topics are checked against (default: the packaged one)",
)


def _settings(db: Path | None, taxonomy: Path | None = None) -> Settings:
    settings = Settings.from_env(db_path=db)
    return replace(settings, taxonomy_path=taxonomy) if taxonomy else settings


def _topic_ids(settings: Settings) -> list[str]:
    from cx_text.core.taxonomy import load_taxonomy

    return list(load_taxonomy(settings.taxonomy_path).topic_ids)


def _who(who: str | None) -> str:
    if who:
        return who
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@click.group()
def labels() -> None:
    """Analysts' corrections of the model's tags: export them, import a labelled file, get the
    messages worth labelling next. Labels live in the store and survive re-tagging."""


@labels.command("export")
@db_option
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="labels.xlsx, .csv or .jsonl (the data/corpus layout)",
)
@_TAXONOMY
def labels_export(db: Path | None, output: Path, taxonomy: Path | None) -> None:
    """Write every message's current labels (latest per field) to a file a team can edit in
    Excel and import back; `cx_text.training.corpus.read_labeled_table` reads it as training
    data."""
    from cx_text.store.label_files import export_labels
    from cx_text.store.store import open_store

    settings = _settings(db, taxonomy)
    with open_store(settings.db_path, read_only=True) as store:
        path, rows = export_labels(store, output, _topic_ids(settings))
    click.echo(f"wrote {rows:,} labelled messages to {path}")


@labels.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@click.option("--who", default=None, help="who labelled the file (default: your login)")
@_TAXONOMY
def labels_import(file: Path, db: Path | None, who: str | None, taxonomy: Path | None) -> None:
    """Import a labelled file (the layout of `labels export` / `labels queue`). Every row is
    checked against the taxonomy first: one bad value stops the import, naming the rows. Rows
    whose message is not in the store (or whose text changed) are listed and not imported;
    the command then exits with status 1."""
    from cx_text.store.label_files import import_labels
    from cx_text.store.store import open_store

    settings = _settings(db, taxonomy)
    with open_store(settings.db_path) as store:
        report = import_labels(store, file, who=_who(who), topic_ids=_topic_ids(settings))
    click.echo(report.text())
    if report.unmatched:
        raise SystemExit(1)


@labels.command("queue")
@db_option
@click.option(
    "-n",
    "count",
    type=click.IntRange(1, 100_000),
    default=200,
    show_default=True,
    help="how many messages",
)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="to_label.xlsx, .csv or .jsonl",
)
@click.option(
    "--channel",
    default=None,
    help="only this channel's messages (as in the input's channel column, e.g. tweet)",
)
def labels_queue(db: Path | None, count: int, output: Path, channel: str | None) -> None:
    """Write the messages whose labels would teach the model most — lowest sentiment margin, topic
    scores near their threshold, head and cue rules disagreeing — spread over themes and topics,
    near-duplicates and labelled messages left out. Fill sentiment / topics / aspect_sentiments
    (the model's tags are beside them) and run `cx-text labels import`. With --channel, only
    that channel's messages: 100 labels of a channel lift its sentiment by 3-6 points
    (docs/LABELS.md)."""
    from cx_text.store.label_files import write_queue
    from cx_text.store.queue import queue_progress, topic_thresholds
    from cx_text.store.store import open_store

    settings = _settings(db)
    thresholds = topic_thresholds(settings.models_dir)
    with open_store(settings.db_path, read_only=True) as store:
        path, rows = write_queue(store, output, count, thresholds, channel)
        progress = queue_progress(store, thresholds, channel=channel)
    where = f" of channel {channel!r}" if channel is not None else ""
    click.echo(f"wrote {rows:,} messages{where} to {path}\n{progress.text()}")
