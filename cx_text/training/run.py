"""``cx-text train`` and ``cx-text evaluate``: wiring data, the encoder and the pipeline together.

Training texts go through the same normalization and PII masking as tagged messages, so the
heads see at training time exactly what they will see in production.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core import schema
from cx_text.core.config import Settings
from cx_text.core.errors import IngestError
from cx_text.core.taxonomy import load_taxonomy
from cx_text.training.corpus import LABEL_COLUMNS, load_corpus, load_shared, read_labeled_table
from cx_text.training.evaluate import evaluate_frames, render_report
from cx_text.training.fit import train_heads
from cx_text.training.sampling import stratified_sample

HEADS_SUBDIR = "heads"
#: how many rows of each public set join the training data (they must not drown our corpus)
SHARED_CAPS = {"banking77": 1500, "mams": 2200}
#: dev / test rows of each public set: seeded samples, stratified by intent for banking77. Its dev
#: share is small (2 per intent): banking77 is mostly requests with no topic, and a dev set it
#: dominates would set every topic threshold for support chats instead of reviews.
SHARED_EVAL_ROWS = {"banking77": {"dev": 154, "test": 600}, "mams": {"dev": 400, "test": 600}}


@dataclass(frozen=True)
class TrainingReport:
    out_dir: Path
    metrics: dict[str, Any]

    def render(self) -> str:
        lines = [f"heads written to {self.out_dir} ({self.metrics.get('seconds', '?')} s)"]
        for split in ("dev", "test"):
            for origin, res in self.metrics.get(split, {}).items():
                sent = res.get("sentiment", {}).get("macro_f1")
                topic = res.get("topics", {}).get("micro_f1")
                asp = res.get("aspects_given_gold_topics", {}).get(
                    "polarity_accuracy_on_found_topics"
                )
                parts = [f"{split:<4} {origin:<9} n={res['n']:<5}"]
                if sent is not None:
                    parts.append(
                        f"sentiment macro-F1 {sent:.3f} (ru "
                        f"{res.get('sentiment_macro_f1_ru', float('nan')):.3f}, "
                        f"en {res.get('sentiment_macro_f1_en', float('nan')):.3f})"
                    )
                parts.append(f"topics micro-F1 {topic:.3f}")
                if asp is not None:
                    parts.append(f"aspect polarity acc {asp:.3f}")
                lines.append("  " + " · ".join(parts))
        return "\n".join(lines)


def training_frame(
    data_paths: list[Path] | None, shared_dir: Path | None, seed: int
) -> pd.DataFrame:
    """The corpus plus a capped, seeded sample of each mapped public set."""
    corpus = load_corpus(data_paths)
    shared = load_shared(shared_dir)
    parts = [corpus]
    for origin, cap in SHARED_CAPS.items():
        sub = shared[shared["origin"] == origin]
        train = sub[sub["split"] == "train"]
        if len(train) > cap:
            train = train.sample(n=cap, random_state=seed)
        parts += [
            train,
            *(
                _eval_sample(sub[sub["split"] == split], n, seed)
                for split, n in SHARED_EVAL_ROWS[origin].items()
            ),
        ]
    return pd.concat([p for p in parts if len(p)], ignore_index=True)[list(LABEL_COLUMNS)]


def _eval_sample(rows: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` seeded rows: stratified by intent where the set has one (banking77's files are
    sorted by intent, so their head would be a handful of intents)."""
    if "intent" in rows and rows["intent"].notna().all():
        return stratified_sample(rows, "intent", n, seed)
    return rows.sample(n=n, random_state=seed).sort_index() if len(rows) > n else rows


def clean_texts(texts: list[str], nlp: Any, mask_pii: bool = True) -> list[str]:
    """Normalize + mask PII the way the tagging pipeline does."""
    from cx_text.text.normalize import normalize_frame

    frame = pd.DataFrame({schema.TEXT: texts})
    return normalize_frame(frame, mask_pii=mask_pii, resources=nlp)[schema.TEXT_CLEAN].tolist()


