"""Classifiers: sentiment, topics and per-topic sentiment with evidence.

:class:`Classifier` bundles the heads and the taxonomy and turns per-message features into the
tag columns of the tagging contract (see :mod:`cx_text.core.schema`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cx_text.classify.aspects import predict_aspects
from cx_text.classify.features import Clause, MessageFeatures
from cx_text.classify.heads import Head, load_head
from cx_text.classify.sentiment import TextSentimentModel, predict_sentiment
from cx_text.classify.signals import apply_signals, mixed_is_neutral
from cx_text.classify.topics import TopicClassifier
from cx_text.core import schema
from cx_text.core.errors import ModelError
from cx_text.core.taxonomy import Taxonomy

__all__ = ["Classifier", "Clause", "MessageFeatures", "load_heads"]


def load_heads(directory: Path) -> dict[str, Head]:
    """Every head in ``directory`` by name (``sentiment``, ``topics``, ``aspect_<topic>``)."""
    if not directory.is_dir():
        raise ModelError(
            f"no trained heads at {directory}.",
            "Reinstall cx-text (the heads ship inside it), run `cx-text train`, or set "
            "CX_TEXT_MODELS_DIR to a directory holding heads/.",
        )
    return {p.stem: load_head(directory, p.stem) for p in sorted(directory.glob("*.safetensors"))}


@dataclass(frozen=True)
class Classifier:
    """Heads + taxonomy (+ an optional user text model for sentiment)."""

    heads: Mapping[str, Head]
    taxonomy: Taxonomy
    text_sentiment: TextSentimentModel | None = None
    _topics: TopicClassifier = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_topics", TopicClassifier(self.heads.get("topics"), self.taxonomy)
        )

    def classify(
        self, features: Sequence[MessageFeatures], texts: Sequence[str]
    ) -> dict[str, list[Any]]:
        """Tag columns (lists aligned with ``features``) for the tagging contract."""
        feats = list(features)
        sents = apply_signals(
            feats, predict_sentiment(feats, self.heads.get("sentiment"), texts, self.text_sentiment)
        )
        topics = self._topics.predict(feats, sents)
        aspect_heads = {k: v for k, v in self.heads.items() if k.startswith("aspect_")}
        aspects = predict_aspects(
            feats,
            topics,
            sents,
            aspect_heads,
            self.heads.get("sentiment"),
            self.taxonomy.subtopic_polarities(),
        )
        sents = mixed_is_neutral(feats, sents, aspects)
        return {
            schema.SENTIMENT: [s.label for s in sents],
            schema.SENTIMENT_SCORE: [s.score for s in sents],
            schema.SENTIMENT_PROBS: [s.probs for s in sents],
            schema.TOPICS: [list(t.topics) for t in topics],
            schema.TOPIC_SCORES: [t.scores for t in topics],
            schema.SUBTOPICS: [list(t.subtopics) for t in topics],
            schema.ASPECT_SENTIMENTS: aspects,
            schema.EVIDENCE: [list(t.evidence) for t in topics],
        }
