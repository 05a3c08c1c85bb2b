"""Analysts' labels: corrections and confirmations of the model's tags, kept in the store.

One row of the ``labels`` table (migration 6) is one decision about one field of one message
``(source, id)``: ``sentiment``, ``topics`` (the whole list, ``;``-joined and sorted) or the
``polarity`` of one ``topic``. It records what the model said (``old_value``, from the message's
latest good run), the analyst's value (``new_value``; equal to ``old_value`` = a confirmation),
who and when (UTC), the run and model version that produced the corrected tag, and the SHA-256 of
the (PII-masked) text the analyst read — a label is applied only while the message still has
that text.

Labels are never touched by tagging: a re-tag writes a new run, the labels stay; the newest
label per ``(source, id, field, topic)`` wins (view ``latest_labels``). :func:`labels_frame`
turns them into training data in the corpus format (:data:`cx_text.training.corpus.LABEL_COLUMNS`).

This module writes and reads the table and is the labels API; what a label is (its fields, the
stored form of a value, its checks) is :mod:`cx_text.store.label_fields`, the training-data frame
:mod:`cx_text.store.label_frame` — both re-exported here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.errors import LabelError
from cx_text.store.label_fields import (
    FIELDS,
    ORIGINS,
    POLARITY,
    SENTIMENT,
    TOPICS,
    Label,
    check_label,
    encode,
    text_hash,
)
from cx_text.store.label_frame import EXTRA_COLUMNS, labels_frame
from cx_text.store.store import Store

__all__ = [
    "EXTRA_COLUMNS",
    "FIELDS",
    "ORIGINS",
    "POLARITY",
    "SENTIMENT",
    "TOPICS",
    "Label",
    "ModelTags",
    "add_label",
    "add_labels",
    "check_label",
    "confirm_labels",
    "corrections",
    "encode",
    "label_history",
    "labelled_count",
    "labels_frame",
    "model_tags",
    "model_version",
    "text_hash",
]

MESSAGE_SQL = """
SELECT l.run_id, f.text, t.sentiment, t.topics, r.manifest
FROM latest_run_per_id l JOIN feedback f USING (run_id, id) JOIN tags t USING (run_id, id)
JOIN runs r USING (run_id) WHERE l.source = ? AND l.id = ?"""
POLARITY_SQL = """
SELECT topic, arg_max(polarity, abs(coalesce(score, 0))) FROM aspects
WHERE run_id = ? AND id = ? GROUP BY topic"""


@dataclass(frozen=True)
class ModelTags:
    """What the model said about one message in its latest good run."""

    run_id: str
    text: str
    sentiment: str
    topics: tuple[str, ...]
    polarity: dict[str, str]
    model_version: str

    def old_value(self, field: str, topic: str = "") -> str:
        if field == SENTIMENT:
            return self.sentiment
        if field == TOPICS:
            return encode(TOPICS, self.topics)
        return self.polarity.get(topic, self.sentiment if topic in self.topics else "")


def model_version(manifest: Any) -> str:
    """The models (name@version) and fingerprint recorded in a run manifest, as one string."""
    data = json.loads(manifest) if isinstance(manifest, str) else dict(manifest or {})
    names = [
        f"{m.get('name')}@{m.get('version')}" if m.get("version") else str(m.get("name"))
        for m in data.get("models") or []
        if isinstance(m, dict)
    ]
    fingerprint = data.get("fingerprint")
    return ";".join(names) + (f" [{fingerprint}]" if fingerprint else "")


def model_tags(store: Store, source: str, message_id: str) -> ModelTags | None:
    """The latest good tags of ``(source, id)``; None when the store has no such message."""
    found = store.con.execute(MESSAGE_SQL, [source, message_id]).fetchall()
    if not found:
        return None
    row = found[0]
    polarity = dict(store.con.execute(POLARITY_SQL, [row[0], message_id]).fetchall())
    return ModelTags(
        str(row[0]),
        row[1] or "",
        row[2] or "",
        tuple(str(t) for t in row[3] or ()),
        {str(k): str(v) for k, v in polarity.items()},
        model_version(row[4]),
    )


def add_labels(
    store: Store,
    labels: Iterable[Label],
    *,
    who: str,
    origin: str = "api",
    when: datetime | None = None,
    topic_ids: Sequence[str] | None = None,
) -> list[int]:
    """Store every label in one transaction (all or nothing); returns their ``label_id``s.

    ``topic_ids`` (the taxonomy's) validates topics; an unknown message is a LabelError."""
    who = (who or "").strip()
    if not who:
        raise LabelError(
            "a label needs the name of who made it.", "Pass --who NAME (the app asks once)."
        )
    when = (when or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    rows = [_row(store, label, who, origin, when, topic_ids, cache={}) for label in labels]
    return _insert(store, rows)


def add_label(
    store: Store,
    source: str,
    message_id: str,
    field: str,
    value: str | Sequence[str],
    *,
    who: str,
    topic: str = "",
    origin: str = "api",
    when: datetime | None = None,
    topic_ids: Sequence[str] | None = None,
) -> int:
    """Store one correction (or a confirmation: ``value`` = what the model said); its id."""
    return add_labels(
        store,
        [Label(source, message_id, field, value, topic)],
        who=who,
        origin=origin,
        when=when,
        topic_ids=topic_ids,
    )[0]


def confirm_labels(
    store: Store, source: str, message_id: str, shown: dict[str, Any] | None = None
) -> list[Label]:
    """Labels confirming a message as ``shown`` (default: the model's tags): its sentiment,
    its topics and each topic's polarity — what one "Confirm" click stores."""
    tags = model_tags(store, source, message_id)
    if tags is None:
        raise LabelError(
            f"no message {source}/{message_id} in {store.path}.", "See `cx-text labels queue`."
        )
    shown = shown or {}
    sentiment = shown.get(SENTIMENT) or tags.sentiment
    topics = list(shown.get(TOPICS, tags.topics))
    polarity = {**{t: tags.old_value(POLARITY, t) for t in topics}, **(shown.get(POLARITY) or {})}
    out = [
        Label(source, message_id, SENTIMENT, sentiment),
        Label(source, message_id, TOPICS, topics),
    ]
    return out + [Label(source, message_id, POLARITY, polarity[t] or sentiment, t) for t in topics]


def _row(
    store: Store,
    label: Label,
    who: str,
    origin: str,
    when: datetime,
    topic_ids: Sequence[str] | None,
    cache: dict[tuple[str, str], ModelTags | None],
) -> dict[str, Any]:
    check_label(label, topic_ids)
    key = (str(label.source), str(label.id))
    if key not in cache:
        cache[key] = model_tags(store, *key)
    tags = cache[key]
    if tags is None:
        raise LabelError(
            f"no message with source {key[0]!r} and id {key[1]!r} in {store.path}.",
            "Labels apply to tagged messages: check the source and id (cx-text labels export).",
        )
    return {
        "source": key[0],
        "id": key[1],
        "field": label.field,
        "topic": label.topic if label.field == POLARITY else "",
        "old_value": tags.old_value(label.field, label.topic),
        "new_value": encode(label.field, label.value),
        "who": who,
        "labelled_at": when,
        "run_id": tags.run_id,
        "model_version": tags.model_version,
        "text_hash": text_hash(tags.text),
        "origin": origin,
    }


def _insert(store: Store, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    with store.transaction():
        first = (
            int(store.con.execute("SELECT coalesce(max(label_id), 0) FROM labels").fetchall()[0][0])
            + 1
        )
        frame = pd.DataFrame(rows)
        frame.insert(0, "label_id", range(first, first + len(rows)))
        store.con.register("_labels", frame)
        try:
            cols = ", ".join(frame.columns)
            store.con.execute(f"INSERT INTO labels ({cols}) SELECT {cols} FROM _labels")
        finally:
            store.con.unregister("_labels")
    return list(range(first, first + len(rows)))


# -- reads -------------------------------------------------------------------------------------
def label_history(store: Store) -> pd.DataFrame:
    """Every label ever stored, oldest first (``cx_text.open_store(path).labels(history=True)``)."""
    return store.con.execute("SELECT * FROM labels ORDER BY labelled_at, label_id").df()


def corrections(
    store: Store, keys: Iterable[tuple[str, str]] | None = None
) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(source, id): {"sentiment", "topics", "polarity": {topic: value}, "who", "labelled_at"}}``
    of the labels that apply to each message's current text (only the fields labelled)."""
    keys = list(keys) if keys is not None else None
    if keys is not None and not keys:
        return {}
    sql = "SELECT source, id, field, topic, new_value, who, labelled_at FROM current_labels"
    params: dict[str, Any] = {}
    if keys is not None:
        sql += " WHERE (source, id) IN (SELECT unnest($s) AS source, unnest($i) AS id)"
        params = {"s": [k[0] for k in keys], "i": [k[1] for k in keys]}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for source, id_, field, topic, value, who, at in store.con.execute(
        sql + " ORDER BY labelled_at", params
    ).fetchall():
        entry = out.setdefault((str(source), str(id_)), {POLARITY: {}})
        if field == POLARITY:
            entry[POLARITY][str(topic)] = value
        else:
            entry[field] = schema.split_list(value) if field == TOPICS else value
        entry.update(who=who, labelled_at=at)
    return out


def labelled_count(store: Store) -> int:
    """How many messages have at least one label."""
    return int(
        store.con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT source, id FROM labels)"
        ).fetchall()[0][0]
    )