def finetune_frame(data: pd.DataFrame, recipe: Any, nlp: Any, settings: Settings) -> pd.DataFrame:
    """The fine-tune's rows (:func:`~cx_text.training.finetune.finetune_rows`) cleaned as tagging
    cleans them, with their clause spans when the recipe reads polarity over clauses."""
    from cx_text.training.clause_spans import with_clause_spans
    from cx_text.training.finetune import finetune_rows

    rows = finetune_rows(data, recipe)
    rows["text"] = clean_texts(rows["text"].tolist(), nlp, settings.mask_pii)
    if recipe.aspect_pool == "clauses":
        rows = with_clause_spans(rows, nlp, load_taxonomy(settings.taxonomy_path))
    return rows


def run_training(
    settings: Settings, data_paths: list[Path] | None, out: Path | None, shared_dir: Path | None
) -> TrainingReport:
    """Train every head and write it to ``out`` (default: ``<models_dir>/heads``)."""
    from cx_text.models.encoder import Encoder
    from cx_text.text.nlp import NlpResources

    out_dir = out or settings.models_dir / HEADS_SUBDIR
    data = training_frame(data_paths, shared_dir, settings.seed)
    data["text"] = clean_texts(data["text"].tolist(), NlpResources.load(), settings.mask_pii)
    encoder = Encoder.load(settings, precision=heads_precision(settings))
    taxonomy = load_taxonomy(settings.taxonomy_path)
    meta = {"encoder": encoder.info.as_dict(), "taxonomy_version": taxonomy.version}
    embed = cached_embedder(encoder, settings.cache_dir / "embeddings")
    result = train_heads(
        data, embed, out_dir, taxonomy.topic_ids, seed=settings.seed, extra_meta=meta
    )
    return TrainingReport(result.out_dir, result.metrics)


def heads_precision(settings: Settings) -> str:
    """The precision heads are fitted and evaluated on: fp32 unless ``settings.precision`` (or
    ``CX_TEXT_PRECISION``) names ``bf16``.

    fp32 makes `cx-text train` give the same heads byte for byte at any thread count, and up to
    fp32 rounding on any CPU: bf16 embeddings differ between CPU kinds (AMX or AVX512-BF16
    kernels) and library versions enough to move a head's probabilities by 0.03 (2026-12-07),
    and the int8 build differs more. Tagging then reads
    embeddings within cosine 0.9999 (bf16) or 0.99 (int8, verified) of the ones fitted on.
    """
    from cx_text.models.inference import validate_precision

    return "bf16" if validate_precision(settings.precision) == "bf16" else "fp32"


def cached_embedder(encoder: Any, directory: Path) -> Any:
    """``encoder.encode`` remembered on disk (.npy) by encoder checksum, precision, how much of a
    long text it reads (window and :data:`~cx_text.models.windows.MAX_TOKENS`) and texts."""
    from cx_text.models.windows import MAX_TOKENS

    reading = f"{encoder.max_length}/{MAX_TOKENS}"

    def embed(texts: list[str]) -> np.ndarray:
        h = hashlib.sha256(f"{encoder.info.checksum}|{encoder.precision}|{reading}".encode())
        for t in texts:
            h.update(t.encode("utf-8") + b"\x1e")
        path = directory / f"{h.hexdigest()[:24]}.npy"
        if path.is_file():
            return np.load(path, allow_pickle=False)
        vectors = encoder.encode(texts)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors, allow_pickle=False)
        return vectors

    return embed


def read_labeled(path: Path, split: str | None = None) -> pd.DataFrame:
    """A labeled file as a gold frame in the tagging-contract layout."""
    if path.is_dir():
        data = load_corpus(sorted(path.glob("*.jsonl")) or None)
    elif not path.is_file():
        raise IngestError(
            f"labeled file {path} does not exist.", "Pass --data with a CSV/XLSX/JSONL file."
        )
    elif path.suffix.lower() == ".jsonl":
        data = load_corpus([path])
    else:
        data = pd.DataFrame(read_labeled_table(path))
        data["split"] = ""
    if split:
        data = data[data["split"] == split]
    gold = pd.DataFrame(
        {
            schema.ID: data["id"].astype(str).to_numpy() if "id" in data else range(len(data)),
            schema.TEXT: data["text"].to_numpy(),
            schema.LANG: data.get("lang", pd.Series([""] * len(data))).to_numpy(),
            schema.SENTIMENT: data["sentiment"].to_numpy() if "sentiment" in data else "",
            schema.TOPICS: [list(t) for t in data["topics"]],
            schema.ASPECT_SENTIMENTS: [
                [{"topic": k, "polarity": v} for k, v in a.items()] for a in data["aspects"]
            ],
        }
    )
    return gold.reset_index(drop=True)


