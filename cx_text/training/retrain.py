"""``cx-text train --labels``: this organisation's model version, and its honest before/after.

A version = the heads re-fitted on the shipped training data (the frame ``cx-text train`` uses)
plus the organisation's trained labels (up-weighted), written to ``$CX_TEXT_CACHE/versions/<name>/``
(:mod:`cx_text.models.versions`). Topics the shipped heads do not know (added to a copy of the
taxonomy) learn from the labels only: the shipped data never labelled them.

A share of the labels is held back (never trained on; the split is written with the version):
:mod:`cx_text.training.before_after` tags them with ``shipped`` and with the version and puts
the two side by side, per label.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core.config import (
    ADAPTERS_SUBDIR,
    SHIPPED_MODELS_DIR,
    SHIPPED_VERSION,
    VERSION_TAXONOMY,
    Settings,
    version_dir,
)
from cx_text.core.errors import ConfigError, IngestError
from cx_text.core.taxonomy import load_taxonomy
from cx_text.models.versions import (
    HEADS_SUBDIR,
    SPLIT_FILE,
    label_roles,
    write_version,
)
from cx_text.training.fit import Embedder, train_heads
from cx_text.training.labels import (
    HELD_BACK,
    HELD_BACK_SHARE,
    TRAIN,
    check_topics,
    split_roles,
    training_rows,
)

#: each trained label counts this many times against the thousands of shipped training rows
LABEL_WEIGHT = 5


@dataclass(frozen=True)
class RetrainResult:
    """A new model version: where it is and what it was trained on."""

    name: str
    directory: Path
    record: dict[str, Any]

    def render(self) -> str:
        n = self.record["labels"]
        new = self.record.get("new_topics") or []
        return (
            f"model version {self.name!r} written to {self.directory}\n"
            f"  labels: {n['total']} ({n['trained']} trained ×{n['weight']}, "
            f"{n['held_back']} held back)"
            f" · parent {self.record['parent']} · checksum {self.record['checksum'][:19]}…"
            + (f"\n  new topics: {', '.join(new)}" if new else "")
            + f"\n  tag with it: --model-version {self.name} (or CX_TEXT_MODEL_VERSION={self.name})"
        )


def shipped_topics() -> tuple[str, ...]:
    """The topics the shipped heads were trained on (the shipped training data labels these)."""
    meta = json.loads(
        (SHIPPED_MODELS_DIR / HEADS_SUBDIR / "topics.json").read_text(encoding="utf-8")
    )
    return tuple(meta["labels"])


def default_name() -> str:
    return "org-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def retrain(
    settings: Settings,
    labels: pd.DataFrame,
    base: pd.DataFrame,
    embed: Embedder,
    *,
    name: str | None = None,
    weight: int = LABEL_WEIGHT,
    share: float = HELD_BACK_SHARE,
    encoder: dict[str, Any] | None = None,
) -> RetrainResult:
    """Fit a new version on ``base`` (the shipped training frame) + the labels' trained part."""
    name = name or default_name()
    final = version_dir(Path(settings.cache_dir), name)
    if name == SHIPPED_VERSION or final.exists():
        raise ConfigError(f"model version {name!r} already exists.", "Pick another --name.")
    taxonomy = load_taxonomy(settings.taxonomy_path)
    topic_ids, known = taxonomy.topic_ids, shipped_topics()
    new_topics = [t for t in topic_ids if t not in known]
    check_topics(labels, topic_ids)
    roles = split_roles(labels, label_roles(settings), share, settings.seed)
    data = version_frame(base, labels, roles, topic_ids, known, weight)
    tmp = final.parent / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    meta = {"encoder": encoder or {}, "taxonomy_version": taxonomy.version, "model_version": name}
    result = train_heads(
        data,
        _in_two_parts(embed, len(base)),
        tmp / HEADS_SUBDIR,
        topic_ids,
        seed=settings.seed,
        extra_meta=meta,
        per_topic_dev=True,
    )
    _copy_beside(settings, tmp, {k: v for k, v in roles.items() if k in set(labels["id"])})
    counts = {
        "total": len(labels),
        "trained": int(sum(labels["id"].map(roles) == TRAIN)),
        "held_back": int(sum(labels["id"].map(roles) == HELD_BACK)),
        "weight": weight,
        "share": share,
    }
    facts = {
        "name": name,
        "parent": settings.model_version,
        "created_at": _now(),
        "labels": counts,
        "trained_on": result.metrics["trained_on"],
        "encoder": encoder or {},
        "new_topics": new_topics,
        "taxonomy": {
            "name": taxonomy.name,
            "version": taxonomy.version,
            "checksum": taxonomy.checksum,
        },
    }
    record = write_version(tmp, facts, Path(settings.models_dir))
    os.replace(tmp, final)
    return RetrainResult(name, final, record)


