"""Corrections in the app: what a message shows (the model's tags with the analyst's labels on
top), saving a correction or a one-click confirmation, and the review queue with its progress.

No Streamlit here: the pages (``app/streamlit/views/label_editor.py``, ``review.py``) call these
through ``common.query`` (reads, on the snapshot) and ``common.write`` (one short write).
Only the display uses the labels; metrics and themes keep the model's tags (docs/APP.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.store.labels import (
    POLARITY,
    SENTIMENT,
    TOPICS,
    Label,
    add_labels,
    confirm_labels,
    corrections,
    model_tags,
)
from cx_text.store.queue import QueueProgress, queue_progress, review_queue, topic_thresholds
from cx_text.store.queue import queue_channels as queue_channels  # the Review page's choices
from cx_text.store.store import Store

REVIEW_BATCH = 20


@dataclass(frozen=True)
class Reviewed:
    """One message as the app shows it for correcting: the model's tags and what is shown."""

    source: str
    id: str
    text: str
    model_sentiment: str
    model_topics: tuple[str, ...]
    model_polarity: dict[str, str]
    sentiment: str
    topics: tuple[str, ...]
    polarity: dict[str, str]
    corrected: tuple[str, ...] = ()
    who: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.source}/{self.id}"


def with_corrections(store: Store, frame: pd.DataFrame) -> pd.DataFrame:
    """A page of messages (``source, id, sentiment, topics``) with the analysts' labels shown:
    ``sentiment``/``topics`` corrected, the model's kept as ``model_*``, ``corrected`` = the
    fields an analyst set or confirmed (empty tuple when none)."""
    out = frame.copy()
    keys = list(zip(out["source"].astype(str), out["id"].astype(str), strict=True))
    found = corrections(store, keys)
    out["model_sentiment"], out["model_topics"] = out["sentiment"], out["topics"]
    out["sentiment"] = [
        found.get(k, {}).get(SENTIMENT, s) for k, s in zip(keys, out["sentiment"], strict=True)
    ]
    out["topics"] = pd.Series(
        [
            found[k][TOPICS] if TOPICS in found.get(k, {}) else t
            for k, t in zip(keys, out["topics"], strict=True)
        ],
        index=out.index,
        dtype=object,
    )
    out["corrected"] = pd.Series(
        [_fields(found.get(k)) for k in keys], index=out.index, dtype=object
    )
    return out


def _fields(entry: dict[str, Any] | None) -> tuple[str, ...]:
    if not entry:
        return ()
    return tuple(f for f in (SENTIMENT, TOPICS) if f in entry) + tuple(
        f"polarity:{t}" for t in entry[POLARITY]
    )


def reviewed(store: Store, source: str, message_id: str) -> Reviewed | None:
    """The message with its model tags and the analysts' labels on top; None if not in the store."""
    tags = model_tags(store, source, message_id)
    if tags is None:
        return None
    entry = corrections(store, [(source, message_id)]).get((source, message_id), {POLARITY: {}})
    topics = tuple(entry.get(TOPICS, tags.topics))
    sentiment = entry.get(SENTIMENT, tags.sentiment)
    polarity = {
        t: entry[POLARITY].get(t) or tags.old_value(POLARITY, t) or sentiment or "neutral"
        for t in topics
    }
    return Reviewed(
        source,
        message_id,
        tags.text,
        tags.sentiment,
        tags.topics,
        {t: tags.old_value(POLARITY, t) for t in tags.topics},
        sentiment,
        topics,
        polarity,
        _fields(entry if len(entry) > 1 or entry[POLARITY] else None),
        entry.get("who"),
    )


def save_correction(
    store: Store,
    source: str,
    message_id: str,
    *,
    sentiment: str,
    topics: Sequence[str],
    polarity: dict[str, str],
    who: str,
    topic_ids: Sequence[str],
) -> int:
    """Store what the analyst set in the editor: sentiment, topics and each topic's polarity
    (a value equal to the model's is a confirmation). Returns how many labels were stored."""
    labels = [
        Label(source, message_id, SENTIMENT, sentiment),
        Label(source, message_id, TOPICS, list(topics)),
    ]
    labels += [
        Label(source, message_id, POLARITY, polarity[t], t) for t in topics if polarity.get(t)
    ]
    return len(add_labels(store, labels, who=who, origin="app", topic_ids=topic_ids))


def confirm_shown(
    store: Store, source: str, message_id: str, *, who: str, origin: str = "app"
) -> int:
    """One click: the message's tags as shown (earlier corrections included) become labels."""
    shown = reviewed(store, source, message_id)
    values = (
        {}
        if shown is None
        else {SENTIMENT: shown.sentiment, TOPICS: list(shown.topics), POLARITY: shown.polarity}
    )
    return len(
        add_labels(store, confirm_labels(store, source, message_id, values), who=who, origin=origin)
    )


def queue_page(
    store: Store, models_dir: Path | None, n: int = REVIEW_BATCH, channel: str | None = None
) -> tuple[pd.DataFrame, QueueProgress]:
    """The next ``n`` messages of the review queue (of ``channel``, when given) and the progress
    line."""
    thresholds = topic_thresholds(models_dir)
    queue = review_queue(store, n, thresholds, channel)
    return queue, queue_progress(store, thresholds, channel=channel)


def topic_label(topics: Sequence[str], names: dict[str, str]) -> str:
    """``delivery;staff`` as the page shows it (names in the UI language; ``—`` for none)."""
    return ", ".join(names.get(t, t) for t in topics) or "—"


SENTIMENTS = schema.SENTIMENTS
