"""Distil a smaller student from the fine-tuned encoder, on CPU (``cx-text train --distil``).

Why: on a CPU without VNNI or AMX, ``e5-small-cx`` runs in torch fp32 at ~80 texts/s on two
cores (docs/ROADMAP.md §5); an encoder with half the layers runs ~2x. Cut without training, six
layers lose 6-9 points of real sentiment macro-F1; distilled, the student reproduces the
teacher's vectors closely enough to read the teacher's own heads (docs/MODELS.md "A distilled
6-layer student").

Recipe (:class:`DistilRecipe`, recorded in ``distil.json`` and the registry entry): the student
starts as the teacher with only ``layers`` kept (:mod:`cx_text.models.student`), plus LoRA
layers of rank ``lora_r`` on every q/k/v/output and FFN linear (``dense``); only they train.
Loss per batch (masked to real tokens, each term divided by the teacher's mean square on the
first batch): the student's last token states against the teacher's, each earlier student layer
against the teacher layer it started from (weight ``inter_weight``), and 1 − cosine of the
mean-pooled embeddings (weight ``cos_weight``). Texts: the train splits of the corpus and of
every real set (:data:`DISTIL_CAPS` per source, no labels read), cleaned as tagging cleans them;
length-bucketed batches in a seeded order; AdamW, linear warm-up and decay; a wall-clock budget.
The student runs in eval mode while it learns (no dropout: it learns to reproduce the teacher as
both run; a first try with dropout ended further from the teacher). The same seed, texts,
threads and library versions give the same bytes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cx_text.training.finetune import LORA_TARGETS, lr_factor, save_adapter, torch_threads
from cx_text.training.sampling import capped

#: texts per source (train splits only; labels are not read): the mix the teacher was tuned on,
#: as large as each source allows, social text capped so that it does not swamp reviews
DISTIL_CAPS = {
    "corpus": 10000,
    "goemotions": 12000,
    "ru_goemotions": 12000,
    "cebab": 8000,
    "mams": 5000,
    "banking77": 6000,
    "cfpb": 4000,
    "xed_ru": 8000,
}
#: every other layer of a 12-layer teacher, ending with its last
STUDENT_LAYERS = (1, 3, 5, 7, 9, 11)
#: the shipped student's registry name
STUDENT_ENCODER = "e5-small-cx6"


@dataclass(frozen=True)
class DistilRecipe:
    """Every knob of a distillation (defaults: the shipped ``e5-small-cx6``)."""

    teacher: str = "e5-small-cx"
    layers: tuple[int, ...] = STUDENT_LAYERS
    lora_r: int = 32
    lora_alpha: int = 64
    targets: tuple[str, ...] = LORA_TARGETS
    max_len: int = 128
    batch: int = 32
    lr: float = 1e-3
    warmup: float = 0.05
    passes: int = 1
    inter_weight: float = 0.5
    cos_weight: float = 10.0
    max_minutes: float = 90.0
    seed: int = 13
    caps: dict[str, int] = field(default_factory=lambda: dict(DISTIL_CAPS))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for the registry entry."""
        return (
            f"distilled from {self.teacher}: layers {','.join(map(str, self.layers))}, "
            f"lora r{self.lora_r} a{self.lora_alpha} {'/'.join(self.targets)}; "
            f"{self.passes} pass{'es' if self.passes > 1 else ''}, batch {self.batch}, "
            f"lr {self.lr}, max_len {self.max_len}, "
            f"seed {self.seed}"
        )


def distil_texts(data: pd.DataFrame, recipe: DistilRecipe) -> list[str]:
    """The train-split texts of one run, capped per source, in a seeded order."""
    rows = capped(data[data["split"] == "train"], recipe.caps, recipe.seed)
    rows = rows.sample(frac=1.0, random_state=recipe.seed)
    return [t for t in rows["text"].astype(str) if t.strip()]


def student_model(teacher: Any, recipe: DistilRecipe) -> Any:
    """A copy of ``teacher`` with only ``recipe.layers``, wrapped with LoRA layers (peft)."""
    import copy

    import torch
    from peft import LoraConfig, get_peft_model

    from cx_text.models.student import checked_layers

    layers = checked_layers(list(recipe.layers), len(teacher.encoder.layer), recipe.teacher)
    student = copy.deepcopy(teacher)
    student.encoder.layer = torch.nn.ModuleList([student.encoder.layer[i] for i in layers])
    student.config.num_hidden_layers = len(layers)
    torch.manual_seed(recipe.seed)
    config = LoraConfig(
        r=recipe.lora_r,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(recipe.targets),
        bias="none",
    )
    return get_peft_model(student, config)


