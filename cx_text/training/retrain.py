"""``cx-text train --labels``: this organisation's model version, and its honest before/after.

A version = the heads re-fitted on the shipped training data (the frame ``cx-text train`` uses)
plus the organisation's trained labels (up-weighted), written to ``$CX_TEXT_CACHE/versions/<name>/``
(:mod:`cx_text.models.versions`). Topics the shipped heads do not know (added to a copy of the
taxonomy) learn from the labels only: the shipped data never labelled them.

:func:`evaluate_version` tags the held-back labels (never trained on) with ``shipped`` and with
the version and :func:`before_after` puts the two side by side, per label.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core import schema
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
    held_back_ids,
    label_roles,
    read_version,
    write_version,
)
from cx_text.training.evaluate import multilabel_scores, per_label_scores
from cx_text.training.fit import Embedder, train_heads
from cx_text.training.labels import (
    HELD_BACK,
    HELD_BACK_SHARE,
    TRAIN,
    check_topics,
    held_back,
    split_roles,
    training_rows,
)

#: each trained label counts this many times against the thousands of shipped training rows
LABEL_WEIGHT = 5
Tag = Callable[[Settings, pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class RetrainResult:
    """A new model version: where it is and what it was trained on."""

    name: str
    directory: Path
    record: dict[str, Any]

    def render(self) -> str:
        n = self.record["labels"]
        new = self.record.get("new_topics") or []
        return (f"model version {self.name!r} written to {self.directory}\n"
                f"  labels: {n['total']} ({n['trained']} trained ×{n['weight']}, {n['held_back']} held back)"
                f" · parent {self.record['parent']} · checksum {self.record['checksum'][:19]}…"
                + (f"\n  new topics: {', '.join(new)}" if new else "")
                + f"\n  tag with it: --model-version {self.name} (or CX_TEXT_MODEL_VERSION={self.name})")


def shipped_topics() -> tuple[str, ...]:
    """The topics the shipped heads were trained on (the shipped training data labels these)."""
    meta = json.loads((SHIPPED_MODELS_DIR / HEADS_SUBDIR / "topics.json").read_text(encoding="utf-8"))
    return tuple(meta["labels"])


def default_name() -> str:
    return "org-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def retrain(settings: Settings, labels: pd.DataFrame, base: pd.DataFrame, embed: Embedder, *,
            name: str | None = None, weight: int = LABEL_WEIGHT, share: float = HELD_BACK_SHARE,
            encoder: dict[str, Any] | None = None) -> RetrainResult:
    """Fit a new version on ``base`` (the shipped training frame) + the trained part of ``labels``."""
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
    result = train_heads(data, _in_two_parts(embed, len(base)), tmp / HEADS_SUBDIR, topic_ids,
                         seed=settings.seed, extra_meta=meta, per_topic_dev=True)
    _copy_beside(settings, tmp, {k: v for k, v in roles.items() if k in set(labels["id"])})
    counts = {"total": len(labels), "trained": int(sum(labels["id"].map(roles) == TRAIN)),
              "held_back": int(sum(labels["id"].map(roles) == HELD_BACK)), "weight": weight, "share": share}
    facts = {"name": name, "parent": settings.model_version, "created_at": _now(), "labels": counts,
             "trained_on": result.metrics["trained_on"], "encoder": encoder or {}, "new_topics": new_topics,
             "taxonomy": {"name": taxonomy.name, "version": taxonomy.version, "checksum": taxonomy.checksum}}
    record = write_version(tmp, facts, Path(settings.models_dir))
    os.replace(tmp, final)
    return RetrainResult(name, final, record)


def version_frame(base: pd.DataFrame, labels: pd.DataFrame, roles: dict[str, str],
                  topic_ids: Sequence[str], known: Sequence[str], weight: int = LABEL_WEIGHT) -> pd.DataFrame:
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
            raise IngestError(f"new topic {topic!r} has {'no' if pos == 0 else 'only'} positive trained labels.",
                              "Label a few messages with it and a few without it (any other topic).")


def _copy_beside(settings: Settings, directory: Path, roles: dict[str, str]) -> None:
    """The taxonomy used, the parent's fine-tuned adapter (if any) and the label split."""
    shutil.copyfile(settings.taxonomy_path, directory / VERSION_TAXONOMY)
    adapters = Path(settings.models_dir) / ADAPTERS_SUBDIR
    if adapters.is_dir():
        shutil.copytree(adapters, directory / ADAPTERS_SUBDIR)
    (directory / SPLIT_FILE).write_text(json.dumps(dict(sorted(roles.items())), indent=1) + "\n",
                                        encoding="utf-8")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- before / after -----------------------------------------------------------------------------
