"""Train the classifier heads over encoder embeddings — deterministically.

Heads (see :mod:`cx_text.classify.heads`):

* ``sentiment`` — softmax over negative/neutral/positive, temperature-calibrated on dev;
* ``topics`` — one sigmoid per taxonomy topic with a per-topic threshold tuned on dev;
* ``aspect_<topic>`` — softmax polarity of one topic, trained on messages labeled with that topic
  (MAMS sentences teach it to tell apart two topics of opposite polarity in one sentence).

Training is logistic regression (lbfgs, fixed seed) on standardised embeddings, folded back into
one linear layer, or a one-hidden-layer MLP when it wins on dev. The choice and every dev/test
figure are written next to the heads in ``metrics.json``.
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
from cx_text.core import schema
from cx_text.training.evaluate import aspect_scores, multilabel_scores, per_label_scores

Embedder = Callable[[Sequence[str]], np.ndarray]
C_GRID = (0.25, 1.0)
ASPECT_C = 0.5
MIN_ASPECT_ROWS = 40


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
    heads = [
        _train_sentiment(data, x, splits, seed, meta),
        _train_topics(data, x, splits, topic_ids, seed, meta, per_topic_dev),
    ]
    return heads + [
        h for t in topic_ids if (h := _train_aspect(data, x, splits, t, seed, meta)) is not None
    ]


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
    best = _select_softmax(x[tr], y[tr], x[dev], y[dev], seed, n_classes=3)
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
    y = np.array([[int(t in ts) for t in topic_ids] for ts in data["topics"]], dtype=np.int64)
    y = y.reshape(len(data), len(topic_ids))
    scoped = topic_mask(data, topic_ids)
    tr, dev = splits == "train", (splits == "dev") & scoped.all(axis=1)
    weights, biases, chosen = [], [], {}
    for j, topic in enumerate(topic_ids):
        tr_j, dev_j = tr & scoped[:, j], (splits == "dev") & scoped[:, j]
        best = _select_softmax(
            x[tr_j], y[tr_j, j], x[dev_j], y[dev_j, j], seed, n_classes=2, linear_only=True
        )
        ((w, b),) = best["layers"]
        weights.append(w[1] - w[0])
        biases.append(b[1] - b[0])
        chosen[topic] = best["model"]
    layers = ((np.stack(weights).astype(np.float32), np.array(biases, dtype=np.float32)),)
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


def _train_aspect(
    data: pd.DataFrame,
    x: np.ndarray,
    splits: np.ndarray,
    topic: str,
    seed: int,
    meta: dict[str, Any],
) -> Head | None:
    pol = data["aspects"].map(lambda a: a.get(topic, "") if isinstance(a, dict) else "")
    mask = pol.isin(schema.SENTIMENTS).to_numpy()
    y = np.array([schema.SENTIMENTS.index(p) if p in schema.SENTIMENTS else -1 for p in pol])
    tr, dev = mask & (splits == "train"), mask & (splits == "dev")
    if tr.sum() < MIN_ASPECT_ROWS or len(set(y[tr])) < 2:
        return None
    present = sorted(set(y[tr]))
    best = _fit_logreg(x[tr], y[tr], ASPECT_C, seed, n_classes=3, classes=present)
    best["dev"] = _dev_macro_f1(best["layers"], x[dev], y[dev], 3)
    head = Head(
        f"aspect_{topic}",
        "softmax",
        schema.SENTIMENTS,
        best["layers"],
        meta={**meta, "dev": best["dev"], "model": best["model"], "n_train": int(tr.sum())},
    )
    if dev.sum() >= 20:
        head = Head(
            head.name,
            head.kind,
            head.labels,
            head.layers,
            temperature=fit_temperature(head.logits(x[dev]), y[dev], "softmax"),
            meta=head.meta,
        )
    return head


def _select_softmax(
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    x_dev: np.ndarray,
    y_dev: np.ndarray,
    seed: int,
    n_classes: int,
    linear_only: bool = False,
    classes: list[int] | None = None,
) -> dict[str, Any]:
    """Grid over logistic-regression C (and an MLP unless ``linear_only``); best dev macro-F1
    wins."""
    candidates = [_fit_logreg(x_tr, y_tr, c, seed, n_classes, classes) for c in C_GRID]
    if not linear_only:
        candidates.append(_fit_mlp(x_tr, y_tr, seed, n_classes))
    for cand in candidates:
        head = Head("tmp", "softmax", tuple(map(str, range(n_classes))), cand["layers"])
        pred = head.predict_proba(x_dev).argmax(axis=1) if len(x_dev) else np.array([], int)
        labs = [str(i) for i in range(n_classes)]
        cand["dev"] = {
            "macro_f1": per_label_scores([str(v) for v in y_dev], [str(v) for v in pred], labs)[
                "macro_f1"
            ]
        }
    return max(candidates, key=lambda c: c["dev"]["macro_f1"])


def _dev_macro_f1(
    layers: tuple, x_dev: np.ndarray, y_dev: np.ndarray, n_classes: int
) -> dict[str, float]:
    head = Head("tmp", "softmax", tuple(map(str, range(n_classes))), layers)
    pred = head.predict_proba(x_dev).argmax(axis=1) if len(x_dev) else np.array([], int)
    labs = [str(i) for i in range(n_classes)]
    gold = [str(v) for v in y_dev]
    return {"macro_f1": per_label_scores(gold, [str(v) for v in pred], labs)["macro_f1"]}


def _fit_logreg(
    x: np.ndarray,
    y: np.ndarray,
    c: float,
    seed: int,
    n_classes: int,
    classes: list[int] | None = None,
) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    mu, sigma = x.mean(axis=0), x.std(axis=0) + 1e-6
    clf = LogisticRegression(
        C=c, max_iter=500, tol=1e-4, class_weight="balanced", random_state=seed
    )
    clf.fit((x - mu) / sigma, y)
    coef, intercept = _full_classes(clf, n_classes)
    w = coef / sigma[None, :]
    b = intercept - (coef * (mu / sigma)[None, :]).sum(axis=1)
    return {"layers": ((w.astype(np.float32), b.astype(np.float32)),), "model": f"logreg(C={c})"}


def _full_classes(clf: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Expand sklearn's coefficients to all ``n_classes`` (absent classes get -inf-ish bias)."""
    coef, intercept = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # binary: sklearn keeps one row for class 1
        coef = np.vstack([np.zeros_like(coef[0]), coef[0]])
        intercept = np.array([0.0, intercept[0]])
    full_w = np.zeros((n_classes, coef.shape[1]))
    full_b = np.full(n_classes, -30.0)
    for row, cls in enumerate(clf.classes_):
        full_w[int(cls)], full_b[int(cls)] = coef[row], intercept[row]
    return full_w, full_b


