"""The per-topic polarity heads (``aspect_<topic>``): one softmax per topic over the embedding
of a message labeled with that topic's polarity.

MAMS sentences teach a head to tell apart two topics of opposite polarity in one sentence; at
tagging time the head reads the vector of the clauses its topic owns
(:mod:`cx_text.classify.aspects`).

Regularisation is chosen on dev, **one C for every topic** (:data:`ASPECT_C_GRID`: the
strongest regularisation whose accuracy over all topics' dev rows pooled is within
:data:`ASPECT_C_TOLERANCE` of the best): a topic's own dev rows are too few to choose from, and
a near-tie must not flip the choice — re-fitting on fp32 instead of bf16 embeddings once moved it
from 0.02 to 0.1 on dev accuracies 0.8365 / 0.8391, and per-topic polarity on the real test
splits fell 1-2 points with it (2026-12-07). Measured 2026-12-07 (docs/MODELS.md,
"Per-topic polarity heads"): the C of 0.5 used before over-fitted the corpus phrasing — a C of
0.01-0.05 raised polarity accuracy on every real set, held-out CEBaB reviews included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cx_text.classify.heads import Head, fit_temperature
from cx_text.core import schema
from cx_text.training.evaluate import aspect_scores
from cx_text.training.linear import dev_macro_f1, fit_logreg

#: C tried for the aspect heads, strongest regularisation first (near-ties keep the earlier)
ASPECT_C_GRID = (0.02, 0.1, 0.5)
#: pooled dev accuracy a weaker regularisation must gain to be chosen (half a point)
ASPECT_C_TOLERANCE = 0.005
#: a topic needs this many labeled train rows (and two polarities) for a head of its own
MIN_ASPECT_ROWS = 40
#: dev rows a head needs before its temperature is fitted on them
MIN_TEMPERATURE_ROWS = 20


def polarity_labels(data: pd.DataFrame, topic: str) -> np.ndarray:
    """Class index of ``topic``'s polarity per row, -1 where the row labels none."""
    pol = data["aspects"].map(lambda a: a.get(topic, "") if isinstance(a, dict) else "")
    return np.array([schema.SENTIMENTS.index(p) if p in schema.SENTIMENTS else -1 for p in pol])


def train_aspect_heads(
    data: pd.DataFrame,
    x: np.ndarray,
    splits: np.ndarray,
    topic_ids: Sequence[str],
    seed: int,
    meta: dict[str, Any],
) -> list[Head]:
    """Every topic's polarity head, all with the C the pooled dev rows choose."""
    labels = {t: polarity_labels(data, t) for t in topic_ids}
    trainable = [t for t in topic_ids if _enough(labels[t], splits)]
    if not trainable:
        return []
    fits = {c: {t: _fit(x, labels[t], splits, c, seed) for t in trainable} for c in ASPECT_C_GRID}
    dev_acc = {c: _pooled_dev_accuracy(fits[c], x, labels, splits) for c in ASPECT_C_GRID}
    best = max(dev_acc.values())
    best_c = next(c for c in ASPECT_C_GRID if dev_acc[c] >= best - ASPECT_C_TOLERANCE)
    choice = {"aspect_c": best_c, "aspect_c_dev_accuracy": {str(c): a for c, a in dev_acc.items()}}
    return [_head(t, fits[best_c][t], x, labels[t], splits, {**meta, **choice}) for t in trainable]


def _enough(y: np.ndarray, splits: np.ndarray) -> bool:
    tr = (y >= 0) & (splits == "train")
    return bool(tr.sum() >= MIN_ASPECT_ROWS and len(set(y[tr])) >= 2)


def _fit(x: np.ndarray, y: np.ndarray, splits: np.ndarray, c: float, seed: int) -> dict[str, Any]:
    tr = (y >= 0) & (splits == "train")
    return fit_logreg(x[tr], y[tr], c, seed, n_classes=3, classes=sorted(set(y[tr])))


def _pooled_dev_accuracy(
    fits: dict[str, dict[str, Any]],
    x: np.ndarray,
    labels: dict[str, np.ndarray],
    splits: np.ndarray,
) -> float:
    right = total = 0
    for topic, fitted in fits.items():
        dev = (labels[topic] >= 0) & (splits == "dev")
        if not dev.any():
            continue
        head = Head("tmp", "softmax", schema.SENTIMENTS, fitted["layers"])
        right += int((head.logits(x[dev]).argmax(axis=1) == labels[topic][dev]).sum())
        total += int(dev.sum())
    return round(right / total, 4) if total else 0.0


def _head(
    topic: str,
    fitted: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    splits: np.ndarray,
    meta: dict[str, Any],
) -> Head:
    tr, dev = (y >= 0) & (splits == "train"), (y >= 0) & (splits == "dev")
    head_meta = {
        **meta,
        "dev": dev_macro_f1(fitted["layers"], x[dev], y[dev], 3),
        "model": fitted["model"],
        "n_train": int(tr.sum()),
    }
    head = Head(f"aspect_{topic}", "softmax", schema.SENTIMENTS, fitted["layers"], meta=head_meta)
    if dev.sum() < MIN_TEMPERATURE_ROWS:
        return head
    temp = fit_temperature(head.logits(x[dev]), y[dev], "softmax")
    return Head(head.name, head.kind, head.labels, head.layers, temperature=temp, meta=head.meta)


def aspect_given_gold(part: pd.DataFrame, xs: np.ndarray, by: dict[str, Head]) -> dict[str, Any]:
    """Polarity of each gold topic by its head (the sentiment head for a topic without one),
    read from the message embeddings ``xs`` of ``part``'s rows."""
    gold, pred = [], []
    for row, vec in zip(part["aspects"], xs, strict=True):
        if not isinstance(row, dict) or not row:
            continue
        gold.append(row)
        guess = {}
        for topic in row:
            head = by.get(f"aspect_{topic}", by["sentiment"])
            guess[topic] = schema.SENTIMENTS[int(head.predict_proba(vec[None, :]).argmax())]
        pred.append(guess)
    return aspect_scores(gold, pred) if gold else {}