def evaluate_file(
    settings: Settings, path: Path, split: str | None = None
) -> tuple[dict[str, Any], str]:
    """Tag the texts of a labeled file with the full pipeline and score against its labels."""
    from cx_text.classify.tagger import Resources, tag_frame

    gold = read_labeled(path, split)
    res = Resources.load(settings)
    frame = pd.DataFrame(
        {
            schema.ID: gold[schema.ID],
            schema.TEXT: gold[schema.TEXT],
            schema.ROW_STATUS: schema.STATUS_OK,
            schema.ROW_ISSUES: [[] for _ in range(len(gold))],
        }
    )
    tagged = tag_frame(frame, res)
    if (gold[schema.LANG] == "").all():
        gold[schema.LANG] = tagged[schema.LANG].to_numpy()
    report = evaluate_frames(gold, tagged, res.taxonomy.topic_ids)
    report["data"] = {"path": str(path), "split": split}
    return report, render_report(report)


@dataclass(frozen=True)
class FinetuneReport:
    """What ``cx-text train --finetune`` did: the adapter, its registry entry, the heads."""

    adapter_dir: Path
    facts: dict[str, Any]
    heads: TrainingReport | None

    def render(self) -> str:
        f = self.facts
        lines = [
            f"adapter written to {self.adapter_dir}: {f['adapter_bytes'] / 1e6:.2f} MB, "
            f"{f['steps']}/{f['planned_steps']} steps in {f['train_seconds']} s "
            f"({f['seconds_per_step']} s/step), loss {f['loss_first']:.3f} -> "
            f"{f['loss_last']:.3f}"
            + (" — stopped by the time budget" if f["stopped_by_budget"] else ""),
            f"registry entry [encoder.{f['name']}] pinned in {f['registry']}",
        ]
        if f.get("packed_bytes"):
            lines.insert(
                1, f"weights shipped float16 and packed: {f['packed_bytes'] / 1e6:.2f} MB .xz"
            )
        if self.heads is not None:
            lines.append(self.heads.render())
        return "\n".join(lines)