def version_frame(
    base: pd.DataFrame,
    labels: pd.DataFrame,
    roles: dict[str, str],
    topic_ids: Sequence[str],
    known: Sequence[str],
    weight: int = LABEL_WEIGHT,
) -> pd.DataFrame:
    """The training frame of a version: ``base`` (labelled for the ``known`` topics only) then
    the trained labels (×``weight`` in train, once in dev), with topic scopes."""
    new_topics = [t for t in topic_ids if t not in known]
    rows = training_rows(labels, roles, topic_ids, new_topics, weight)
    _check_new_topics(rows, new_topics)
    scope = tuple(t for t in topic_ids if t in known)
    base = base.assign(topic_scope=pd.Series([scope] * len(base), index=base.index, dtype=object))
    return pd.concat([base, rows], ignore_index=True)


def _in_two_parts(embed: Embedder, n_base: int) -> Embedder:
    """Embed the shipped rows and the labels separately, so the (large) first part is a cache hit
    on every retrain."""

    def both(texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        parts = [p for p in (texts[:n_base], texts[n_base:]) if p]
        return np.vstack([np.asarray(embed(p)) for p in parts])

    return both


def _check_new_topics(rows: pd.DataFrame, new_topics: Sequence[str]) -> None:
    train = rows[rows["split"] == "train"]
    for topic in new_topics:
        pos = sum(topic in ts for ts in train["topics"])
        if pos == 0 or pos == len(train):
            raise IngestError(
                f"new topic {topic!r} has {'no' if pos == 0 else 'only'} positive trained labels.",
                "Label a few messages with it and a few without it (any other topic).",
            )


def _copy_beside(settings: Settings, directory: Path, roles: dict[str, str]) -> None:
    """The taxonomy used, the parent's fine-tuned adapter (if any) and the label split."""
    shutil.copyfile(settings.taxonomy_path, directory / VERSION_TAXONOMY)
    adapters = Path(settings.models_dir) / ADAPTERS_SUBDIR
    if adapters.is_dir():
        shutil.copytree(adapters, directory / ADAPTERS_SUBDIR)
    (directory / SPLIT_FILE).write_text(
        json.dumps(dict(sorted(roles.items())), indent=1) + "\n", encoding="utf-8"
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def pipeline_embedder(settings: Settings) -> tuple[Embedder, dict[str, Any]]:
    """Texts -> exact (torch) embeddings after the pipeline's normalisation and PII masking,
    remembered on disk; and the encoder's identity."""
    from cx_text.models.encoder import Encoder
    from cx_text.text.nlp import NlpResources
    from cx_text.training.run import cached_embedder, clean_texts, heads_precision

    encoder = Encoder.load(settings, precision=heads_precision(settings))
    nlp, cached = (
        NlpResources.load(),
        cached_embedder(encoder, Path(settings.cache_dir) / "embeddings"),
    )

    def embed(texts: Sequence[str]) -> np.ndarray:
        unique = list(dict.fromkeys(texts))
        vectors = np.asarray(cached(clean_texts(unique, nlp, settings.mask_pii)))
        where = {t: i for i, t in enumerate(unique)}
        return vectors[[where[t] for t in texts]]

    return embed, encoder.info.as_dict()


# -- the edges: ``cx-text train --labels`` / ``cx-text evaluate --labels`` and the app -----------
def shipped_training_frame(
    settings: Settings, data_paths: list[Path] | None = None, shared_dir: Path | None = None
) -> pd.DataFrame:
    """The frame ``cx-text train`` fits the shipped heads on: the corpus (``data_paths``, else
    ``Settings.train_data``, else ``data/corpus``) plus, given the public sets (``shared_dir`` /
    ``Settings.shared_data``), MAMS and banking77 samples. Without them: the corpus alone."""
    from cx_text.training.run import training_frame

    given = Path(settings.train_data) if settings.train_data else None
    paths = data_paths or (
        sorted(given.glob("*.jsonl")) if given and given.is_dir() else [given] if given else None
    )
    return training_frame(paths, shared_dir or settings.shared_data, settings.seed)


def run_retrain(
    settings: Settings,
    labels_from: Path,
    *,
    data_paths: list[Path] | None = None,
    shared_dir: Path | None = None,
    name: str | None = None,
    weight: int = LABEL_WEIGHT,
    share: float = HELD_BACK_SHARE,
    embed: Embedder | None = None,
) -> RetrainResult:
    """Read the labels (a file or a store), build the shipped training frame, train a version."""
    from cx_text.training.labels import read_labels

    labels = read_labels(labels_from)
    base = shipped_training_frame(settings, data_paths, shared_dir)
    encoder: dict[str, Any] = {"name": "plug-in embedder"}
    if embed is None:
        embed, encoder = pipeline_embedder(settings)
    return retrain(
        settings, labels, base, embed, name=name, weight=weight, share=share, encoder=encoder
    )
