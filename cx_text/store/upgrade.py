"""Migration 5: messages identified by (source, id); feedback kept per run; run outcomes.

Before version 5, ``feedback`` had one row per id across all exports (a later export with the
same ids overwrote the earlier one's text) and the views grouped by id alone. This migration:

* gives every run a ``source``: the normalised stem of its input file (``legacy`` when none), so
  re-tagging the same file after the upgrade supersedes its legacy tags;
* rebuilds ``feedback`` keyed by ``(run_id, id)`` with a ``source`` column: every run that tagged
  an id gets a copy of the text the store held for it (nothing is dropped); the input's
  source-system column is renamed ``source_system``;
* adds ``rows_out``, ``errors`` and ``status_note`` to ``runs`` (``cx-text runs list``);
* refreshes every view (store/views.py), including the BI contract ``messages``/``message_topics``.

Migration 6 (:func:`upgrade_to_v6`) adds the ``labels`` table of analysts' corrections
(store/labels.py) and ``tags.sentiment_probs``; older tags keep NULL there.
"""

from __future__ import annotations

from pathlib import PureWindowsPath
from typing import Any

from cx_text.io.source import normalise_source
from cx_text.store.views import VIEWS, VIEWS_V5

LEGACY_SOURCE = "legacy"

FEEDBACK_V5 = """
CREATE TABLE feedback_v5 (
    run_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    text VARCHAR,
    created_at TIMESTAMP,
    channel VARCHAR,
    source_system VARCHAR,
    nps DOUBLE,
    csat DOUBLE,
    ces DOUBLE,
    rating DOUBLE,
    customer_id VARCHAR,
    segment VARCHAR,
    extra JSON,
    PRIMARY KEY (run_id, id)
)"""
_COPY = (
    "f.text, f.created_at, f.channel, f.source, f.nps, f.csat, f.ces, f.rating, f.customer_id, "
    "f.segment, f.extra"
)
COPY_TAGGED = f"""
INSERT INTO feedback_v5
    SELECT t.run_id, r.source, t.id, {_COPY}
    FROM tags t JOIN runs r USING (run_id) JOIN feedback f USING (id)"""
COPY_UNTAGGED = f"""
INSERT INTO feedback_v5
    SELECT coalesce(f.last_run_id, '{LEGACY_SOURCE}'), coalesce(r.source, '{LEGACY_SOURCE}'), \
f.id, {_COPY}
    FROM feedback f LEFT JOIN runs r ON r.run_id = f.last_run_id
    WHERE f.id NOT IN (SELECT id FROM tags)"""


def legacy_source(input_path: str | None) -> str:
    """The source a pre-v5 run gets: its input file's normalised stem, else ``legacy``."""
    stem = PureWindowsPath(input_path or "").stem  # handles both / and \\ separators
    return normalise_source(stem) or LEGACY_SOURCE


def upgrade_to_v5(con: Any) -> None:
    """Apply migration 5 on ``con`` (inside the caller's transaction)."""
    for column, kind in (
        ("source", "VARCHAR"),
        ("rows_out", "BIGINT"),
        ("errors", "BIGINT"),
        ("status_note", "VARCHAR"),
    ):
        con.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
    for run_id, input_path in con.execute("SELECT run_id, input_path FROM runs").fetchall():
        con.execute(
            "UPDATE runs SET source = ? WHERE run_id = ?", [legacy_source(input_path), run_id]
        )
    con.execute(FEEDBACK_V5)
    con.execute(COPY_TAGGED)
    con.execute(COPY_UNTAGGED)
    con.execute("DROP TABLE feedback")
    con.execute("ALTER TABLE feedback_v5 RENAME TO feedback")
    con.execute(VIEWS_V5)


LABELS_TABLE = """
CREATE TABLE IF NOT EXISTS labels (
    label_id BIGINT PRIMARY KEY,
    source VARCHAR NOT NULL,            -- the message: (source, id)
    id VARCHAR NOT NULL,
    field VARCHAR NOT NULL,             -- sentiment | topics | polarity
    topic VARCHAR NOT NULL DEFAULT '',  -- the topic of a polarity label ('' otherwise)
    old_value VARCHAR,                  -- what the model said ('' = nothing)
    new_value VARCHAR NOT NULL,         -- the analyst's value (= old_value: a confirmation)
    who VARCHAR NOT NULL,
    labelled_at TIMESTAMP NOT NULL,     -- UTC
    run_id VARCHAR,                     -- the run whose tag was corrected
    model_version VARCHAR,              -- models + fingerprint of that run's manifest
    text_hash VARCHAR NOT NULL,         -- sha256 of the (masked) text the label was made on
    origin VARCHAR                      -- app | import | api
)"""


def upgrade_to_v6(con: Any) -> None:
    """Apply migration 6: the ``labels`` table (analysts' corrections and confirmations), the
    per-tag ``sentiment_probs`` (the review queue's margin) and the views that read them."""
    con.execute(LABELS_TABLE)
    con.execute("ALTER TABLE tags ADD COLUMN IF NOT EXISTS sentiment_probs JSON")
    con.execute(VIEWS)
