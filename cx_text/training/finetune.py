"""LoRA fine-tuning of the encoder for the tagger, on CPU (``cx-text train --finetune``).

Recipe (:class:`FinetuneRecipe`, recorded in ``finetune.json`` and the registry entry):
LoRA (peft, Apache-2.0) of rank ``lora_r`` on every attention q/k/v/output and both FFN linears
(``dense``); word embeddings and everything else frozen. The joint objective of
:mod:`cx_text.training.multitask` on the mean-pooled embedding (L2-normalised and scaled, as the
heads read it). One pass over a source-balanced, seeded sample of the train splits
(:data:`FINETUNE_CAPS` rows per source), or ``steps`` steps; AdamW with linear warm-up / decay;
bf16 autocast; a wall-clock budget (``max_minutes``) stops early and says so.
``aspect_pool="clauses"``: a labeled topic that owns clauses of a multi-clause message
(:mod:`cx_text.training.clause_spans`, the rows' ``clause_spans`` column) learns its polarity
from those clauses' tokens, as the tagger reads it, not from the whole message.
``mode="full"`` trains every weight but the word embeddings instead (a 285 MB model dir, not
shippable: the measuring stick for what the adapter costs, ``benchmarks/accuracy.py --mode full``).

Writes peft's own adapter format (``adapter_model.safetensors`` + ``adapter_config.json``, the
base recorded by name, not by path) plus ``finetune.json``; the same seed, data, threads and
library versions give the same bytes. The weights are written raw (peft loads such dirs); a stale
``adapter_model.safetensors.xz`` in the dir is removed. The shipped form (float16, xz-packed)
is made by :func:`cx_text.training.run.ship_adapter` (``cx-text train --finetune`` into the
shipped models dir does it).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core.config import ADAPTER_CONFIG
from cx_text.models.adapters import ADAPTER_WEIGHTS, PACKED_WEIGHTS
from cx_text.training.multitask import (
    class_weights,
    joint_heads,
    joint_loss,
    span_tokens,
    targets,
    with_span_polarity,
)
from cx_text.training.sampling import capped
from cx_text.training.sources import FAMILIES

#: rows per source in one fine-tuning pass (source-balanced; the corpus up-weighted)
FINETUNE_CAPS = {
    "corpus": 2400,
    "goemotions": 1200,
    "ru_goemotions": 1200,
    "cebab": 1200,
    "mams": 1000,
    "banking77": 600,
    "cfpb": 400,
    "xed_ru": 600,
}
LORA_TARGETS = ("query", "key", "value", "dense")
LOGIT_SCALE = 20.0


@dataclass(frozen=True)
class FinetuneRecipe:
    """Every knob of a fine-tune (defaults: the research recipe of issue #13)."""

    base: str = "e5-small"
    mode: str = "lora"  # "full": every transformer weight (not the word embeddings) trains
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    targets: tuple[str, ...] = LORA_TARGETS
    max_len: int = 128
    batch: int = 16
    lr: float = 3e-4
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    topic_weight: float = 1.0
    aspect_weight: float = 0.5
    aspect_pool: str = "message"  # "clauses": a topic's polarity reads its clauses' tokens
    steps: int | None = None  # None: one pass over the sampled rows
    max_minutes: float = 50.0
    bf16: bool = True
    seed: int = 13
    exclude: tuple[str, ...] = ()
    caps: dict[str, int] = field(default_factory=lambda: dict(FINETUNE_CAPS))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for the registry entry."""
        if self.mode == "full":
            return (
                f"full fine-tune (word embeddings frozen); batch {self.batch}, lr {self.lr}, "
                f"max_len {self.max_len}, seed {self.seed}"
            )
        pool = "; polarity over clauses" if self.aspect_pool == "clauses" else ""
        return (
            f"lora r{self.lora_r} a{self.lora_alpha} {'/'.join(self.targets)}; "
            f"batch {self.batch}, lr {self.lr}, max_len {self.max_len}, seed {self.seed}{pool}"
        )


@dataclass(frozen=True)
class FinetuneResult:
    """The trained adapter's dir and the facts of the run (``finetune.json``)."""

    adapter_dir: Path
    facts: dict[str, Any]


def finetune_rows(data: pd.DataFrame, recipe: FinetuneRecipe) -> pd.DataFrame:
    """The train-split rows of one pass: capped per source, ``exclude`` (and families) left
    out, shuffled with the seed."""
    left_out = {s for name in recipe.exclude for s in FAMILIES.get(name, (name,))}
    rows = data[(data["split"] == "train") & ~data["origin"].isin(sorted(left_out))]
    rows = capped(rows, recipe.caps, recipe.seed)
    return rows.sample(frac=1.0, random_state=recipe.seed).reset_index(drop=True)


def lora_model(base: Any, recipe: FinetuneRecipe) -> Any:
    """``base`` wrapped with LoRA layers (peft); only they are trainable."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(recipe.seed)
    config = LoraConfig(
        r=recipe.lora_r,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=list(recipe.targets),
        bias="none",
    )
    return get_peft_model(base, config)


def trainable_model(base: Any, recipe: FinetuneRecipe) -> Any:
    """The model to train: ``base`` with LoRA layers (``mode="lora"``), or ``base`` itself with
    everything but the word embeddings trainable (``mode="full"``, the measuring stick for what
    the compact adapter costs; its weights are the size of the model)."""
    if recipe.mode == "lora":
        return lora_model(base, recipe)
    if recipe.mode != "full":
        raise ValueError(f"unknown fine-tune mode {recipe.mode!r} (lora or full)")
    import torch

    torch.manual_seed(recipe.seed)
    for name, param in base.named_parameters():
        param.requires_grad = "word_embeddings" not in name
    return base


def pooled(model: Any, input_ids: Any, mask: Any) -> tuple[Any, Any]:
    """(token states, L2-normalised mean-pooled embedding times :data:`LOGIT_SCALE` (float32))."""
    import torch

    from cx_text.models.inference import mean_pool

    hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    vec = torch.nn.functional.normalize(mean_pool(hidden, mask).float(), dim=-1) * LOGIT_SCALE
    return hidden, vec


def clause_pairs(
    rows: pd.DataFrame, offsets: Any, topic_ids: Sequence[str], recipe: FinetuneRecipe, shift: int
) -> list[list[tuple[int, Any]]] | None:
    """Per row, the (topic, clause tokens) pairs whose polarity reads clause tokens
    (``aspect_pool="clauses"``), or None (every polarity reads the message vector)."""
    if recipe.aspect_pool == "message":
        return None
    if recipe.aspect_pool != "clauses":
        raise ValueError(f"unknown aspect_pool {recipe.aspect_pool!r} (message or clauses)")
    if "clause_spans" not in rows:
        raise ValueError(
            "aspect_pool='clauses' needs the rows' clause_spans column "
            "(cx_text.training.clause_spans.with_clause_spans)"
        )
    return span_tokens(offsets, rows["clause_spans"].tolist(), topic_ids, shift)


def lr_factor(step: int, total: int, warmup: float) -> float:
    """Linear warm-up then linear decay to 0."""
    warm = max(1, int(total * warmup))
    return step / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))


def train_adapter(
    base_dir: Path,
    rows: pd.DataFrame,
    topic_ids: Sequence[str],
    recipe: FinetuneRecipe,
    *,
    prefix: str = "",
    log: Callable[[str], None] = print,
) -> tuple[Any, dict[str, Any]]:
    """Fine-tune on ``rows`` (LoRA layers, or every weight but the word embeddings with
    ``mode="full"``); returns the trained model and the run's facts."""
    import torch

    from cx_text.models.inference import pad_batch
    from cx_text.models.loading import load_fp32

    base, tokenizer = load_fp32(base_dir)
    model = trainable_model(base, recipe)
    heads = joint_heads(int(base.config.hidden_size), len(topic_ids))
    y_all = {k: torch.from_numpy(v) for k, v in targets(rows, topic_ids).items()}
    weights = torch.from_numpy(class_weights(y_all["sent"].numpy()))
    enc = tokenizer(
        [prefix + t for t in rows["text"]],
        truncation=True,
        max_length=recipe.max_len,
        return_offsets_mapping=recipe.aspect_pool != "message",
    )
    ids = enc["input_ids"]
    row_pairs = clause_pairs(rows, enc.get("offset_mapping"), topic_ids, recipe, len(prefix))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(
        [
            {"params": trainable, "lr": recipe.lr},
            {"params": list(heads.parameters()), "lr": recipe.head_lr},
        ],
        weight_decay=recipe.weight_decay,
    )
    total = recipe.steps or math.ceil(len(rows) / recipe.batch)
    pad_id = tokenizer.pad_token_id or 0
    model.train()
    heads.train()
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(total):
        for group, base_lr in zip(optim.param_groups, (recipe.lr, recipe.head_lr), strict=True):
            group["lr"] = base_lr * lr_factor(step, total, recipe.warmup)
        idx = [(step * recipe.batch + i) % len(rows) for i in range(min(recipe.batch, len(rows)))]
        input_ids, mask = pad_batch([ids[i] for i in idx], pad_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16):
            hidden, vec = pooled(model, input_ids, mask)
            outputs = heads(vec)
            if row_pairs is not None:
                pairs = [(b, j, toks) for b, i in enumerate(idx) for j, toks in row_pairs[i]]
                outputs = with_span_polarity(heads, hidden, outputs, pairs, LOGIT_SCALE)
        loss = joint_loss(
            outputs,
            {k: v[idx] for k, v in y_all.items()},
            weights,
            recipe.topic_weight,
            recipe.aspect_weight,
        )
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*trainable, *heads.parameters()], 1.0)
        optim.step()
        losses.append(float(loss.item()))
        elapsed = time.perf_counter() - started
        if step % 50 == 0 or step == total - 1:
            log(f"step {step + 1}/{total} loss {np.mean(losses[-50:]):.3f} {elapsed:.0f}s")
        if elapsed > recipe.max_minutes * 60 and step < total - 1:
            log(f"time budget of {recipe.max_minutes} min reached at step {step + 1}/{total}")
            break
    model.eval()
    window = max(1, min(50, len(losses) // 4))  # mean loss over the first / last steps
    return model, {
        "steps": len(losses),
        "planned_steps": total,
        "stopped_by_budget": len(losses) < total,
        "train_seconds": round(time.perf_counter() - started, 1),
        "seconds_per_step": round((time.perf_counter() - started) / len(losses), 3),
        "loss_first": float(np.mean(losses[:window])),
        "loss_last": float(np.mean(losses[-window:])),
        "clause_polarity_pairs": sum(len(p) for p in row_pairs or []),
    }


def save_full(model: Any, base_dir: Path, out_dir: Path) -> dict[str, int]:
    """A fully fine-tuned model as a model dir (the base's other files copied); its size."""
    from cx_text.models.adapters import WEIGHTS, copy_base_files

    model.save_pretrained(str(out_dir), safe_serialization=True)  # its own config.json
    copy_base_files(base_dir, out_dir, skip=frozenset({"config.json"}))
    return {"model_bytes": (out_dir / WEIGHTS).stat().st_size}


def save_adapter(model: Any, out_dir: Path, base_name: str) -> dict[str, int]:
    """peft's adapter files in ``out_dir`` (base recorded by name; no README; the raw weights
    only: a packed copy left from an earlier run is removed, it would be stale); their sizes."""
    model.save_pretrained(str(out_dir), safe_serialization=True)
    (out_dir / "README.md").unlink(missing_ok=True)
    (out_dir / PACKED_WEIGHTS).unlink(missing_ok=True)
    config_path = out_dir / ADAPTER_CONFIG
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_name
    if isinstance(config.get("target_modules"), list):  # a set in peft: order varies by run
        config["target_modules"] = sorted(config["target_modules"])
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return {
        "adapter_bytes": (out_dir / ADAPTER_WEIGHTS).stat().st_size,
        "adapter_config_bytes": config_path.stat().st_size,
    }


def finetune(
    base_dir: Path,
    rows: pd.DataFrame,
    topic_ids: Sequence[str],
    out_dir: Path,
    recipe: FinetuneRecipe,
    *,
    prefix: str = "",
    log: Callable[[str], None] = print,
) -> FinetuneResult:
    """Train the adapter on ``rows`` (see :func:`finetune_rows`), save it with ``finetune.json``."""
    if rows.empty:
        raise ValueError("no training rows left after the exclusions")
    model, facts = train_adapter(base_dir, rows, topic_ids, recipe, prefix=prefix, log=log)
    out_dir.mkdir(parents=True, exist_ok=True)
    if recipe.mode == "full":
        facts |= save_full(model, base_dir, out_dir)
    else:
        facts |= save_adapter(model, out_dir, recipe.base)
    facts |= {
        "recipe": recipe.as_dict(),
        "rows": len(rows),
        "threads": torch_threads(),
        "rows_by_source": {
            str(k): int(v) for k, v in rows["origin"].value_counts().sort_index().items()
        },
    }
    (out_dir / "finetune.json").write_text(json.dumps(facts, indent=1) + "\n", encoding="utf-8")
    return FinetuneResult(out_dir, facts)


def torch_threads() -> int:
    """torch's intra-op threads (recorded with a run: results depend on them)."""
    import torch

    return int(torch.get_num_threads())
