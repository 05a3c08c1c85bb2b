"""Overall sentiment of a message: negative / neutral / positive with calibrated probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cx_text.classify.features import MessageFeatures, stack_embeddings
from cx_text.classify.heads import Head
from cx_text.core import schema


class TextSentimentModel(Protocol):
    """A ready text classifier (e.g. a user's Hugging Face model) mapped to our three labels."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class SentimentResult:
    label: str
    score: float  # P(positive) - P(negative)
    probs: dict[str, float]


def sentiment_from_proba(proba: np.ndarray) -> list[SentimentResult]:
    """Turn (n, 3) probabilities in ``schema.SENTIMENTS`` order into results."""
    out = []
    for row in np.asarray(proba, dtype=float):
        probs = {lab: round(float(p), 4) for lab, p in zip(schema.SENTIMENTS, row, strict=True)}
        label = schema.SENTIMENTS[int(np.argmax(row))]
        out.append(SentimentResult(label, round(probs["positive"] - probs["negative"], 4), probs))
    return out


def predict_sentiment(
    features: list[MessageFeatures],
    head: Head | None = None,
    texts: Sequence[str] | None = None,
    text_model: TextSentimentModel | None = None,
) -> list[SentimentResult]:
    """Sentiment from the embedding head, or from a user-supplied text model when one is given."""
    if not features:
        return []
    if text_model is not None:
        if texts is None:
            raise ValueError("a text sentiment model needs the texts")
        return sentiment_from_proba(text_model.predict_proba(list(texts)))
    if head is None:
        raise ValueError("no sentiment head and no text model")
    return sentiment_from_proba(head.predict_proba(stack_embeddings(features)))
