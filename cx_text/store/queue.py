"""The review queue: the messages whose labels would teach the model most, spread over topics.

Per message (latest good tags, not yet labelled, with text):

* ``sentiment_u`` = 1 − margin, the margin being the gap between the two most likely sentiments
  in the stored ``sentiment_probs`` (runs before migration 6 have none: 1 − |sentiment_score|);
* ``topic_u`` = max over the topics of 1 − |score − threshold| / max(threshold, 1 − threshold):
  1 when a topic's head score sits on its threshold;
* ``disagree`` = a topic the cue rules assigned (evidence ``source = 'rule'``) while the head
  scored it below its threshold — head and rules disagree.

``uncertainty`` = max(sentiment_u, topic_u) ∈ [0, 1]; the queue orders by ``uncertainty +
0.5 · disagree``, drops near-duplicates (same normalised text) and deals the messages round-robin
over their group (the message's theme, else its first topic), so 50 items are not 50 versions of
one complaint. :func:`queue_progress` reports the labelled count and the *mean uncertainty of the
next 50* — a measure of how unsure the model is there, not an accuracy gain.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core import schema
from cx_text.core.errors import LabelError
from cx_text.store.labels import labelled_count
from cx_text.store.store import Store

#: how many candidates (× n) SQL hands to pandas for dedupe and the round-robin
POOL = 20
DISAGREE_WEIGHT = 0.5
CANDIDATES_SQL = """
WITH rules AS (
    SELECT run_id, id, list(DISTINCT topic) AS rule_topics FROM evidence
    WHERE source = 'rule' AND run_id IN (SELECT run_id FROM latest_run_per_id) GROUP BY ALL),
themes AS (SELECT source, id, min(theme_id) AS theme_id, arg_min(label, theme_id) AS theme_label
           FROM theme_members GROUP BY ALL)
SELECT l.source, l.id, f.text, t.lang, f.channel, f.segment, t.sentiment, t.sentiment_score,
       t.sentiment_probs, t.topics, t.topic_scores, coalesce(r.rule_topics, []) AS rule_topics,
       th.theme_id, th.theme_label
FROM latest_run_per_id l JOIN tags t USING (run_id, id) JOIN feedback f USING (run_id, id)
LEFT JOIN rules r USING (run_id, id) LEFT JOIN themes th ON th.source = l.source AND th.id = l.id
WHERE f.text IS NOT NULL AND t.row_status IN ('ok', 'flagged', 'truncated')
  AND (l.source, l.id) NOT IN (SELECT source, id FROM labels)"""
QUEUE_COLUMNS = [
    "source",
    "id",
    "text",
    "lang",
    "channel",
    "segment",
    "sentiment",
    "topics",
    "group",
    "group_label",
    "margin",
    "sentiment_u",
    "topic_u",
    "disagree",
    "uncertainty",
    "priority",
]


@dataclass(frozen=True)
class QueueProgress:
    """How far the labelling got, and how unsure the model is about what comes next."""

    labelled: int
    remaining: int
    next_n: int
    next_uncertainty: float | None  # mean uncertainty of the next ``next_n`` items

    def text(self) -> str:
        unsure = "—" if self.next_uncertainty is None else f"{self.next_uncertainty:.2f}"
        return (
            f"{self.labelled} labelled, {self.remaining} left; mean uncertainty of the next "
            f"{self.next_n}: {unsure} (0 = the model is sure, 1 = a coin flip)"
        )


def topic_thresholds(models_dir: Path | None) -> dict[str, float]:
    """Per-topic thresholds of the topic head in ``models_dir/heads/topics.json`` ({} if none)."""
    path = Path(models_dir or "") / "heads" / "topics.json"
    if models_dir is None or not path.is_file():
        return {}
    meta = json.loads(path.read_text(encoding="utf-8"))
    labels, thresholds = meta.get("labels") or [], meta.get("thresholds") or []
    return {str(k): float(v) for k, v in zip(labels, thresholds, strict=False)}


def review_queue(
    store: Store,
    n: int = 50,
    thresholds: dict[str, float] | None = None,
    channel: str | None = None,
) -> pd.DataFrame:
    """The next ``n`` messages to label (columns :data:`QUEUE_COLUMNS`), most useful first;
    ``channel``: only that channel's messages (a channel's own labels fix its sentiment best,
    docs/LABELS.md)."""
    return pick(score_candidates(store, thresholds or {}, channel), n)


def pick(scored: pd.DataFrame, n: int) -> pd.DataFrame:
    """The queue's ``n`` items from :func:`score_candidates`: best first, deduplicated, spread."""
    pool = scored.nlargest(max(n, 1) * POOL, "priority") if len(scored) else scored
    pool = pool.drop_duplicates("norm_text")
    return round_robin(pool, n)[QUEUE_COLUMNS].reset_index(drop=True)


