"""An organisation's labels: read them, split off a held-back part, turn the rest into training
rows.

Labels use the corpus format (:data:`cx_text.training.corpus.LABEL_COLUMNS`). A field an analyst
did not set is unlabelled: ``sentiment`` None or ``""`` teaches no sentiment, ``topics`` None
teaches no topic (``[]`` says "none of the topics"), an aspect missing from ``aspects`` teaches
no polarity.

The held-back part (default 20 %) is seeded and stratified by each label's main tag, and is
recorded by message id in the version (``label_split.json``): an id once held back stays held
back on every later retrain, an id once trained on stays trained, only new ids are split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cx_text.core import schema
from cx_text.core.errors import IngestError
from cx_text.training.corpus import LABEL_COLUMNS, load_corpus, read_labeled_table

HELD_BACK_SHARE = 0.2
TRAIN, HELD_BACK = "train", "held_back"
LABELS_ORIGIN = "labels"
#: distinct trained labels with a polarity a NEW topic needs before it gets its own aspect head
MIN_NEW_ASPECT_LABELS = 10


def read_labels(source: Path) -> pd.DataFrame:
    """Labels from a file (xlsx/csv/parquet/jsonl, corpus JSONL) or a store (``*.duckdb``)."""
    source = Path(source)
    if source.suffix.lower() == ".duckdb":
        return normalize_labels(_store_labels(source))
    if not source.is_file():
        raise IngestError(
            f"labels file {source} does not exist.",
            "Pass --labels with an xlsx/csv/jsonl file (the data/corpus format) or a store.",
        )
    if source.suffix.lower() == ".jsonl":
        return normalize_labels(load_corpus([source]))
    return normalize_labels(pd.DataFrame(read_labeled_table(source), columns=list(LABEL_COLUMNS)))


def _store_labels(path: Path) -> pd.DataFrame:
    """The store's labels (:func:`cx_text.store.labels.labels_frame`)."""
    from cx_text.store import labels as store_labels
    from cx_text.store.store import open_store

    if not path.is_file():
        raise IngestError(
            f"store {path} does not exist.", "Pass the store the labels were saved in."
        )
    with open_store(path, read_only=True) as store:
        try:
            frame = store_labels.labels_frame(store)
        except Exception as exc:  # duckdb's CatalogException: an older store
            raise IngestError(
                f"store {path} has no labels table ({type(exc).__name__}).",
                "Correct tags in the app's Verbatims page or `cx-text labels import FILE` first.",
            ) from exc
    if frame is None or not len(frame):
        raise IngestError(
            f"store {path} has no labels yet.",
            "Correct tags in the app's Verbatims page or `cx-text labels import FILE` first.",
        )
    if "labelled" in frame:  # a sentiment- or polarity-only label says nothing of the other topics
        frame = frame.copy()
        frame["topics"] = [
            t if "topics" in (done or []) else None
            for t, done in zip(frame["topics"], frame["labelled"], strict=True)
        ]
    return frame


def normalize_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """The corpus columns with unlabelled fields made explicit: sentiment ``""``, topics None."""
    out = frame.reindex(columns=list(LABEL_COLUMNS)).copy()
    out["id"] = out["id"].astype(str)
    out["sentiment"] = [
        s if isinstance(s, str) and s in schema.SENTIMENTS else "" for s in out["sentiment"]
    ]
    out["topics"] = _objects(
        [
            None if t is None or (isinstance(t, float) and pd.isna(t)) else sorted(map(str, t))
            for t in out["topics"]
        ],
        out.index,
    )
    out["aspects"] = _objects(
        [dict(a) if isinstance(a, Mapping) else {} for a in out["aspects"]], out.index
    )
    out["origin"], out["split"] = LABELS_ORIGIN, ""
    out["lang"] = out["lang"].fillna("").astype(str)
    out["channel"] = out["channel"].fillna("").astype(str)
    if out["id"].duplicated().any():
        dup = out.loc[out["id"].duplicated(), "id"].iloc[0]
        raise IngestError(
            f"label id {dup!r} appears twice.", "Give every labelled message its own id."
        )
    return out.reset_index(drop=True)