def _fit_mlp(x: np.ndarray, y: np.ndarray, seed: int, n_classes: int) -> dict[str, Any]:
    from sklearn.neural_network import MLPClassifier

    mu, sigma = x.mean(axis=0), x.std(axis=0) + 1e-6
    clf = MLPClassifier(
        hidden_layer_sizes=(256,), alpha=1e-2, max_iter=300, early_stopping=True, random_state=seed
    )
    clf.fit((x - mu) / sigma, y)
    w1, b1 = (
        clf.coefs_[0].T / sigma[None, :],
        clf.intercepts_[0] - (clf.coefs_[0].T * (mu / sigma)[None, :]).sum(axis=1),
    )
    w2, b2 = clf.coefs_[1].T, clf.intercepts_[1]
    if w2.shape[0] == 1:
        w2, b2 = np.vstack([np.zeros_like(w2[0]), w2[0]]), np.array([0.0, b2[0]])
    return {
        "layers": (
            (w1.astype(np.float32), b1.astype(np.float32)),
            (w2.astype(np.float32), b2.astype(np.float32)),
        ),
        "model": "mlp(256)",
    }


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
        pred_topics = [[t for t, d in zip(topic_ids, row, strict=True) if d] for row in decided]
        res["topics"] = multilabel_scores(part["topics"].tolist(), pred_topics, topic_ids)
        res["aspects_given_gold_topics"] = _aspect_given_gold(part, xs, by)
        out[str(origin)] = res
    return out


def _aspect_given_gold(part: pd.DataFrame, xs: np.ndarray, by: dict[str, Head]) -> dict[str, Any]:
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
