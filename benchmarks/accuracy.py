"""Accuracy of the fine-tuned encoder on real data it never saw — the full leave-one-source-out
protocol of issue #13. LONG-RUNNING (hours on 2 cores); not part of the test suite or `make bench`.

For every fold: fine-tune a LoRA adapter of e5-small WITHOUT the fold's sources (and their
families), merge it, re-fit the heads on its embeddings without the scored source, score on
that source's test split, beside the majority-class / VADER baselines
(:mod:`cx_text.training.loso`). ``cx-text evaluate --loso`` is the cheap version (frozen
encoder, heads held out only).

Folds: ``--folds source`` fine-tunes once per scored source (6 fine-tunes); ``--folds two``
uses the two research folds (reviews/support sets vs social-media sets), 2 fine-tunes.
``--frozen`` adds the frozen-encoder rows, ``--int8`` scores the int8 ONNX build of each merged
encoder too (the quantisation cost on real data).

    CX_TEXT_CACHE=/tmp/cx-cache python benchmarks/accuracy.py --shared-data ../shared/data \\
        --folds two --steps 600 --frozen --int8 --json accuracy.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cx_text.core.config import Settings
from cx_text.core.errors import ModelError
from cx_text.core.taxonomy import load_taxonomy
from cx_text.models.adapters import extract_lora, merge_lora
from cx_text.models.encoder import Encoder, resolve_encoder, text_prefix
from cx_text.models.inference import set_threads
from cx_text.text.nlp import NlpResources
from cx_text.training.finetune import FINETUNE_CAPS, LORA_TARGETS, FinetuneRecipe, finetune
from cx_text.training.fit import fit_heads
from cx_text.training.loso import loso_report, render_loso, score_heads, test_rows
from cx_text.training.run import cached_embedder, clean_texts, finetune_frame, training_frame
from cx_text.training.sources import LOSO_SOURCES, available_sources, load_sources

TWO_FOLDS = {
    "noreviews": ("cebab", "mams", "banking77", "cfpb"),
    "nosocial": ("goemotions", "ru_goemotions", "xed_ru"),
}


def folds(kind: str, sources: list[str]) -> dict[str, tuple[str, ...]]:
    """{fold name: sources left out of its fine-tune}."""
    if kind == "two":
        return {name: tuple(s for s in out) for name, out in TWO_FOLDS.items()}
    return {source: (source,) for source in sources}


def fine_tune_fold(
    settings: Settings,
    data: Any,
    recipe: FinetuneRecipe,
    work: Path,
    topic_ids: tuple[str, ...],
    nlp: Any,
    *,
    reuse: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Adapter trained without ``recipe.exclude``, merged into ``work/e5-small-cx-<fold>``;
    ``reuse`` (``--reuse``): a fold whose adapter exists is scored again, not re-trained."""
    resolved, base = resolve_encoder(recipe.base, settings)
    full = recipe.mode == "full"
    out = work / ("full" if full else "adapter")
    merged = out if full else work / f"e5-small-cx-{work.name}"
    done = out / "finetune.json"
    if reuse and done.is_file() and merged.is_dir():  # score the fold's earlier adapter
        return merged, json.loads(done.read_text(encoding="utf-8"))
    rows = finetune_frame(data, recipe, nlp, settings)
    result = finetune(
        resolved.path, rows, topic_ids, out, recipe, prefix=text_prefix(base, resolved.path)
    )
    if not full:
        merge_lora(resolved.path, out, merged)
    return merged, result.facts


def svd_compact(settings: Settings, tuned: Path, work: Path, rank: int) -> tuple[Path, dict]:
    """The rank-``rank`` SVD adapter of a full fine-tune, merged back into the base: what a
    LoRA-sized artefact keeps of the full fine-tune."""
    resolved, _ = resolve_encoder("e5-small", settings)
    facts = extract_lora(resolved.path, tuned, work / f"svd{rank}", rank, LORA_TARGETS)
    merged = work / f"e5-small-svd{rank}-{work.name}"
    merge_lora(resolved.path, work / f"svd{rank}", merged)
    return merged, facts


def score(
    settings: Settings,
    encoder_name: str,
    precision: str,
    data: Any,
    sources: list[str],
    topic_ids: tuple[str, ...],
    nlp: Any,
    *,
    ship_frame: Any = None,
) -> dict[str, Any]:
    """The LOSO rows of ``sources`` (+ the corpus row) with heads on this encoder; with
    ``ship_frame`` (``--ship-heads``: the frame the shipped heads are trained on, as
    ``cx-text train``) also those heads' scores (:func:`ship_heads`)."""
    encoder = Encoder.load(settings.with_(encoder=encoder_name), precision=precision)
    embed = cached_embedder(encoder, settings.cache_dir / "embeddings")

    def clean_and_embed(texts: Any) -> np.ndarray:
        return np.asarray(embed(clean_texts(list(texts), nlp, settings.mask_pii)))

    report = loso_report(data, clean_and_embed, topic_ids, sources, seed=settings.seed)
    report["encoder"] = encoder.info.as_dict()
    if ship_frame is not None:
        report["ship_heads"] = ship_heads(
            ship_frame, data, clean_and_embed, topic_ids, [*sources, "corpus"], settings.seed
        )
    return report