def batches(lengths: Sequence[int], recipe: DistilRecipe) -> list[list[int]]:
    """Every pass's batches of text indices: the texts in a seeded order, similar lengths
    together within chunks of 50 batches, then the batches shuffled with the seed."""
    rng = np.random.default_rng(recipe.seed)
    out: list[list[int]] = []
    for _ in range(recipe.passes):
        order = rng.permutation(len(lengths))
        run: list[list[int]] = []
        for start in range(0, len(order), recipe.batch * 50):
            part = order[start : start + recipe.batch * 50].tolist()
            chunk = sorted(part, key=lengths.__getitem__)
            run += [chunk[i : i + recipe.batch] for i in range(0, len(chunk), recipe.batch)]
        rng.shuffle(run)  # type: ignore[arg-type]
        out += run
    return out


def distil_loss(
    student_states: Sequence[Any],
    teacher_states: Sequence[Any],
    mask: Any,
    scale: Sequence[float],
    recipe: DistilRecipe,
) -> tuple[Any, dict[str, float]]:
    """The loss of one batch (module doc) and its three terms."""
    import torch

    from cx_text.models.inference import mean_pool

    weights = mask.unsqueeze(-1).float()
    cells = weights.sum() * student_states[-1].shape[-1]

    def mse(s: Any, t: Any, norm: float) -> Any:
        return ((s - t) ** 2 * weights).sum() / (cells * norm)

    teacher_at = [i + 1 for i in recipe.layers]  # hidden_states[0] is the embeddings
    last = mse(student_states[-1], teacher_states[-1], scale[-1])
    pairs = list(enumerate(teacher_at[:-1]))
    inter = sum(
        (mse(student_states[k + 1], teacher_states[j], scale[j]) for k, j in pairs), torch.zeros(())
    ) / max(1, len(pairs))
    pooled_s, pooled_t = mean_pool(student_states[-1], mask), mean_pool(teacher_states[-1], mask)
    cos = 1 - torch.nn.functional.cosine_similarity(pooled_s, pooled_t).mean()
    loss = last + recipe.inter_weight * inter + recipe.cos_weight * cos
    parts = {"last": last, "inter": inter, "one_minus_cos": cos}
    return loss, {k: float(v.detach()) for k, v in parts.items()}


def mean_square(states: Sequence[Any], mask: Any) -> list[float]:
    """Each layer's mean square over the real tokens (the loss terms' scale)."""
    weights = mask.unsqueeze(-1).float()
    cells = float(weights.sum()) * states[-1].shape[-1]
    return [max(float(((h * weights) ** 2).sum()) / cells, 1e-12) for h in states]


