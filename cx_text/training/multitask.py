"""The joint objective of the encoder fine-tune: sentiment, topics and per-topic polarity.

All three read the mean-pooled embedding (the vector the shipped heads read) — except, with
``FinetuneRecipe(aspect_pool="clauses")``, the polarity of a topic that owns clauses of a
multi-clause message, which reads those clauses' tokens (:func:`with_span_polarity`), as the
tagger reads it:

* 3-class sentiment — class-balanced cross-entropy over rows with an overall label;
* multi-label topics — BCE masked to the topics each row's source labels (``topic_scope``);
* per-topic polarity — one 3-way output per topic, cross-entropy on every labeled polarity.

These heads exist only during training; the shipped heads are re-fitted afterwards on the
fine-tuned encoder's embeddings (:mod:`cx_text.training.fit`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core import schema

N_SENT = len(schema.SENTIMENTS)


def joint_heads(dim: int, n_topics: int) -> Any:
    """A torch module: pooled (batch, dim) -> (sentiment, topic, polarity) logits."""
    import torch

    class JointHeads(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sentiment = torch.nn.Linear(dim, N_SENT)
            self.topics = torch.nn.Linear(dim, n_topics)
            self.aspects = torch.nn.Linear(dim, n_topics * N_SENT)

        def forward(self, pooled: Any) -> tuple[Any, Any, Any]:
            polarity = self.aspects(pooled).view(-1, n_topics, N_SENT)
            return self.sentiment(pooled), self.topics(pooled), polarity

    return JointHeads()


def targets(rows: pd.DataFrame, topic_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Label arrays: ``sent`` (-1 unlabeled), ``topic_y`` / ``topic_m`` (0 mask where the
    source does not label a topic), ``asp`` (-1 where no polarity is labeled)."""
    sent = np.array(
        [schema.SENTIMENTS.index(s) if s in schema.SENTIMENTS else -1 for s in rows["sentiment"]],
        dtype=np.int64,
    )
    topic_y = np.zeros((len(rows), len(topic_ids)), np.float32)
    topic_m = np.zeros_like(topic_y)
    asp = np.full((len(rows), len(topic_ids)), -1, np.int64)
    for i, (scope, topics, aspects) in enumerate(
        zip(rows["topic_scope"], rows["topics"], rows["aspects"], strict=True)
    ):
        for j, topic in enumerate(topic_ids):
            topic_m[i, j] = float(topic in scope)
            topic_y[i, j] = float(topic in topics)
            pol = aspects.get(topic, "") if isinstance(aspects, dict) else ""
            asp[i, j] = schema.SENTIMENTS.index(pol) if pol in schema.SENTIMENTS else -1
    return {"sent": sent, "topic_y": topic_y, "topic_m": topic_m, "asp": asp}


def class_weights(sent: np.ndarray) -> np.ndarray:
    """Balanced weights of the sentiment classes present (capped at 5)."""
    counts = np.bincount(sent[sent >= 0], minlength=N_SENT).astype(np.float32)
    weights = counts.sum() / (N_SENT * np.maximum(counts, 1.0))
    return np.minimum(weights, 5.0).astype(np.float32)


def joint_loss(
    outputs: tuple[Any, Any, Any],
    y: dict[str, Any],
    weights: Any,
    topic_weight: float,
    aspect_weight: float,
) -> Any:
    """Sum of the three losses over the rows each applies to (torch tensors)."""
    import torch
    from torch.nn import functional

    sent_logits, topic_logits, asp_logits = (o.float() for o in outputs)
    loss = torch.zeros(())
    if bool((y["sent"] >= 0).any()):
        loss = loss + functional.cross_entropy(
            sent_logits, y["sent"], weight=weights, ignore_index=-1
        )
    if float(y["topic_m"].sum()) > 0:
        bce = functional.binary_cross_entropy_with_logits(
            topic_logits, y["topic_y"], reduction="none"
        )
        loss = loss + topic_weight * (bce * y["topic_m"]).sum() / y["topic_m"].sum()
    if bool((y["asp"] >= 0).any()):
        loss = loss + aspect_weight * functional.cross_entropy(
            asp_logits.reshape(-1, N_SENT), y["asp"].reshape(-1), ignore_index=-1
        )
    return loss


def span_tokens(
    offsets: Sequence[Sequence[tuple[int, int]]],
    spans: Sequence[Mapping[str, Sequence[tuple[int, int]]]],
    topic_ids: Sequence[str],
    shift: int = 0,
) -> list[list[tuple[int, np.ndarray]]]:
    """Per row: ``(topic index, token positions)`` of every topic with clause spans
    (:mod:`cx_text.training.clause_spans`). ``offsets`` are the tokenizer's character offsets
    of the text with the ``shift``-long prefix; special tokens (empty offsets) never count, and
    a span cut away by truncation gives no pair (the topic then reads the whole message)."""
    col = {t: j for j, t in enumerate(topic_ids)}
    out: list[list[tuple[int, np.ndarray]]] = []
    for row_offsets, row_spans in zip(offsets, spans, strict=True):
        pairs = []
        for topic, topic_spans in row_spans.items():
            toks = [
                k
                for k, (a, b) in enumerate(row_offsets)
                if b > a and any(a < e + shift and b > s + shift for s, e in topic_spans)
            ]
            if toks and topic in col:
                pairs.append((col[topic], np.asarray(toks, dtype=np.int64)))
        out.append(pairs)
    return out


def with_span_polarity(
    heads: Any,
    hidden: Any,
    outputs: tuple[Any, Any, Any],
    pairs: Sequence[tuple[int, int, Any]],
    scale: float,
) -> tuple[Any, Any, Any]:
    """``outputs`` with the polarity logits of each ``(batch row, topic index, token positions)``
    pair read from its clause tokens' mean state (L2-normalised, times ``scale``) instead of the
    message vector — what the tagger's aspect heads read for a topic that owns clauses."""
    import torch

    if not pairs:
        return outputs
    rows = torch.tensor([b for b, _, _ in pairs])
    cols = torch.tensor([j for _, j, _ in pairs])
    vecs = torch.stack([hidden[b, torch.from_numpy(toks)].float().mean(0) for b, _, toks in pairs])
    vecs = torch.nn.functional.normalize(vecs, dim=-1) * scale
    logits = (
        heads.aspects(vecs).float().view(len(pairs), -1, N_SENT)[torch.arange(len(pairs)), cols]
    )
    sent, topic, asp = outputs
    asp = asp.float().clone()
    asp[rows, cols] = logits
    return sent, topic, asp
