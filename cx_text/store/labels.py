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
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.errors import LabelError
from cx_text.store.store import Store, open_store
from cx_text.training.corpus import LABEL_COLUMNS, split_of

SENTIMENT, TOPICS, POLARITY = "sentiment", "topics", "polarity"
FIELDS = (SENTIMENT, TOPICS, POLARITY)
ORIGINS = ("app", "import", "api")
#: columns of :func:`labels_frame` beyond the corpus format
EXTRA_COLUMNS = ("topic_scope", "source", "message_id", "labelled", "who", "labelled_at", "model_version")

MESSAGE_SQL = """
SELECT l.run_id, f.text, t.sentiment, t.topics, r.manifest
FROM latest_run_per_id l JOIN feedback f USING (run_id, id) JOIN tags t USING (run_id, id)
JOIN runs r USING (run_id) WHERE l.source = ? AND l.id = ?"""
POLARITY_SQL = """
SELECT topic, arg_max(polarity, abs(coalesce(score, 0))) FROM aspects
WHERE run_id = ? AND id = ? GROUP BY topic"""


@dataclass(frozen=True)
class Label:
    """One analyst decision: ``value`` is a sentiment, a polarity, or a list of topic ids."""

    source: str
    id: str
    field: str
    value: str | Sequence[str]
    topic: str = ""


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


def text_hash(text: str | None) -> str:
    """SHA-256 (hex) of the text as stored; equals DuckDB's ``sha256(coalesce(text, ''))``."""
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


def encode(field: str, value: str | Sequence[str] | None) -> str:
    """A label value as stored: topics sorted and ``;``-joined, others as given."""
    if field == TOPICS:
        return schema.join_list(sorted({str(t).strip() for t in schema.split_list(value) if str(t).strip()}))
    return "" if value is None else str(value).strip()


def model_version(manifest: Any) -> str:
    """The models (name@version) and fingerprint recorded in a run manifest, as one string."""
    data = json.loads(manifest) if isinstance(manifest, str) else dict(manifest or {})
    names = [f"{m.get('name')}@{m.get('version')}" if m.get("version") else str(m.get("name"))
             for m in data.get("models") or [] if isinstance(m, dict)]
    fingerprint = data.get("fingerprint")
    return ";".join(names) + (f" [{fingerprint}]" if fingerprint else "")


def model_tags(store: Store, source: str, message_id: str) -> ModelTags | None:
    """The latest good tags of ``(source, id)``; None when the store has no such message."""
    found = store.con.execute(MESSAGE_SQL, [source, message_id]).fetchall()
    if not found:
        return None
    row = found[0]
    polarity = dict(store.con.execute(POLARITY_SQL, [row[0], message_id]).fetchall())
    return ModelTags(str(row[0]), row[1] or "", row[2] or "", tuple(str(t) for t in row[3] or ()),
                     {str(k): str(v) for k, v in polarity.items()}, model_version(row[4]))


def check_label(label: Label, topic_ids: Sequence[str] | None = None) -> None:
    """LabelError unless the field, the value and (for topics and polarity) the topic are valid."""
    if label.field not in FIELDS:
        raise LabelError(f"unknown label field {label.field!r}.", f"Use one of {', '.join(FIELDS)}.")
    if label.field in (SENTIMENT, POLARITY) and encode(label.field, label.value) not in schema.SENTIMENTS:
        raise LabelError(f"{label.field} {label.value!r} is not one of {', '.join(schema.SENTIMENTS)}.",
                         "Write negative, neutral or positive.")
    if label.field == POLARITY and not label.topic:
        raise LabelError("a polarity label needs its topic.", "Pass the topic id (e.g. delivery).")
    named = schema.split_list(label.value) if label.field == TOPICS else [label.topic] if label.topic else []
    unknown = sorted(set(named) - set(topic_ids)) if topic_ids is not None else []
    if unknown:
        raise LabelError(f"unknown topic(s) {', '.join(unknown)}.",
                         f"Topics of the taxonomy: {', '.join(topic_ids or ())}.")


