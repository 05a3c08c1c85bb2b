"""Topics (multi-label) from the learned head combined with taxonomy cue rules, with evidence.

Decision for a topic ``t`` (``p_t`` = calibrated head probability, ``thr_t`` its tuned threshold):

* assigned when ``p_t >= thr_t``;
* or when a cue of ``t`` matched in the text and ``p_t >= RULE_FLOOR * thr_t`` — rules lift
  borderline model scores and supply evidence words;
* a topic the head does not know (a user-added one with cue words only) is assigned on a cue match;
* a sub-topic is given on a cue match that is not negated ("не глючит" is usability, not a crash).

``other`` is given only when no other topic is assigned *and* the message expresses an opinion
(the ``other`` head, trained on opinions about none of the topics, clears its threshold and the
message is not confidently neutral); otherwise the topic list stays empty.
Every assigned topic carries evidence: the clause(s) whose cues fired (``source="rule"``) or the
clause the head scores highest (``source="model"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cx_text.classify.features import MessageFeatures
from cx_text.classify.heads import Head
from cx_text.classify.sentiment import SentimentResult
from cx_text.core import schema
from cx_text.core.lang import has_content
from cx_text.core.taxonomy import Taxonomy

RULE_FLOOR = 0.5
#: a message this sure of being neutral is no opinion: it never gets ``other``
NEUTRAL_GATE = 0.8


@dataclass(frozen=True)
class TopicResult:
    topics: tuple[str, ...]
    scores: dict[str, float]
    subtopics: tuple[str, ...] = ()
    evidence: tuple[dict[str, Any], ...] = ()
    clause_topics: dict[str, tuple[int, ...]] = field(default_factory=dict)


class TopicClassifier:
    """Combine the topic head and the cue rules of a taxonomy."""

    def __init__(self, head: Head | None, taxonomy: Taxonomy) -> None:
        self.head = head
        self.taxonomy = taxonomy
        self.topic_ids = [t for t in taxonomy.topic_ids if t != schema.OTHER_TOPIC]
        labels = head.labels if head is not None else ()
        self._col = {lab: i for i, lab in enumerate(labels)}
        self._thr = (
            dict(zip(labels, head.thresholds or [0.5] * len(labels), strict=True)) if head else {}
        )

    def predict(
        self, features: Sequence[MessageFeatures], sentiments: Sequence[SentimentResult]
    ) -> list[TopicResult]:
        """One TopicResult per message."""
        if not features:
            return []
        msg_proba = self._with_windows(
            self._proba(np.stack([f.embedding for f in features])), features
        )
        clause_proba = self._clause_probas(features)
        return [
            self._one(f, p, s, c)
            for f, p, s, c in zip(features, msg_proba, sentiments, clause_proba, strict=True)
        ]

    def _proba(self, x: np.ndarray) -> np.ndarray:
        if self.head is None:
            return np.zeros((len(x), 0), dtype=np.float32)
        return self.head.predict_proba(x)

    def _with_windows(self, proba: np.ndarray, features: Sequence[MessageFeatures]) -> np.ndarray:
        """A long message's topic scores: the higher of its whole vector's and its best
        window's. The whole vector averages thousands of tokens, so a topic one paragraph of an
        e-mail speaks of fades in it; a window (≤ 256 tokens) is the length the head learnt."""
        long = [(i, w) for i, f in enumerate(features) if (w := f.window_embeddings) is not None]
        if self.head is None or not long:
            return proba
        out = proba.copy()
        per_window = self._stacked_proba([w for _, w in long])
        for (i, _), windows in zip(long, per_window, strict=True):
            out[i] = np.maximum(out[i], windows.max(axis=0))
        return out

    def _stacked_proba(self, vectors: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The head's probabilities for each group of vectors, from one head call for them all:
        a call per message costs more than the arithmetic once the head has a hidden layer."""
        assert self.head is not None
        proba = self.head.predict_proba(np.vstack(vectors))
        ends = np.cumsum([len(v) for v in vectors])
        return [proba[end - len(v) : end] for end, v in zip(ends, vectors, strict=True)]

    def _one(
        self,
        feat: MessageFeatures,
        proba: np.ndarray,
        sentiment: SentimentResult,
        clauses: np.ndarray | None,
    ) -> TopicResult:
        scores = {lab: round(float(proba[i]), 4) for lab, i in self._col.items()}
        rule_clauses = _rule_clauses(feat)
        chosen = [t for t in self.topic_ids if self._assigned(t, scores, rule_clauses)]
        if not chosen and self._is_opinion(scores, sentiment):
            chosen = [schema.OTHER_TOPIC]
        clause_proba = clauses if chosen else None
        owners = self._clause_owners(chosen, clause_proba, _specific_hits(feat, chosen))
        evidence, clause_topics = [], {}
        for topic in chosen:
            evidence += self._evidence(
                topic, feat, rule_clauses, clause_proba, owners.get(topic, ())
            )
            clause_topics[topic] = owners.get(topic) or tuple(
                sorted(
                    {
                        m.clause_index
                        for lab, ms in rule_clauses.items()
                        if lab.split("/")[0] == topic
                        for m in ms
                    }
                )
            )
        subs = tuple(
            sorted(lab for lab in rule_clauses if "/" in lab and lab.split("/")[0] in chosen)
        )
        return TopicResult(tuple(chosen), scores, subs, tuple(evidence), clause_topics)

    def _clause_owners(
        self, chosen: list[str], clause_proba: np.ndarray | None, specific: dict[int, set[str]]
    ) -> dict[str, tuple[int, ...]]:
        """Each clause goes to one assigned topic: the one whose *sub-topic* cues fired in it
        ("вежливый" -> staff/polite, "опоздал" -> delivery/late), else the one it scores highest on
        relative to the topic's threshold. "курьер вежливый, | но опоздал" -> staff | delivery."""
        known = [t for t in chosen if t in self._col]
        if clause_proba is None or len(known) < 2:
            return {}
        rel = np.stack(
            [clause_proba[:, self._col[t]] / max(self._thr.get(t, 0.5), 1e-6) for t in known],
            axis=1,
        )
        owners: dict[str, list[int]] = {}
        for i, row in enumerate(rel):
            cands = [k for k, t in enumerate(known) if t in specific.get(i, set())]
            if cands:
                owners.setdefault(known[max(cands, key=lambda k: row[k])], []).append(i)
            elif row.max() >= RULE_FLOOR:
                owners.setdefault(known[int(np.argmax(row))], []).append(i)
        for k, topic in enumerate(known):  # a topic left without a clause takes its best one
            if topic in owners:
                continue
            best = int(np.argmax(rel[:, k]))
            holder = next((t for t, idx in owners.items() if best in idx), None)
            if holder is None or len(owners[holder]) > 1:
                if holder is not None:
                    owners[holder].remove(best)
                owners[topic] = [best]
        return {t: tuple(sorted(v)) for t, v in owners.items() if v}

    def _assigned(
        self, topic: str, scores: dict[str, float], rule_clauses: dict[str, list]
    ) -> bool:
        p, thr = scores.get(topic), self._thr.get(topic, 0.5)
        if p is None:
            return topic in rule_clauses
        return p >= thr or (topic in rule_clauses and p >= RULE_FLOOR * thr)

    def _is_opinion(self, scores: dict[str, float], sentiment: SentimentResult) -> bool:
        """An opinion on none of the topics: the ``other`` head says so and the message is not
        confidently neutral. (Tuned on dev: trusting non-neutral sentiment alone over-assigns.)"""
        if sentiment.label == "neutral" and sentiment.probs.get("neutral", 0.0) >= NEUTRAL_GATE:
            return False
        p_other = scores.get(schema.OTHER_TOPIC)
        if p_other is None:  # no head knows `other`: fall back to a clear sentiment
            return sentiment.label != "neutral" and sentiment.probs.get(sentiment.label, 0.0) >= 0.6
        return p_other >= self._thr.get(schema.OTHER_TOPIC, 0.5)

    def _clause_probas(self, features: Sequence[MessageFeatures]) -> list[np.ndarray | None]:
        """Each multi-clause message's clause probabilities (None for one clause), from one
        head call for the whole batch (:meth:`_stacked_proba`)."""
        out: list[np.ndarray | None] = [None] * len(features)
        multi = [i for i, f in enumerate(features) if len(f.clauses) >= 2]
        if self.head is None or not multi:
            return out
        for i, proba in zip(
            multi, self._stacked_proba([features[i].clause_vectors() for i in multi]), strict=True
        ):
            out[i] = proba
        return out

    def _evidence(
        self,
        topic: str,
        feat: MessageFeatures,
        rule_clauses: dict[str, list],
        clause_proba: np.ndarray | None,
        owned: tuple[int, ...],
    ) -> list[dict[str, Any]]:
        """The clauses whose cues fired plus the clauses the topic owns; failing both, the one
        clause the head scores highest (never every clause: greetings are not evidence)."""
        hits = [m for lab, ms in rule_clauses.items() if lab.split("/")[0] == topic for m in ms]
        by_clause: dict[int, list] = {}
        for m in hits:
            by_clause.setdefault(m.clause_index, []).append(m)
        idx = sorted(set(by_clause) | set(owned))
        if not idx:
            content = [i for i, c in enumerate(feat.clauses) if has_content(c.text)] or list(
                range(len(feat.clauses))
            )
            if clause_proba is not None and topic in self._col:
                idx = [max(content, key=lambda i: clause_proba[i, self._col[topic]])]
            else:
                idx = content
        return [
            _evidence_item(topic, feat, i, by_clause.get(i, []))
            for i in idx
            if i < len(feat.clauses)
        ]


