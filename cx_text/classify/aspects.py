"""Per-topic sentiment: the polarity of each detected topic, judged on the clauses that mention it.

"курьер вежливый, но опоздал" -> staff: positive (first clause), delivery: negative (second).
A topic's clauses come from the topic classifier's evidence; their embeddings are averaged and
scored by the topic's own polarity head (``aspect_<topic>``), falling back to the overall
sentiment head for topics without one (e.g. user-added topics). ``other`` takes the message's
overall sentiment. A single-clause message is judged on the whole message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cx_text.classify.features import MessageFeatures
from cx_text.classify.heads import Head
from cx_text.classify.sentiment import SentimentResult
from cx_text.classify.topics import TopicResult
from cx_text.core import schema


def predict_aspects(
    features: Sequence[MessageFeatures],
    topics: Sequence[TopicResult],
    sentiments: Sequence[SentimentResult],
    aspect_heads: Mapping[str, Head],
    sentiment_head: Head | None,
) -> list[list[dict[str, Any]]]:
    """``[{"topic", "polarity", "score"}, …]`` per message, in the order of its topics."""
    out = []
    for f, tr, s in zip(features, topics, sentiments, strict=True):
        aspects = [_polarity(t, f, tr, s, aspect_heads, sentiment_head) for t in tr.topics]
        out.append(contrast_flip(aspects, f, tr))
    return out



def contrast_flip(aspects: list[dict[str, Any]], feat: MessageFeatures, tr: TopicResult) -> list[dict[str, Any]]:
    """Two topics on either side of a contrast marker ("вежливый, НО опоздал") that came out with
    the same polarity: the less confident one takes the opposite polarity."""
    judged = [a for a in aspects if a["topic"] != schema.OTHER_TOPIC and a["polarity"] != "neutral"]
    if len(judged) != 2 or judged[0]["polarity"] != judged[1]["polarity"]:
        return aspects
    first, second = sorted(judged, key=lambda a: min(tr.clause_topics.get(a["topic"]) or (99,)))
    a_idx, b_idx = tr.clause_topics.get(first["topic"]), tr.clause_topics.get(second["topic"])
    if not a_idx or not b_idx or max(a_idx) >= min(b_idx):
        return aspects
    if not any(feat.clauses[i].marker for i in range(max(a_idx) + 1, min(b_idx) + 1) if i < len(feat.clauses)):
        return aspects
    weak = min(judged, key=lambda a: abs(a["score"]))
    flipped = {**weak, "polarity": "negative" if weak["polarity"] == "positive" else "positive",
               "score": -weak["score"]}
    return [flipped if a is weak else a for a in aspects]


def _polarity(
    topic: str,
    feat: MessageFeatures,
    tr: TopicResult,
    sent: SentimentResult,
    heads: Mapping[str, Head],
    sentiment_head: Head | None,
) -> dict[str, Any]:
    head = heads.get(f"aspect_{topic}") or sentiment_head
    if topic == schema.OTHER_TOPIC or head is None:
        return {"topic": topic, "polarity": sent.label, "score": sent.score}
    vec = _topic_vector(feat, tr.clause_topics.get(topic, ()))
    proba = head.predict_proba(vec[None, :])[0]
    label = schema.SENTIMENTS[int(np.argmax(proba))]
    return {"topic": topic, "polarity": label, "score": round(float(proba[2] - proba[0]), 4)}


def _topic_vector(feat: MessageFeatures, clause_idx: Sequence[int]) -> np.ndarray:
    if len(feat.clauses) < 2 or not clause_idx or len(clause_idx) == len(feat.clauses):
        return feat.embedding
    vecs = feat.clause_vectors()
    mean = vecs[[i for i in clause_idx if i < len(vecs)]].mean(axis=0)
    return mean / (np.linalg.norm(mean) + 1e-9)