def add_labels(store: Store, labels: Iterable[Label], *, who: str, origin: str = "api",
               when: datetime | None = None, topic_ids: Sequence[str] | None = None) -> list[int]:
    """Store every label in one transaction (all or nothing); returns their ``label_id``s.

    ``topic_ids`` (the taxonomy's) validates topics; an unknown message is a LabelError."""
    who = (who or "").strip()
    if not who:
        raise LabelError("a label needs the name of who made it.", "Pass --who NAME (the app asks once).")
    when = (when or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    rows = [_row(store, label, who, origin, when, topic_ids, cache={}) for label in labels]
    return _insert(store, rows)


def add_label(store: Store, source: str, message_id: str, field: str, value: str | Sequence[str], *,
              who: str, topic: str = "", origin: str = "api", when: datetime | None = None,
              topic_ids: Sequence[str] | None = None) -> int:
    """Store one correction (or a confirmation: ``value`` = what the model said); its id."""
    return add_labels(store, [Label(source, message_id, field, value, topic)], who=who, origin=origin,
                      when=when, topic_ids=topic_ids)[0]


def confirm_labels(store: Store, source: str, message_id: str, shown: dict[str, Any] | None = None) -> list[Label]:
    """Labels confirming a message as ``shown`` (default: the model's tags): its sentiment,
    its topics and each topic's polarity — what one "Confirm" click stores."""
    tags = model_tags(store, source, message_id)
    if tags is None:
        raise LabelError(f"no message {source}/{message_id} in {store.path}.", "See `cx-text labels queue`.")
    shown = shown or {}
    sentiment = shown.get(SENTIMENT) or tags.sentiment
    topics = list(shown.get(TOPICS, tags.topics))
    polarity = {**{t: tags.old_value(POLARITY, t) for t in topics}, **(shown.get(POLARITY) or {})}
    out = [Label(source, message_id, SENTIMENT, sentiment), Label(source, message_id, TOPICS, topics)]
    return out + [Label(source, message_id, POLARITY, polarity[t] or sentiment, t) for t in topics]


def _row(store: Store, label: Label, who: str, origin: str, when: datetime,
         topic_ids: Sequence[str] | None, cache: dict[tuple[str, str], ModelTags | None]) -> dict[str, Any]:
    check_label(label, topic_ids)
    key = (str(label.source), str(label.id))
    if key not in cache:
        cache[key] = model_tags(store, *key)
    tags = cache[key]
    if tags is None:
        raise LabelError(f"no message with source {key[0]!r} and id {key[1]!r} in {store.path}.",
                         "Labels apply to tagged messages: check the source and id (cx-text labels export).")
    return {"source": key[0], "id": key[1], "field": label.field,
            "topic": label.topic if label.field == POLARITY else "",
            "old_value": tags.old_value(label.field, label.topic), "new_value": encode(label.field, label.value),
            "who": who, "labelled_at": when, "run_id": tags.run_id, "model_version": tags.model_version,
            "text_hash": text_hash(tags.text), "origin": origin}


def _insert(store: Store, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    with store.transaction():
        first = int(store.con.execute("SELECT coalesce(max(label_id), 0) FROM labels").fetchall()[0][0]) + 1
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


def corrections(store: Store, keys: Iterable[tuple[str, str]] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
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
    for source, id_, field, topic, value, who, at in store.con.execute(sql + " ORDER BY labelled_at", params).fetchall():
        entry = out.setdefault((str(source), str(id_)), {POLARITY: {}})
        if field == POLARITY:
            entry[POLARITY][str(topic)] = value
        else:
            entry[field] = schema.split_list(value) if field == TOPICS else value
        entry.update(who=who, labelled_at=at)
    return out


def labelled_count(store: Store) -> int:
    """How many messages have at least one label."""
    return int(store.con.execute("SELECT count(*) FROM (SELECT DISTINCT source, id FROM labels)").fetchall()[0][0])


LABELLED_TEXTS_SQL = """
WITH texts AS (
    SELECT f.source, f.id, sha256(f.text) AS text_hash, f.text, f.channel, t.lang
    FROM feedback f JOIN tags t USING (run_id, id) JOIN runs r USING (run_id)
    WHERE f.text IS NOT NULL AND (f.source, f.id) IN (SELECT source, id FROM labels)
    QUALIFY row_number() OVER (PARTITION BY f.source, f.id, sha256(f.text)
                               ORDER BY r.started_at DESC, f.run_id DESC) = 1)
SELECT x.source, x.id, x.text_hash, x.field, x.topic, x.new_value, x.who, x.labelled_at,
       x.model_version, m.text, m.channel, m.lang
FROM latest_labels x JOIN texts m USING (source, id, text_hash)
ORDER BY x.source, x.id, x.labelled_at"""


def labels_frame(target: Store | Any | str | Path, topic_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The analysts' labels as training data, one row per labelled message (and text).

    Columns: :data:`~cx_text.training.corpus.LABEL_COLUMNS` (``id`` = ``source:id``, ``origin`` =
    ``labels``, ``split`` fixed by :func:`~cx_text.training.corpus.split_of`), then
    :data:`EXTRA_COLUMNS`. Only what an analyst set or confirmed is a label:

    * ``sentiment`` is ``""`` when not labelled (training skips it, as for MAMS rows);
    * ``topics`` is the labelled list; ``topic_scope`` says which topics the row labels — every
      topic of ``topic_ids`` (default: the packaged taxonomy) when the topic list was labelled,
      else only the topics whose polarity was labelled (a polarity label says the topic is
      there), else none (``cx_text.training.fit.topic_mask`` reads it);
    * ``aspects`` holds only labelled polarities (of topics in ``topics``).

    ``target``: a :class:`Store`, a DuckDB connection or a store path (opened read-only).
    A label is kept with the text it was made on (found in any run of the message).
    """
    with _connection(target) as store:
        rows = store.con.execute(LABELLED_TEXTS_SQL).df()
    scope_all = list(topic_ids) if topic_ids is not None else _taxonomy_topics()
    records = [_record(group, scope_all) for _, group in rows.groupby(["source", "id", "text_hash"], sort=True)]
    frame = pd.DataFrame(records, columns=[*LABEL_COLUMNS, *EXTRA_COLUMNS, "text_hash"])
    repeated = frame["id"].duplicated(keep=False)
    if repeated.any():  # one message labelled on two texts: both kept, apart
        frame.loc[repeated, "id"] = frame.loc[repeated, "id"] + "@" + frame.loc[repeated, "text_hash"].str[:8]
        frame["split"] = frame["id"].map(split_of)
    return frame.drop(columns=["text_hash"])


def _record(group: pd.DataFrame, scope_all: list[str]) -> dict[str, Any]:
    first, last = group.iloc[0], group.iloc[-1]
    by_field = {(f, t): v for f, t, v in zip(group["field"], group["topic"], group["new_value"], strict=True)}
    polarity = {t: v for (f, t), v in by_field.items() if f == POLARITY}
    if (TOPICS, "") in by_field:
        topics = schema.split_list(by_field[(TOPICS, "")])
        scope = sorted(set(scope_all) | set(topics))
    else:
        topics = scope = sorted(polarity)
    labelled = [f for f in (SENTIMENT, TOPICS) if (f, "") in by_field] + [f"polarity:{t}" for t in sorted(polarity)]
    item_id = f"{first['source']}:{first['id']}"
    return {"id": item_id, "text": first["text"], "lang": first["lang"] or "", "channel": first["channel"] or "",
            "sentiment": by_field.get((SENTIMENT, ""), ""), "topics": topics,
            "aspects": {t: v for t, v in polarity.items() if t in topics}, "origin": "labels",
            "split": split_of(item_id), "topic_scope": scope, "source": first["source"],
            "message_id": first["id"], "labelled": labelled, "who": last["who"],
            "labelled_at": last["labelled_at"], "model_version": last["model_version"],
            "text_hash": first["text_hash"]}


def _taxonomy_topics() -> list[str]:
    from cx_text.core.taxonomy import load_taxonomy

    return list(load_taxonomy().topic_ids)


@contextmanager
def _connection(target: Store | Any | str | Path) -> Iterator[Store]:
    if isinstance(target, Store):
        yield target
    elif isinstance(target, str | Path):
        with open_store(target, read_only=True) as store:
            yield store
    else:  # a DuckDB connection
        yield Store(target, Path(""))