def queue_progress(
    store: Store,
    thresholds: dict[str, float] | None = None,
    next_n: int = 50,
    channel: str | None = None,
) -> QueueProgress:
    """Labelled messages, unlabelled ones left, and the mean uncertainty of the next ``next_n``
    (``remaining`` and the next ones within ``channel`` when given)."""
    scored = score_candidates(store, thresholds or {}, channel)
    head = pick(scored, next_n)
    mean = float(head["uncertainty"].mean()) if len(head) else None
    return QueueProgress(labelled_count(store), len(scored), next_n, mean)


def score_candidates(
    store: Store, thresholds: dict[str, float], channel: str | None = None
) -> pd.DataFrame:
    """Every unlabelled message (of ``channel``, when given) with its uncertainty parts, priority
    and group."""
    if channel is None:
        frame = store.con.execute(CANDIDATES_SQL).df()
    else:
        _known_channel(store, channel)
        frame = store.con.execute(f"{CANDIDATES_SQL}\n  AND f.channel = ?", [channel]).df()
    if frame.empty:
        return frame.assign(**{c: [] for c in (*QUEUE_COLUMNS, "norm_text")})
    frame["margin"] = [
        _margin(p, s)
        for p, s in zip(frame["sentiment_probs"], frame["sentiment_score"], strict=True)
    ]
    frame["sentiment_u"] = 1.0 - frame["margin"]
    scores = frame["topic_scores"].map(_scores)
    frame["topic_u"] = [_topic_u(s, thresholds) for s in scores]
    frame["disagree"] = [
        int(_disagree(s, r, thresholds)) for s, r in zip(scores, frame["rule_topics"], strict=True)
    ]
    frame["uncertainty"] = frame[["sentiment_u", "topic_u"]].max(axis=1)
    frame["priority"] = frame["uncertainty"] + DISAGREE_WEIGHT * frame["disagree"]
    frame["topics"] = frame["topics"].map(lambda v: [str(t) for t in (v if v is not None else [])])
    frame["group"] = [
        str(th) if isinstance(th, str) and th else (ts[0] if len(ts) else "none")
        for th, ts in zip(frame["theme_id"], frame["topics"], strict=True)
    ]
    frame["group_label"] = [
        str(lbl) if isinstance(th, str) and th and isinstance(lbl, str) else g
        for th, lbl, g in zip(frame["theme_id"], frame["theme_label"], frame["group"], strict=True)
    ]
    frame["norm_text"] = frame["text"].map(normalise_text)
    return frame


def queue_channels(store: Store) -> list[str]:
    """The channels of the store's messages (latest run per message), sorted."""
    rows = store.con.execute(
        "SELECT DISTINCT f.channel FROM latest_run_per_id l JOIN feedback f USING (run_id, id) "
        "WHERE f.channel IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _known_channel(store: Store, channel: str) -> None:
    known = queue_channels(store)
    if channel not in known:
        raise LabelError(
            f"no message of channel {channel!r} in the store.",
            f"Channels there: {', '.join(map(repr, known)) or 'none (no channel column)'}.",
        )


def round_robin(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """Deal rows one group at a time (groups in order of their best priority) until ``n``."""
    ordered = frame.sort_values(["priority", "source", "id"], ascending=[False, True, True])
    queues: OrderedDict[str, list[int]] = OrderedDict()
    for idx, group in zip(ordered.index, ordered["group"], strict=True):
        queues.setdefault(group, []).append(idx)
    picked: list[int] = []
    while len(picked) < n and any(queues.values()):
        for items in queues.values():
            if items and len(picked) < n:
                picked.append(items.pop(0))
    return frame.loc[picked]


def normalise_text(text: Any) -> str:
    """Lower-case letters only, digits and punctuation dropped, spaces collapsed."""
    letters = re.sub(r"[\W\d_]+", " ", str(text or "").lower())
    return " ".join(letters.split())


def _margin(probs: Any, score: Any) -> float:
    values = sorted(_scores(probs).values(), reverse=True)
    if len(values) >= 2:
        return float(values[0] - values[1])
    return float(abs(score)) if score is not None and not pd.isna(score) else 1.0


def _scores(cell: Any) -> dict[str, float]:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return {}
    data = json.loads(cell) if isinstance(cell, str) else dict(cell)
    return {str(k): float(v) for k, v in data.items() if v is not None}


def _topic_u(scores: dict[str, float], thresholds: dict[str, float]) -> float:
    best = 0.0
    for topic, score in scores.items():
        if topic == schema.OTHER_TOPIC and topic not in thresholds:
            continue
        thr = thresholds.get(topic, 0.5)
        best = max(best, 1.0 - abs(score - thr) / max(thr, 1.0 - thr))
    return best


def _disagree(scores: dict[str, float], rule_topics: Any, thresholds: dict[str, float]) -> bool:
    topics = [str(t) for t in (rule_topics if rule_topics is not None else [])]
    return any(t in scores and scores[t] < thresholds.get(t, 0.5) for t in topics)