def train_student(
    teacher_dir: Path,
    texts: list[str],
    recipe: DistilRecipe,
    *,
    prefix: str = "",
    log: Callable[[str], None] = print,
) -> tuple[Any, dict[str, Any]]:
    """Distil the student on ``texts``; returns it (with its LoRA layers) and the run's facts."""
    import torch

    from cx_text.models.inference import pad_batch
    from cx_text.models.loading import load_fp32

    teacher, tokenizer = load_fp32(teacher_dir)
    teacher.eval()
    for param in teacher.parameters():
        param.requires_grad = False
    student = student_model(teacher, recipe)
    ids = tokenizer([prefix + t for t in texts], truncation=True, max_length=recipe.max_len)
    ids = ids["input_ids"]
    plan = batches([len(x) for x in ids], recipe)
    trainable = [p for p in student.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(trainable, lr=recipe.lr, weight_decay=0.0)
    pad_id = tokenizer.pad_token_id or 0
    student.eval()  # no dropout: the student learns to reproduce the teacher as it runs
    terms: list[dict[str, float]] = []
    scale: list[float] = []
    started = time.perf_counter()
    for step, batch in enumerate(plan):
        for group in optim.param_groups:
            group["lr"] = recipe.lr * lr_factor(step, len(plan), recipe.warmup)
        input_ids, mask = pad_batch([ids[i] for i in batch], pad_id)
        with torch.no_grad():
            target = teacher(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
        scale = scale or mean_square(target.hidden_states, mask)
        out = student(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
        loss, parts = distil_loss(out.hidden_states, target.hidden_states, mask, scale, recipe)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optim.step()
        terms.append(parts)
        elapsed = time.perf_counter() - started
        if step % 50 == 0 or step == len(plan) - 1:
            log(f"step {step + 1}/{len(plan)} {_mean(terms[-50:])} {elapsed:.0f}s")
        if elapsed > recipe.max_minutes * 60 and step < len(plan) - 1:
            log(f"time budget of {recipe.max_minutes} min reached at step {step + 1}/{len(plan)}")
            break
    window = max(1, min(50, len(terms) // 4))
    return student, {
        "steps": len(terms),
        "planned_steps": len(plan),
        "stopped_by_budget": len(terms) < len(plan),
        "train_seconds": round(time.perf_counter() - started, 1),
        "seconds_per_step": round((time.perf_counter() - started) / max(1, len(terms)), 3),
        "loss_first": _terms(terms[:window]),
        "loss_last": _terms(terms[-window:]),
    }


def distil(
    teacher_dir: Path,
    texts: list[str],
    out_dir: Path,
    recipe: DistilRecipe,
    *,
    prefix: str = "",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train the student on ``texts``; save its adapter (peft format, the teacher recorded as
    its base) and ``distil.json`` in ``out_dir``; the run's facts."""
    if not texts:
        raise ValueError("no texts to distil on")
    student, facts = train_student(teacher_dir, texts, recipe, prefix=prefix, log=log)
    out_dir.mkdir(parents=True, exist_ok=True)
    facts |= save_adapter(student, out_dir, recipe.teacher)
    facts |= {"recipe": recipe.as_dict(), "texts": len(texts), "threads": torch_threads()}
    (out_dir / "distil.json").write_text(json.dumps(facts, indent=1) + "\n", encoding="utf-8")
    return facts


def _terms(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(float(np.mean([r[k] for r in rows])), 5) for k in rows[0]} if rows else {}


def _mean(rows: list[dict[str, float]]) -> str:
    return " ".join(f"{k} {v:.4f}" for k, v in _terms(rows).items())


def run_distil(
    settings: Any,
    data_paths: list[Path] | None,
    shared_dir: Path | None,
    out: Path | None,
    recipe: DistilRecipe,
    *,
    name: str = STUDENT_ENCODER,
    pack: bool | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``cx-text train --distil``: distil the student of ``recipe.teacher`` on the corpus and
    every real set's train texts, then pin it in ``<out>/registry.toml`` as ``[encoder.<name>]``.

    ``out`` is a models dir (default ``settings.models_dir``): the adapter goes to
    ``adapters/<name>/``. ``pack`` stores it in the shipped form (float16 + xz) before it is
    pinned; by default only in the shipped models dir. No heads are trained: the student reads
    its teacher's. Returns the run's facts.
    """
    from cx_text.core.config import ADAPTERS_SUBDIR, SHIPPED_MODELS_DIR
    from cx_text.core.taxonomy import load_taxonomy
    from cx_text.models.adapters import adapter_hashes
    from cx_text.models.encoder import resolve_encoder, text_prefix
    from cx_text.models.inference import set_threads
    from cx_text.models.registry import write_encoder_entry
    from cx_text.text.nlp import NlpResources
    from cx_text.training.run import clean_texts, ship_adapter
    from cx_text.training.sources import load_sources

    models_dir = out or settings.models_dir
    topic_ids = load_taxonomy(settings.taxonomy_path).topic_ids
    texts = distil_texts(load_sources(shared_dir, topic_ids, corpus_paths=data_paths), recipe)
    texts = clean_texts(texts, NlpResources.load(), settings.mask_pii)
    set_threads(settings.num_threads)
    resolved, teacher = resolve_encoder(recipe.teacher, settings)
    adapter_dir = models_dir / ADAPTERS_SUBDIR / name
    prefix = text_prefix(teacher, resolved.path)
    facts = distil(resolved.path, texts, adapter_dir, recipe, prefix=prefix, log=log)
    if pack or (pack is None and models_dir.resolve() == SHIPPED_MODELS_DIR.resolve()):
        facts |= ship_adapter(adapter_dir, "distil.json")
    entry = {
        "kind": "encoder",
        "base": recipe.teacher,
        "base_checksum": teacher.checksum,
        "layers": list(recipe.layers),
        "adapter": f"{ADAPTERS_SUBDIR}/{name}",
        "version": f"{teacher.version}+distil{len(recipe.layers)}",
        "recipe": recipe.summary(),
        "license": "MIT",
        "sha256": adapter_hashes(adapter_dir),
    }
    registry = write_encoder_entry(models_dir, name, entry)
    return {**facts, "name": name, "adapter_dir": str(adapter_dir), "registry": str(registry)}