def _specific_hits(feat: MessageFeatures, chosen: list[str]) -> dict[int, set[str]]:
    """Clause index -> topics whose sub-topic cues (the specific ones) matched in that clause."""
    out: dict[int, set[str]] = {}
    for m in feat.matches:
        topic = m.label.split("/")[0]
        if "/" in m.label and topic in chosen:
            out.setdefault(m.clause_index, set()).add(topic)
    return out


def _rule_clauses(feat: MessageFeatures) -> dict[str, list]:
    """Label -> its cue matches. A negated sub-topic cue ("не глючит", "без опозданий") still
    speaks of its topic but not of the sub-topic; signals (``@…``) are not topics."""
    out: dict[str, list] = {}
    for m in feat.matches:
        if m.label.startswith("@"):
            continue
        if "/" in m.label:
            out.setdefault(m.label.split("/")[0], []).append(m)
            if m.negated:
                continue
        out.setdefault(m.label, []).append(m)
    return out


def _evidence_item(topic: str, feat: MessageFeatures, i: int, matches: list) -> dict[str, Any]:
    clause = feat.clauses[i]
    spans = sorted({(int(m.start), int(m.end)) for m in matches})
    return {
        "topic": topic,
        "clause": clause.text,
        "start": clause.start,
        "end": clause.end,
        "terms": sorted({" ".join(m.terms) for m in matches}),
        "spans": [list(s) for s in spans],
        "source": "rule" if matches else "model",
    }