@dataclass(frozen=True)
class BeforeAfter:
    """Shipped vs a version on its held-back labels, one row per label."""

    version: str
    table: pd.DataFrame
    n_trained: int
    n_held_back: int

    def render(self) -> str:
        lines = [f"before (shipped) vs after ({self.version}) on {self.n_held_back} held-back labels "
                 f"(never trained on; {self.n_trained} labels trained)",
                 f"  {'kind':<10}{'label':<16}{'n':>5}{'before':>9}{'after':>9}{'change':>9}"]
        for r in self.table.itertuples(index=False):
            lines.append(f"  {r.kind:<10}{r.label:<16}{r.n:>5}{r.before:>9.3f}{r.after:>9.3f}{r.change:>+9.3f}")
        return "\n".join(lines)


def before_after(gold: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame,
                 topic_ids: Sequence[str]) -> pd.DataFrame:
    """Per-label figures of two taggings of the same labelled rows (corpus-format ``gold``).

    Sentiment: F1 per class and macro-F1 over rows with a sentiment label; topics: F1 per topic
    and micro-F1 over rows whose topics are labelled; polarity: per topic, the share of gold
    (topic, polarity) pairs the tagging got right (a topic it missed counts as wrong).
    """
    rows = _sentiment_rows(gold, before, after) + _topic_rows(gold, before, after, topic_ids)
    rows += _polarity_rows(gold, before, after)
    table = pd.DataFrame(rows, columns=["kind", "label", "n", "before", "after"])
    table["change"] = table["after"] - table["before"]
    return table


def _sentiment_rows(gold: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame) -> list[tuple]:
    mask = gold["sentiment"].isin(schema.SENTIMENTS).to_numpy()
    if not mask.any():
        return []
    g = gold.loc[mask, "sentiment"].tolist()
    b, a = (per_label_scores(g, t.loc[mask, schema.SENTIMENT].astype(str).tolist(), schema.SENTIMENTS)
            for t in (before, after))
    out = [("sentiment", "macro-F1", len(g), b["macro_f1"], a["macro_f1"])]
    return out + [("sentiment", s, b["labels"][s]["support"], b["labels"][s]["f1"], a["labels"][s]["f1"])
                  for s in schema.SENTIMENTS if b["labels"][s]["support"]]


def _topic_rows(gold: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame,
                topic_ids: Sequence[str]) -> list[tuple]:
    mask = gold["topics"].notna().to_numpy()
    if not mask.any():
        return []
    g = [list(t) for t in gold.loc[mask, "topics"]]
    b, a = (multilabel_scores(g, [schema.split_list(x) for x in t.loc[mask, schema.TOPICS]], topic_ids)
            for t in (before, after))
    out = [("topics", "micro-F1", len(g), b["micro_f1"], a["micro_f1"])]
    return out + [("topic", t, b["labels"][t]["support"], b["labels"][t]["f1"], a["labels"][t]["f1"])
                  for t in topic_ids if b["labels"][t]["support"]]


def _polarity_rows(gold: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame) -> list[tuple]:
    def got(tagged: pd.DataFrame) -> list[dict[str, str]]:
        return [{x["topic"]: x["polarity"] for x in schema.split_aspects(v)}
                for v in tagged[schema.ASPECT_SENTIMENTS]]

    pred_b, pred_a = got(before), got(after)
    out = []
    for topic in sorted({t for a in gold["aspects"] for t in a}):
        idx = [i for i, a in enumerate(gold["aspects"]) if topic in a]
        want = [gold["aspects"].iloc[i][topic] for i in idx]
        acc_b = float(np.mean([pred_b[i].get(topic) == w for i, w in zip(idx, want, strict=True)]))
        acc_a = float(np.mean([pred_a[i].get(topic) == w for i, w in zip(idx, want, strict=True)]))
        out.append(("polarity", topic, len(idx), acc_b, acc_a))
    return out


