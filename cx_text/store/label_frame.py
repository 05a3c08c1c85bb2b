"""The analysts' labels as training data: one row per labelled message (and text) in the corpus
format (:data:`cx_text.training.corpus.LABEL_COLUMNS`) plus :data:`EXTRA_COLUMNS`.

``cx-text train --labels`` reads a store through :func:`labels_frame`, as does
``cx_text.open_store(path).labels()``; :mod:`cx_text.store.labels` re-exports it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.store.label_fields import POLARITY, SENTIMENT, TOPICS
from cx_text.store.store import Store, open_store
from cx_text.training.corpus import LABEL_COLUMNS, split_of

#: columns of :func:`labels_frame` beyond the corpus format
EXTRA_COLUMNS = (
    "topic_scope",
    "source",
    "message_id",
    "labelled",
    "who",
    "labelled_at",
    "model_version",
)

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


def labels_frame(
    target: Store | Any | str | Path, topic_ids: Sequence[str] | None = None
) -> pd.DataFrame:
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
    records = [
        _record(group, scope_all)
        for _, group in rows.groupby(["source", "id", "text_hash"], sort=True)
    ]
    frame = pd.DataFrame(records, columns=[*LABEL_COLUMNS, *EXTRA_COLUMNS, "text_hash"])
    repeated = frame["id"].duplicated(keep=False)
    if repeated.any():  # one message labelled on two texts: both kept, apart
        frame.loc[repeated, "id"] = (
            frame.loc[repeated, "id"] + "@" + frame.loc[repeated, "text_hash"].str[:8]
        )
        frame["split"] = frame["id"].map(split_of)
    return frame.drop(columns=["text_hash"])


def _record(group: pd.DataFrame, scope_all: list[str]) -> dict[str, Any]:
    first, last = group.iloc[0], group.iloc[-1]
    by_field = {
        (f, t): v
        for f, t, v in zip(group["field"], group["topic"], group["new_value"], strict=True)
    }
    polarity = {t: v for (f, t), v in by_field.items() if f == POLARITY}
    if (TOPICS, "") in by_field:
        topics = schema.split_list(by_field[(TOPICS, "")])
        scope = sorted(set(scope_all) | set(topics))
    else:
        topics = scope = sorted(polarity)
    labelled = [f for f in (SENTIMENT, TOPICS) if (f, "") in by_field] + [
        f"polarity:{t}" for t in sorted(polarity)
    ]
    item_id = f"{first['source']}:{first['id']}"
    return {
        "id": item_id,
        "text": first["text"],
        "lang": first["lang"] or "",
        "channel": first["channel"] or "",
        "sentiment": by_field.get((SENTIMENT, ""), ""),
        "topics": topics,
        "aspects": {t: v for t, v in polarity.items() if t in topics},
        "origin": "labels",
        "split": split_of(item_id),
        "topic_scope": scope,
        "source": first["source"],
        "message_id": first["id"],
        "labelled": labelled,
        "who": last["who"],
        "labelled_at": last["labelled_at"],
        "model_version": last["model_version"],
        "text_hash": first["text_hash"],
    }


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