def ship_heads(
    frame: Any, data: Any, embed: Any, topic_ids: tuple[str, ...], sources: list[str], seed: int
) -> dict[str, Any]:
    """Heads fitted on the shipping frame (corpus + MAMS + banking77, as ``cx-text train``),
    scored on every source's test rows; sources in that frame are marked in-frame."""
    heads = {
        h.name: h for h in fit_heads(frame, embed(frame["text"].tolist()), topic_ids, seed=seed)
    }
    out = {}
    for source in sources:
        rows = test_rows(data.reset_index(drop=True), source, seed)
        out[source] = {
            "in_frame": source in {"corpus", *frame["origin"]},
            "n": len(rows),
            **score_heads(heads, embed(rows["text"].tolist()), rows, topic_ids),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared-data", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("accuracy-work"))
    parser.add_argument("--folds", choices=["source", "two"], default="two")
    parser.add_argument("--steps", type=int, default=None, help="fine-tune steps per fold")
    parser.add_argument("--minutes", type=float, default=50.0)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument(
        "--mode", choices=["lora", "full"], default="lora", help="LoRA adapter or full fine-tune"
    )
    parser.add_argument("--lr", type=float, default=None, help="encoder learning rate")
    parser.add_argument(
        "--aspect-pool",
        choices=["message", "clauses"],
        default="message",
        help="per-topic polarity from the message vector or the topic's clauses",
    )
    parser.add_argument(
        "--svd-rank", type=int, default=0, help="with --mode full: also its rank-N SVD adapter"
    )
    parser.add_argument(
        "--data-scale",
        type=float,
        default=1.0,
        help="multiply every source's fine-tune cap (FINETUNE_CAPS) by this: more distinct rows",
    )
    parser.add_argument("--frozen", action="store_true", help="also the frozen-encoder rows")
    parser.add_argument("--int8", action="store_true", help="also the int8 ONNX build")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="score a fold's existing adapter instead of re-training it",
    )
    parser.add_argument(
        "--ship-heads",
        action="store_true",
        help="also heads fitted on the shipping frame (as `cx-text train`)",
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    set_threads(settings.num_threads)
    topic_ids = tuple(load_taxonomy(settings.taxonomy_path).topic_ids)
    found = available_sources(args.shared_data)
    sources = [s for s in LOSO_SOURCES if s in found]
    data = load_sources(args.shared_data, topic_ids, found)
    nlp = NlpResources.load()
    ship_frame = training_frame(None, args.shared_data, settings.seed) if args.ship_heads else None
    recipe = FinetuneRecipe(
        steps=args.steps,
        max_minutes=args.minutes,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        seed=settings.seed,
        mode=args.mode,
        aspect_pool=args.aspect_pool,
        caps={k: round(v * args.data_scale) for k, v in FINETUNE_CAPS.items()},
        **({"lr": args.lr} if args.lr else {}),
    )
    results: dict[str, Any] = {"recipe": recipe.as_dict(), "folds": {}}
    if args.frozen:
        results["frozen"] = score(
            settings, recipe.base, "fp32", data, sources, topic_ids, nlp, ship_frame=ship_frame
        )
        print("frozen encoder\n" + render_loso(results["frozen"]), flush=True)
        _save(args.json, results)
    for name, left_out in folds(args.folds, sources).items():
        scored = [s for s in sources if s in left_out]
        if not scored:
            continue
        started = time.perf_counter()
        merged, facts = fine_tune_fold(
            settings,
            data,
            replace(recipe, exclude=left_out),
            args.work / name,
            topic_ids,
            nlp,
            reuse=args.reuse,
        )
        fold: dict[str, Any] = {
            "left_out": list(left_out),
            "finetune": facts,
            "fp32": score(
                settings, str(merged), "fp32", data, scored, topic_ids, nlp, ship_frame=ship_frame
            ),
        }
        _save(args.json, results | {"folds": {**results["folds"], name: fold}})
        if args.mode == "full" and args.svd_rank:
            compact, fold["svd"] = svd_compact(settings, merged, args.work / name, args.svd_rank)
            fold["svd_fp32"] = score(
                settings, str(compact), "fp32", data, scored, topic_ids, nlp, ship_frame=ship_frame
            )
            _save(args.json, results | {"folds": {**results["folds"], name: fold}})
        if args.int8:
            try:
                fold["int8"] = score(
                    settings,
                    str(merged),
                    "onnx-int8",
                    data,
                    scored,
                    topic_ids,
                    nlp,
                    ship_frame=ship_frame,
                )
            except ModelError as exc:  # the build failed its cosine gate: say so, go on
                fold["int8"] = {"error": str(exc)}
        fold["seconds"] = round(time.perf_counter() - started)
        results["folds"][name] = fold
        _save(args.json, results)
        for precision in ("fp32", "svd_fp32", "int8"):
            if "rows" in fold.get(precision, {}):
                print(f"fold {name} ({precision})\n{render_loso(fold[precision])}", flush=True)
    _save(args.json, results)


def _save(path: Path | None, results: dict[str, Any]) -> None:
    """Write the results so far (a long run keeps what it measured if a later step fails)."""
    if path:
        path.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