def _objects(values: list[object], index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index, dtype=object)


def check_topics(labels: pd.DataFrame, topic_ids: Sequence[str]) -> None:
    """Every labelled topic must be in the taxonomy used for training."""
    unknown = sorted({t for ts in labels["topics"] if ts for t in ts} - set(topic_ids))
    if unknown:
        raise IngestError(
            f"labels use topics not in the taxonomy: {', '.join(unknown)}.",
            "Add them (with a few cues) to a copy of the taxonomy YAML and pass --taxonomy.",
        )


def split_roles(
    labels: pd.DataFrame, known: Mapping[str, str], share: float = HELD_BACK_SHARE, seed: int = 13
) -> dict[str, str]:
    """``{id: train | held_back}``: known ids keep their role; new ids are held back at ``share``
    per stratum (main topic, else sentiment), seeded."""
    roles = {i: known[i] for i in labels["id"] if i in known}
    fresh = labels[~labels["id"].isin(roles)]
    for key, group in fresh.groupby(fresh.apply(_stratum, axis=1), sort=True):
        ids = sorted(group["id"])
        order = np.random.default_rng(_seed(seed, str(key))).permutation(len(ids))
        n_held = int(np.floor(share * len(ids) + _frac(seed, str(key))))
        roles.update(
            {ids[j]: (HELD_BACK if rank < n_held else TRAIN) for rank, j in enumerate(order)}
        )
    return roles


def _stratum(row: pd.Series) -> str:
    topics = row["topics"]
    if topics:
        return f"topic:{topics[0]}"
    return (
        f"sentiment:{row['sentiment'] or '-'}"
        if topics is None
        else f"none:{row['sentiment'] or '-'}"
    )


def _seed(seed: int, key: str) -> int:
    return int(hashlib.sha1(f"{seed}|{key}".encode()).hexdigest()[:8], 16)


def _frac(seed: int, key: str) -> float:
    """A seeded fraction in [0, 1): rounds a stratum's held-back count up or down fairly."""
    return (_seed(seed, "frac" + key) % 1000) / 1000.0


def training_rows(
    labels: pd.DataFrame,
    roles: Mapping[str, str],
    topic_ids: Sequence[str],
    new_topics: Sequence[str],
    weight: int,
) -> pd.DataFrame:
    """The trained labels as rows of the training frame: each ``weight`` times in ``train`` (the
    up-weighting) and once in ``dev`` (thresholds see the organisation's data), with a topic
    scope."""
    trained = labels[labels["id"].map(roles) == TRAIN].copy()
    given = labels.loc[trained.index, "topics"]
    trained["aspects"] = _objects(list(_drop_thin_aspects(trained, new_topics)), trained.index)
    trained["topics"] = _objects([list(t) if t is not None else [] for t in given], trained.index)
    trained["topic_scope"] = _objects(
        [tuple(topic_ids) if t is not None else () for t in given], trained.index
    )
    parts = [trained.assign(split="train")] * max(1, int(weight)) + [trained.assign(split="dev")]
    return pd.concat(parts, ignore_index=True)


def _drop_thin_aspects(trained: pd.DataFrame, new_topics: Sequence[str]) -> list[dict[str, str]]:
    """A new topic's polarity labels teach its aspect head only when there are enough of them."""
    thin = {
        t for t in new_topics if sum(t in a for a in trained["aspects"]) < MIN_NEW_ASPECT_LABELS
    }
    return [{k: v for k, v in a.items() if k not in thin} for a in trained["aspects"]]


def held_back(labels: pd.DataFrame, roles: Mapping[str, str]) -> pd.DataFrame:
    """The labels never trained on."""
    return labels[labels["id"].map(roles) == HELD_BACK].reset_index(drop=True)