def run_finetune(
    settings: Settings,
    data_paths: list[Path] | None,
    shared_dir: Path | None,
    out: Path | None,
    recipe: Any,
    *,
    heads: bool = True,
    pack: bool | None = None,
    log: Any = print,
) -> FinetuneReport:
    """Fine-tune the encoder (LoRA), pin the adapter in ``<out>/registry.toml``, then (unless
    ``heads`` is False) re-train the heads on the merged encoder's embeddings.

    ``out`` is a models dir (default ``settings.models_dir``): the adapter goes to
    ``adapters/e5-small-cx/``, the heads to ``heads/``; point ``CX_TEXT_MODELS_DIR`` at it
    to use them. ``pack`` stores the adapter's weights in the shipped form (float16, then xz:
    :func:`ship_adapter`) before they are pinned; by default only when ``out`` is the shipped
    models dir, so other dirs keep peft's raw float32 form.
    """
    from cx_text.core.config import ADAPTERS_SUBDIR, FINETUNED_ENCODER, SHIPPED_MODELS_DIR
    from cx_text.models.adapters import adapter_hashes
    from cx_text.models.encoder import resolve_encoder, text_prefix
    from cx_text.models.inference import set_threads
    from cx_text.models.registry import write_encoder_entry
    from cx_text.text.nlp import NlpResources
    from cx_text.training.finetune import finetune
    from cx_text.training.sources import load_sources

    models_dir = out or settings.models_dir
    topic_ids = load_taxonomy(settings.taxonomy_path).topic_ids
    data = load_sources(shared_dir, topic_ids, corpus_paths=data_paths)
    rows = finetune_frame(data, recipe, NlpResources.load(), settings)
    set_threads(settings.num_threads)
    resolved, base = resolve_encoder(recipe.base, settings)
    adapter_dir = models_dir / ADAPTERS_SUBDIR / FINETUNED_ENCODER
    result = finetune(
        resolved.path,
        rows,
        topic_ids,
        adapter_dir,
        recipe,
        prefix=text_prefix(base, resolved.path),
        log=log,
    )
    if pack or (pack is None and models_dir.resolve() == SHIPPED_MODELS_DIR.resolve()):
        result.facts.update(ship_adapter(adapter_dir))
    entry = {
        "kind": "encoder",
        "base": recipe.base,
        "base_checksum": base.checksum,
        "adapter": f"{ADAPTERS_SUBDIR}/{FINETUNED_ENCODER}",
        "version": f"{base.version}+lora{recipe.lora_r}",
        "recipe": recipe.summary(),
        "license": "MIT",
        "sha256": adapter_hashes(adapter_dir),
    }
    registry = write_encoder_entry(models_dir, FINETUNED_ENCODER, entry)
    facts = {**result.facts, "name": FINETUNED_ENCODER, "registry": str(registry)}
    report = None
    if heads:
        tuned = settings.with_(models_dir=models_dir, encoder=FINETUNED_ENCODER)
        report = run_training(tuned, data_paths, models_dir / HEADS_SUBDIR, shared_dir)
    return FinetuneReport(adapter_dir, facts, report)


def ship_adapter(adapter_dir: Path, record: str = "finetune.json") -> dict[str, Any]:
    """The shipped form of a freshly trained adapter: weights stored float16, then xz-packed;
    recorded in its ``record`` file. Returns the facts added."""
    from cx_text.models.adapters import half_adapter, pack_adapter

    facts: dict[str, Any] = {"weights_dtype": "float16", "half_bytes": half_adapter(adapter_dir)}
    facts["packed_bytes"] = pack_adapter(adapter_dir).stat().st_size
    path = adapter_dir / record
    if path.is_file():
        recorded = json.loads(path.read_text(encoding="utf-8")) | facts
        path.write_text(json.dumps(recorded, indent=1) + "\n", encoding="utf-8")
    return facts


def evaluate_loso(
    settings: Settings, shared_dir: Path, data_paths: list[Path] | None = None, log: Any = print
) -> tuple[dict[str, Any], str]:
    """``cx-text evaluate --loso``: the leave-one-source-out report of the current encoder."""
    from cx_text.models.encoder import Encoder
    from cx_text.text.nlp import NlpResources
    from cx_text.training.loso import loso_report, render_loso
    from cx_text.training.sources import LOSO_SOURCES, available_sources, load_sources

    sources = [s for s in LOSO_SOURCES if s in available_sources(shared_dir)]
    if not sources:
        raise IngestError(
            f"no real data set found under {shared_dir}.",
            "Pass --shared-data with the dir holding cebab/, goemotions/, mams_acsa/ …",
        )
    topic_ids = load_taxonomy(settings.taxonomy_path).topic_ids
    data = load_sources(shared_dir, topic_ids, sources, corpus_paths=data_paths)
    nlp = NlpResources.load()
    encoder = Encoder.load(settings, precision=heads_precision(settings))
    embed = cached_embedder(encoder, settings.cache_dir / "embeddings")

    def clean_and_embed(texts: Any) -> np.ndarray:
        return np.asarray(embed(clean_texts(list(texts), nlp, settings.mask_pii)))

    report = loso_report(data, clean_and_embed, topic_ids, sources, seed=settings.seed, log=log)
    report["encoder"] = encoder.info.as_dict()
    title = f"leave-one-source-out, encoder {encoder.info.name} {encoder.info.checksum[:19]}"
    return report, title + "\n" + render_loso(report)
