"""Message-level signals from ``core/lang/signals.yaml`` and the rules they drive.

Signals are matched by the same cue matcher as topics, under labels that start with ``@``
(``@churn_threat``), so they never become topics. :func:`apply_signals` corrects the overall
sentiment: a churn threat ("ухожу к конкурентам", "cancelling my account") makes a message
negative even when the head, swayed by a neutral or upbeat rest of the text, said otherwise.
:func:`mixed_is_neutral` makes a message that praises one topic and faults another neutral, as a
three-star review is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cx_text.classify.features import MessageFeatures
from cx_text.classify.sentiment import SentimentResult
from cx_text.core.lang import load_yaml
from cx_text.core.taxonomy import Taxonomy

SIGNAL_PREFIX = "@"
CHURN = "@churn_threat"
#: the score a forced-negative message gets at most (P(pos) - P(neg) of a clear complaint)
FORCED_SCORE = -0.5
#: a mixed message stays as the head said when the head is at least this sure (|score|)
MIXED_KEEPS_AT = 0.9


def signal_patterns() -> dict[str, list[str]]:
    """``{"@churn_threat": [cue, …]}`` over every language of the signals file."""
    raw = load_yaml("signals.yaml")
    return {
        SIGNAL_PREFIX + name: [c for cues in by_lang.values() for c in cues]
        for name, by_lang in raw.items()
    }


def cue_patterns(taxonomy: Taxonomy) -> dict[str, list[str]]:
    """The taxonomy's topic and sub-topic cues plus the signal cues, for one CueMatcher."""
    return {**taxonomy.cue_patterns(), **signal_patterns()}


def has_signal(feat: MessageFeatures, label: str) -> bool:
    """True when a non-negated cue of signal ``label`` matched in the message."""
    return any(m.label == label and not m.negated for m in feat.matches)


def apply_signals(
    features: Sequence[MessageFeatures], sentiments: Sequence[SentimentResult]
) -> list[SentimentResult]:
    """Sentiments with the signal rules applied (the head's probabilities are kept as they are)."""
    out = []
    for feat, sent in zip(features, sentiments, strict=True):
        if has_signal(feat, CHURN) and sent.label != "negative":
            sent = replace(sent, label="negative", score=min(sent.score, FORCED_SCORE))
        out.append(sent)
    return out


def mixed_is_neutral(
    features: Sequence[MessageFeatures],
    sentiments: Sequence[SentimentResult],
    aspects: Sequence[Sequence[dict[str, Any]]],
) -> list[SentimentResult]:
    """A message with a positive and a negative topic is neutral overall, unless the head is
    near-certain (``|score| >= MIXED_KEEPS_AT``) or a churn threat made it negative.

    Real reviews label such a message by its stars, and a mixed review gets three: the neutral
    class. Chosen on real dev data (docs/MODELS.md, "Rules on top of the heads"): CEBaB reviews'
    sentiment macro-F1 +4.5 points, social text ±0.5. The score (P(pos) − P(neg)) and the
    per-topic polarities are kept: they still say which way the message leans and on what.
    """
    out = []
    for feat, sent, per_topic in zip(features, sentiments, aspects, strict=True):
        polarities = {a.get("polarity") for a in per_topic}
        if (
            {"positive", "negative"} <= polarities
            and sent.label != "neutral"
            and abs(sent.score) < MIXED_KEEPS_AT
            and not has_signal(feat, CHURN)
        ):
            sent = replace(sent, label="neutral")
        out.append(sent)
    return out