def evaluate_version(settings: Settings, labels: pd.DataFrame, name: str,
                     tag: Tag | None = None) -> BeforeAfter:
    """Before (shipped) vs after (version ``name``) on the labels that version held back."""
    held_ids = held_back_ids(settings, name)
    if not held_ids:
        raise ConfigError(f"model version {name!r} has no held-back labels to compare on.",
                          "Name a version trained with `cx-text train --labels` (see `cx-text models list`).")
    held = held_back(labels, {i: HELD_BACK if i in held_ids else TRAIN for i in labels["id"]})
    if not len(held):
        raise IngestError(f"none of these labels were held back by {name!r}.",
                          "Pass the labels the version was trained from (--labels FILE or store).")
    after_settings = settings.for_version(name)
    # the same taxonomy on both sides: a new topic has only its cues before, cues + head after
    before_settings = settings.for_version(SHIPPED_VERSION).with_(taxonomy_path=after_settings.taxonomy_path)
    tag = tag or pipeline_tag
    before, after = tag(before_settings, held), tag(after_settings, held)
    topic_ids = load_taxonomy(after_settings.taxonomy_path).topic_ids
    record = read_version(Path(after_settings.models_dir)) or {}
    return BeforeAfter(name, before_after(held, before, after, topic_ids),
                       int(record.get("labels", {}).get("trained", 0)), len(held))


def pipeline_tag(settings: Settings, labels: pd.DataFrame) -> pd.DataFrame:
    """Tag the labelled texts with the full pipeline (rules + heads) of ``settings``' version."""
    from cx_text.classify.tagger import Resources, tag_frame

    frame = pd.DataFrame({schema.ID: labels["id"], schema.TEXT: labels["text"],
                          schema.ROW_STATUS: schema.STATUS_OK, schema.ROW_ISSUES: [[] for _ in range(len(labels))]})
    return tag_frame(frame, Resources.load(settings))


def pipeline_embedder(settings: Settings) -> tuple[Embedder, dict[str, Any]]:
    """Texts -> exact (torch) embeddings after the pipeline's normalisation and PII masking,
    remembered on disk; and the encoder's identity."""
    from cx_text.models.encoder import Encoder
    from cx_text.models.inference import check_precision
    from cx_text.text.nlp import NlpResources
    from cx_text.training.run import cached_embedder, clean_texts

    encoder = Encoder.load(settings, precision=check_precision(settings.precision))
    nlp, cached = NlpResources.load(), cached_embedder(encoder, Path(settings.cache_dir) / "embeddings")

    def embed(texts: Sequence[str]) -> np.ndarray:
        unique = list(dict.fromkeys(texts))
        vectors = np.asarray(cached(clean_texts(unique, nlp, settings.mask_pii)))
        where = {t: i for i, t in enumerate(unique)}
        return vectors[[where[t] for t in texts]]

    return embed, encoder.info.as_dict()


# -- the edges: ``cx-text train --labels`` / ``cx-text evaluate --labels`` and the app -----------
def shipped_training_frame(settings: Settings, data_paths: list[Path] | None = None,
                           shared_dir: Path | None = None) -> pd.DataFrame:
    """The frame ``cx-text train`` fits the shipped heads on: the corpus (``data_paths``, else
    ``Settings.train_data``, else ``data/corpus``) plus, given the public sets (``shared_dir`` /
    ``Settings.shared_data``), MAMS and banking77 samples. Without them: the corpus alone."""
    from cx_text.training.run import training_frame

    given = Path(settings.train_data) if settings.train_data else None
    paths = data_paths or (sorted(given.glob("*.jsonl")) if given and given.is_dir() else
                           [given] if given else None)
    return training_frame(paths, shared_dir or settings.shared_data, settings.seed)


def run_retrain(settings: Settings, labels_from: Path, *, data_paths: list[Path] | None = None,
                shared_dir: Path | None = None, name: str | None = None, weight: int = LABEL_WEIGHT,
                share: float = HELD_BACK_SHARE, embed: Embedder | None = None) -> RetrainResult:
    """Read the labels (a file or a store), build the shipped training frame, train a version."""
    from cx_text.training.labels import read_labels

    labels = read_labels(labels_from)
    base = shipped_training_frame(settings, data_paths, shared_dir)
    encoder: dict[str, Any] = {"name": "plug-in embedder"}
    if embed is None:
        embed, encoder = pipeline_embedder(settings)
    return retrain(settings, labels, base, embed, name=name, weight=weight, share=share, encoder=encoder)


def run_before_after(settings: Settings, labels_from: Path, name: str,
                     tag: Tag | None = None) -> BeforeAfter:
    """``cx-text evaluate --labels FROM --model-version NAME``."""
    from cx_text.training.labels import read_labels

    return evaluate_version(settings, read_labels(labels_from), name, tag)
