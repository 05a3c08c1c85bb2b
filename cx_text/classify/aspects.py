"""Per-topic sentiment: the polarity of each detected topic, judged on the clauses that mention it.

"курьер вежливый, но опоздал" -> staff: positive (first clause), delivery: negative (second).
A topic's clauses come from the topic classifier's evidence; their embeddings are averaged and
scored by the topic's own polarity head (``aspect_<topic>``), falling back to the overall
sentiment head for topics without one (e.g. user-added topics). ``other`` takes the message's
overall sentiment. A single-clause message is judged on the whole message.

Two rules on top of the heads (tables in tests/classify/test_classify.py):

* a sub-topic with a polarity in the taxonomy (``delivery/late``: negative, ``staff/polite``:
  positive) decides its topic's polarity when its cue matched; a negated cue ("без опозданий",
  "не тормозит") says the opposite;
* in a one-clause message, an unsure aspect that opposes a confident overall sentiment follows it;
* :func:`contrast_flip` — two topics on either side of a strong contrast marker ("но", "однако",
  "but", "however") that came out with the same polarity: the weaker one flips, but only when its
  head was unsure and no sub-topic rule decided either of them.
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

#: contrast markers strong enough to expect opposite polarities on either side
STRONG_CONTRAST = frozenset({"но", "однако", "but", "however"})
#: an aspect head is "unsure" when |P(pos) - P(neg)| is below this
UNSURE = 0.5
#: the score given to a polarity decided by a sub-topic rule when the head disagreed
RULE_SCORE = 0.5


def predict_aspects(
    features: Sequence[MessageFeatures],
    topics: Sequence[TopicResult],
    sentiments: Sequence[SentimentResult],
    aspect_heads: Mapping[str, Head],
    sentiment_head: Head | None,
    subtopic_polarity: Mapping[str, str] | None = None,
) -> list[list[dict[str, Any]]]:
    """``[{"topic", "polarity", "score"}, …]`` per message, in the order of its topics."""
    out = []
    for f, tr, s in zip(features, topics, sentiments, strict=True):
        aspects = [_polarity(t, f, tr, s, aspect_heads, sentiment_head) for t in tr.topics]
        ruled = {}
        for a in aspects:
            rule = rule_polarity(a["topic"], f, subtopic_polarity or {})
            if rule is not None:
                ruled[a["topic"]] = rule
        aspects = [
            _with_rule(a, ruled.get(a["topic"]))
            if a["topic"] in ruled
            else _follow_message(a, f, s)
            for a in aspects
        ]
        out.append(contrast_flip(aspects, f, tr, frozenset(ruled)))
    return out


def rule_polarity(topic: str, feat: MessageFeatures, polarity: Mapping[str, str]) -> str | None:
    """The polarity the topic's matched sub-topic cues agree on (a negated cue counts as the
    opposite), or None when none has a polarity or they are split evenly."""
    votes = 0
    for m in feat.matches:
        pol = polarity.get(m.label)
        if pol is None or m.label.split("/")[0] != topic:
            continue
        sign = 1 if pol == "positive" else -1
        votes += -sign if m.negated else sign
    return None if votes == 0 else ("positive" if votes > 0 else "negative")


def _follow_message(
    aspect: dict[str, Any], feat: MessageFeatures, sent: SentimentResult
) -> dict[str, Any]:
    """In a one-clause message the aspect head reads the same text as the sentiment head: when it
    is unsure and opposes a confident message sentiment, the message's polarity wins
    ("Курьер опоздал на два часа" is not staff: positive)."""
    if len(feat.clauses) > 1 or aspect["topic"] == schema.OTHER_TOPIC:
        return aspect
    opposed = aspect["score"] * sent.score < 0
    if opposed and abs(aspect["score"]) < UNSURE and abs(sent.score) >= UNSURE:
        return {**aspect, "polarity": sent.label, "score": sent.score}
    return aspect


def _with_rule(aspect: dict[str, Any], rule: str | None) -> dict[str, Any]:
    if rule is None or aspect["polarity"] == rule:
        return aspect
    score = RULE_SCORE if rule == "positive" else -RULE_SCORE
    return {**aspect, "polarity": rule, "score": score}


def contrast_flip(
    aspects: list[dict[str, Any]],
    feat: MessageFeatures,
    tr: TopicResult,
    ruled: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Two topics on either side of a strong contrast marker ("вежливый, НО опоздал") that came
    out with the same polarity: the less confident one takes the opposite polarity — only when
    its head was unsure (|score| < UNSURE) and no sub-topic rule decided either topic."""
    judged = [a for a in aspects if a["topic"] != schema.OTHER_TOPIC and a["polarity"] != "neutral"]
    if len(judged) != 2 or judged[0]["polarity"] != judged[1]["polarity"]:
        return aspects
    if any(a["topic"] in ruled for a in judged) or min(abs(a["score"]) for a in judged) >= UNSURE:
        return aspects
    first, second = sorted(judged, key=lambda a: min(tr.clause_topics.get(a["topic"]) or (99,)))
    a_idx, b_idx = tr.clause_topics.get(first["topic"]), tr.clause_topics.get(second["topic"])
    if not a_idx or not b_idx or max(a_idx) >= min(b_idx):
        return aspects
    between = range(max(a_idx) + 1, min(b_idx) + 1)
    if not any(_strong(feat.clauses[i].marker) for i in between if i < len(feat.clauses)):
        return aspects
    weak = min(judged, key=lambda a: abs(a["score"]))
    flipped = {
        **weak,
        "polarity": "negative" if weak["polarity"] == "positive" else "positive",
        "score": -weak["score"],
    }
    return [flipped if a is weak else a for a in aspects]


def _strong(marker: str) -> bool:
    return bool(marker) and marker.lower().strip() in STRONG_CONTRAST


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
