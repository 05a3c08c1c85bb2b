"""Train the classifier heads over encoder embeddings — deterministically.

Heads (see :mod:`cx_text.classify.heads`):

* ``sentiment`` — softmax over negative/neutral/positive, temperature-calibrated on dev;
* ``topics`` — one sigmoid per taxonomy topic with a per-topic threshold tuned on dev;
* ``aspect_<topic>`` — softmax polarity of one topic, trained on messages labeled with that topic
  (:mod:`cx_text.training.aspects`: one regularisation for all topics, chosen on dev).

Training is logistic regression (lbfgs, fixed seed) on standardised embeddings, folded back into
one linear layer, or a one-hidden-layer MLP when it wins on dev (:mod:`cx_text.training.linear`).
The choice and every dev/test figure are written next to the heads in ``metrics.json``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cx_text.classify.heads import Head, best_thresholds, fit_temperature, save_head
from cx_text.classify.topics import NEUTRAL_GATE
from cx_text.core import schema
from cx_text.training.aspects import aspect_given_gold, train_aspect_heads
from cx_text.training.evaluate import multilabel_scores, per_label_scores
from cx_text.training.linear import select_softmax, stack_binary

Embedder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class TrainResult:
    """Where the heads went and how they scored on dev and test."""

    out_dir: Path
    metrics: dict[str, Any]


def train_heads(
    data: pd.DataFrame,
    embed: Embedder,
    out_dir: Path,
    topic_ids: Sequence[str],
    *,
    seed: int = 13,
    extra_meta: dict[str, Any] | None = None,
    per_topic_dev: bool = False,
) -> TrainResult:
    """Fit every head on ``data`` (columns of :data:`cx_text.training.corpus.LABEL_COLUMNS`), save,
    score."""
    started = time.time()
    x = embed(data["text"].tolist())
    meta = {"trained_on": _data_fingerprint(data), "seed": seed, **(extra_meta or {})}
    heads = fit_heads(data, x, topic_ids, seed=seed, meta=meta, per_topic_dev=per_topic_dev)
    for head in heads:
        save_head(head, out_dir)
    metrics = {
        "heads": {h.name: h.meta.get("dev", {}) for h in heads},
        "test": score_split(data, x, heads, topic_ids, "test"),
        "dev": score_split(data, x, heads, topic_ids, "dev"),
        "seconds": round(time.time() - started, 1),
        **meta,
    }
    (out_dir / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return TrainResult(out_dir=out_dir, metrics=metrics)


def fit_heads(
    data: pd.DataFrame,
    x: np.ndarray,
    topic_ids: Sequence[str],
    *,
    seed: int = 13,
    meta: dict[str, Any] | None = None,
    per_topic_dev: bool = False,
) -> list[Head]:
    """Every head fitted on ``data``'s train split (dev for choices), from embeddings ``x``.

    With a ``topic_scope`` column (:mod:`cx_text.training.sources`), topic ``t`` learns only
    from rows whose source labels ``t``, and is calibrated on rows that label every topic —
    or, with ``per_topic_dev`` (retraining with new topics, which only the labels cover), each
    topic's threshold on the dev rows that label it.
    """
    splits = data["split"].to_numpy()
    meta = meta or {}
    sentiment = _train_sentiment(data, x, splits, seed, meta)
    topics = _train_topics(data, x, splits, topic_ids, seed, meta, per_topic_dev)
    dev = (splits == "dev") & topic_mask(data, topic_ids).all(axis=1)
    topics = with_other_threshold(topics, sentiment, x[dev], _topic_matrix(data[dev], topic_ids))
    return [sentiment, topics, *train_aspect_heads(data, x, splits, topic_ids, seed, meta)]


def with_other_threshold(
    topics: Head, sentiment: Head, x_dev: np.ndarray, y_dev: np.ndarray
) -> Head:
    """``topics`` with the ``other`` threshold chosen for the decision it makes in the tagger.

    The tagger reads ``other`` only for a message no other topic was assigned to and that is
    not confidently neutral (:meth:`cx_text.classify.topics.TopicClassifier._is_opinion`), so
    the threshold is chosen on those dev rows (best F1 of ``other``; ties keep the higher
    threshold), not on every dev row as the other topics' are (docs/MODELS.md, 2026-12-07).
    """
    labels = list(topics.labels)
    if schema.OTHER_TOPIC not in labels or not len(x_dev) or not topics.thresholds:
        return topics
    j = labels.index(schema.OTHER_TOPIC)
    proba = topics.predict_proba(x_dev)
    open_rows = other_open(topics.decide(proba), sentiment.predict_proba(x_dev), j)
    gold = y_dev[:, j].astype(bool)
    best, best_f1 = topics.thresholds[j], -1.0
    for thr in np.round(np.arange(0.8, 0.149, -0.05), 2):  # high to low: a tie keeps the higher
        pred = open_rows & (proba[:, j] >= thr)
        tp = float((pred & gold).sum())
        f1 = 2 * tp / max(float(pred.sum() + gold.sum()), 1.0)
        if f1 > best_f1:
            best, best_f1 = float(thr), f1
    thresholds = tuple(best if k == j else t for k, t in enumerate(topics.thresholds))
    return Head(
        topics.name,
        topics.kind,
        topics.labels,
        topics.layers,
        topics.temperature,
        thresholds,
        topics.meta,
    )


def other_open(decided: np.ndarray, sentiment_probs: np.ndarray, j: int) -> np.ndarray:
    """Rows where the tagger would consider ``other`` (column ``j``): no other topic decided and
    the message not confidently neutral."""
    assigned = np.delete(decided, j, axis=1).any(axis=1)
    neutral = schema.SENTIMENTS.index("neutral")
    sure = (sentiment_probs.argmax(axis=1) == neutral) & (
        sentiment_probs[:, neutral] >= NEUTRAL_GATE
    )
    return ~assigned & ~sure


#: each topic's MLP candidate: a bag of this many MLPs of TOPIC_MLP_HIDDEN units (the topics head
#: stays under 4 MB with every topic an MLP; docs/MODELS.md "Topic heads")
TOPIC_MLP_BAG = 5
TOPIC_MLP_HIDDEN = 64


def _topic_matrix(data: pd.DataFrame, topic_ids: Sequence[str]) -> np.ndarray:
    """(rows, topics) int64: 1 where a row is labeled with the topic."""
    rows = [[int(t in ts) for t in topic_ids] for ts in data["topics"]]
    return np.array(rows, dtype=np.int64).reshape(len(data), len(topic_ids))


def fit_topics_head(
    data: pd.DataFrame,
    x: np.ndarray,
    topic_ids: Sequence[str],
    *,
    seed: int = 13,
    per_topic_dev: bool = False,
) -> Head:
    """The topics head alone (as :func:`fit_heads` fits it): for learning curves and quick
    checks."""
    return _train_topics(data, x, data["split"].to_numpy(), topic_ids, seed, {}, per_topic_dev)


def fit_sentiment_head(data: pd.DataFrame, x: np.ndarray, *, seed: int = 13) -> Head:
    """The sentiment head alone (as :func:`fit_heads` fits it): for learning curves."""
    return _train_sentiment(data, x, data["split"].to_numpy(), seed, {})


def topic_mask(data: pd.DataFrame, topic_ids: Sequence[str]) -> np.ndarray:
    """(rows, topics) bool: which topics each row is labeled for (all without ``topic_scope``)."""
    if "topic_scope" not in data:
        return np.ones((len(data), len(topic_ids)), dtype=bool)
    return np.array(
        [[t in scope for t in topic_ids] for scope in data["topic_scope"]], dtype=bool
    ).reshape(len(data), len(topic_ids))


def _train_sentiment(
    data: pd.DataFrame, x: np.ndarray, splits: np.ndarray, seed: int, meta: dict[str, Any]
) -> Head:
    labeled = data["sentiment"].isin(schema.SENTIMENTS).to_numpy()
    y = np.array(
        [schema.SENTIMENTS.index(s) if s in schema.SENTIMENTS else -1 for s in data["sentiment"]]
    )
    tr, dev = labeled & (splits == "train"), labeled & (splits == "dev")
    best = select_softmax(x[tr], y[tr], x[dev], y[dev], seed, n_classes=3)
    head = Head(
        "sentiment",
        "softmax",
        schema.SENTIMENTS,
        best["layers"],
        meta={**meta, "dev": best["dev"], "model": best["model"]},
    )
    temp = fit_temperature(head.logits(x[dev]), y[dev], "softmax")
    return Head(head.name, head.kind, head.labels, head.layers, temperature=temp, meta=head.meta)


def _train_topics(
    data: pd.DataFrame,
    x: np.ndarray,
    splits: np.ndarray,
    topic_ids: Sequence[str],
    seed: int,
    meta: dict[str, Any],
    per_topic_dev: bool = False,
) -> Head:
    y = _topic_matrix(data, topic_ids)
    scoped = topic_mask(data, topic_ids)
    tr, dev = splits == "train", (splits == "dev") & scoped.all(axis=1)
    per_topic, chosen = [], {}
    for j, topic in enumerate(topic_ids):
        tr_j, dev_j = tr & scoped[:, j], (splits == "dev") & scoped[:, j]
        best = select_softmax(
            x[tr_j],
            y[tr_j, j],
            x[dev_j],
            y[dev_j, j],
            seed,
            n_classes=2,
            bag=TOPIC_MLP_BAG,
            hidden=TOPIC_MLP_HIDDEN,
        )
        per_topic.append(best["layers"])
        chosen[topic] = best["model"]
    layers = stack_binary(per_topic)
    head = Head("topics", "sigmoid", tuple(topic_ids), layers, meta={**meta, "model": chosen})
    if per_topic_dev:
        temp, thresholds = _per_topic_calibration(head, x, y, scoped & (splits == "dev")[:, None])
        return Head(head.name, head.kind, head.labels, layers, temp, thresholds, head.meta)
    temp = fit_temperature(head.logits(x[dev]), y[dev], "sigmoid")
    head = Head(head.name, head.kind, head.labels, layers, temperature=temp, meta=head.meta)
    thresholds = best_thresholds(head.predict_proba(x[dev]), y[dev])
    return Head(head.name, head.kind, head.labels, layers, temp, thresholds, head.meta)


def _per_topic_calibration(
    head: Head, x: np.ndarray, y: np.ndarray, dev: np.ndarray
) -> tuple[float, tuple[float, ...]]:
    """One temperature over every (row, topic) dev pair a row labels, then each topic's
    threshold on its own dev rows (0.5 for a topic no dev row labels)."""
    logits = head.logits(x)
    pairs = dev.nonzero()
    temp = (
        fit_temperature(logits[pairs][:, None], y[pairs][:, None], "sigmoid")
        if len(pairs[0])
        else 1.0
    )
    tuned = Head(head.name, head.kind, head.labels, head.layers, temperature=temp, meta=head.meta)
    proba = tuned.predict_proba(x)
    thresholds = tuple(
        best_thresholds(proba[dev[:, j], j : j + 1], y[dev[:, j], j : j + 1])[0]
        if dev[:, j].any()
        else 0.5
        for j in range(y.shape[1])
    )
    return temp, thresholds


def score_split(
    data: pd.DataFrame, x: np.ndarray, heads: Sequence[Head], topic_ids: Sequence[str], split: str
) -> dict[str, Any]:
    """Head-level scores on one split, per origin (corpus vs public sets), from message
    embeddings."""
    by = {h.name: h for h in heads}
    out: dict[str, Any] = {}
    for origin, part in data[data["split"] == split].groupby(
        data["origin"].where(data["origin"].isin(["mams", "banking77", "labels"]), "corpus")
    ):
        idx = part.index.to_numpy()
        xs = x[idx]
        res: dict[str, Any] = {"n": len(idx)}
        sent_mask = part["sentiment"].isin(schema.SENTIMENTS).to_numpy()
        if sent_mask.any():
            pred = by["sentiment"].predict_proba(xs[sent_mask]).argmax(axis=1)
            res["sentiment"] = per_label_scores(
                part["sentiment"][sent_mask].tolist(),
                [schema.SENTIMENTS[i] for i in pred],
                schema.SENTIMENTS,
            )
            for lang in ("ru", "en"):
                lm = sent_mask & (part["lang"] == lang).to_numpy()
                if lm.any():
                    pl = by["sentiment"].predict_proba(xs[lm]).argmax(axis=1)
                    res[f"sentiment_macro_f1_{lang}"] = per_label_scores(
                        part["sentiment"][lm].tolist(),
                        [schema.SENTIMENTS[i] for i in pl],
                        schema.SENTIMENTS,
                    )["macro_f1"]
        topics_head = by["topics"]
        decided = topics_head.decide(topics_head.predict_proba(xs))
        if schema.OTHER_TOPIC in topics_head.labels:  # as the tagger decides `other`
            j = list(topics_head.labels).index(schema.OTHER_TOPIC)
            decided[:, j] &= other_open(decided, by["sentiment"].predict_proba(xs), j)
        pred_topics = [[t for t, d in zip(topic_ids, row, strict=True) if d] for row in decided]
        res["topics"] = multilabel_scores(part["topics"].tolist(), pred_topics, topic_ids)
        res["aspects_given_gold_topics"] = aspect_given_gold(part, xs, by)
        out[str(origin)] = res
    return out


def _data_fingerprint(data: pd.DataFrame) -> dict[str, Any]:
    h = hashlib.sha256()
    for text, split in zip(data["text"], data["split"], strict=True):
        h.update(f"{split}\x1f{text}\x1e".encode())
    return {
        "rows": len(data),
        "sha256": h.hexdigest(),
        "by_origin": {
            str(k): int(v) for k, v in data["origin"].value_counts().sort_index().items()
        },
    }
