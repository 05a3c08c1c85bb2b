"""Message-level signals from ``core/lang/signals.yaml`` and the rules they drive.

Signals are matched by the same cue matcher as topics, under labels that start with ``@``
(``@churn_threat``), so they never become topics. :func:`apply_signals` corrects the overall
sentiment: a churn threat ("ухожу к конкурентам", "cancelling my account") makes a message
negative even when the head, swayed by a neutral or upbeat rest of the text, said otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cx_text.classify.features import MessageFeatures
from cx_text.classify.sentiment import SentimentResult
from cx_text.core.lang import load_yaml
from cx_text.core.taxonomy import Taxonomy

SIGNAL_PREFIX = "@"
CHURN = "@churn_threat"
#: the score a forced-negative message gets at most (P(pos) - P(neg) of a clear complaint)
FORCED_SCORE = -0.5


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
