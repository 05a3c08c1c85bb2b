"""DuckDB reads and writes of the themes tables (schema: migration 3 in store_schema.py)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core.errors import ModelError, StoreError
from cx_text.core.lang import has_content
from cx_text.store.store import Store
from cx_text.themes.cluster import Cluster

LIVE = ("active", "proposed")
_LIVE_SQL = "('active', 'proposed')"
_NUMBER = re.compile(r":t(\d+)$")

NEGATIVE_CLAUSES_SQL = f"""
WITH neg AS (
    SELECT DISTINCT e.run_id, e.id, e.topic, e.clause, e.clause_start, e.clause_end
    FROM latest_evidence e
    JOIN latest_aspects a ON a.run_id = e.run_id AND a.id = e.id AND a.topic = e.topic
    WHERE a.polarity = 'negative' AND e.clause IS NOT NULL AND length(trim(e.clause)) > 0
      AND ($topic IS NULL OR e.topic = $topic)
), kept AS (
    SELECT m.* FROM theme_memberships m JOIN themes th USING (theme_id)
    WHERE th.status IN {_LIVE_SQL}
)
SELECT n.*, coalesce(t.lang, '') AS lang, k.theme_id AS kept_theme_id,
       k.similarity AS kept_similarity
FROM neg n
LEFT JOIN latest_tags t ON t.run_id = n.run_id AND t.id = n.id
LEFT JOIN kept k ON k.run_id = n.run_id AND k.id = n.id AND k.topic = n.topic
    AND k.clause_start IS NOT DISTINCT FROM n.clause_start
    AND k.clause_end IS NOT DISTINCT FROM n.clause_end
ORDER BY n.topic, n.id, n.clause_start, n.clause_end, n.clause, n.run_id
"""


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_theme_run_id() -> str:
    return "th-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def negative_clauses(store: Store, topic: str | None) -> pd.DataFrame:
    """Every negative clause of the latest data (one row per run, id, topic, span)."""
    frame = store.con.execute(NEGATIVE_CLAUSES_SQL, {"topic": topic}).df()
    frame = frame.loc[
        frame["clause"].map(has_content).astype(bool)
    ]  # greetings, sign-offs: no complaint
    return frame.drop_duplicates(["run_id", "id", "topic", "clause_start", "clause_end", "clause"])


def themes_frame(
    store: Store, topic: str | None = None, statuses: Sequence[str] | None = None
) -> pd.DataFrame:
    """Rows of ``themes`` (optionally one topic / some statuses), ordered by id."""
    sql = "SELECT * FROM themes WHERE ($topic IS NULL OR topic = $topic)"
    if statuses:
        sql += " AND status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"
    return store.con.execute(sql + " ORDER BY topic, theme_id", {"topic": topic}).df()


def theme_row(store: Store, theme_id: str) -> dict[str, Any]:
    """One theme as a dict; StoreError naming close ids when it does not exist."""
    frame = store.con.execute("SELECT * FROM themes WHERE theme_id = ?", [theme_id]).df()
    if frame.empty:
        known = store.con.execute(
            "SELECT theme_id FROM themes ORDER BY theme_id LIMIT 8"
        ).fetchall()
        raise StoreError(
            f"no theme {theme_id!r} in {store.path}; some ids: "
            f"{', '.join(r[0] for r in known) or '(none yet)'}.",
            "List them with `cx-text themes list` (ids look like delivery:t003).",
        )
    return dict(frame.iloc[0])


def clusters_of(frame: pd.DataFrame) -> list[Cluster]:
    """Theme rows -> :class:`Cluster` objects (same order)."""
    return [
        Cluster(np.asarray(c, dtype=np.float32), float(t), float(h))
        for c, t, h in zip(frame["centroid"], frame["threshold"], frame["cohesion"], strict=True)
    ]


def next_number(store: Store, topic: str) -> int:
    """1 + the highest theme number ever used in ``topic`` (ids are never reused)."""
    ids = [
        r[0]
        for r in store.con.execute(
            "SELECT theme_id FROM themes WHERE topic = ?", [topic]
        ).fetchall()
    ]
    numbers = [int(m.group(1)) for m in map(_NUMBER.search, ids) if m]
    return max(numbers, default=0) + 1


def theme_id(topic: str, number: int) -> str:
    return f"{topic}:t{number:03d}"


def insert_theme(
    store: Store,
    tid: str,
    topic: str,
    cluster: Cluster,
    status: str,
    run_id: str,
    parent_id: str | None = None,
) -> None:
    ts = now()
    store.con.execute(
        "INSERT INTO themes (theme_id, topic, label, auto_label, label_pinned, top_terms, "
        "centroid, "
        "threshold, cohesion, status, merged_into, parent_id, created_run, updated_run, "
        "created_at, "
        "updated_at) VALUES (?, ?, ?, NULL, FALSE, '[]', ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
        [
            tid,
            topic,
            tid,
            cluster.centroid.tolist(),
            cluster.threshold,
            cluster.cohesion,
            status,
            parent_id,
            run_id,
            run_id,
            ts,
            ts,
        ],
    )


def set_auto_labels(
    store: Store, labels: dict[str, tuple[str, list[dict[str, Any]]]], run_id: str
) -> None:
    """Store discovered names (``auto_label``) and c-TF-IDF terms (``top_terms``); the shown
    ``label`` changes only where no analyst pinned one."""
    for tid, (label, chosen) in labels.items():
        store.con.execute(
            "UPDATE themes SET auto_label = ?, top_terms = ?, updated_run = ?, updated_at = ?, "
            "label = CASE WHEN label_pinned THEN label ELSE ? END WHERE theme_id = ?",
            [label, json.dumps(chosen, ensure_ascii=False), run_id, now(), label, tid],
        )


def load_spaces(store: Store, topic: str) -> dict[str, np.ndarray]:
    rows = store.con.execute(
        "SELECT lang, mean FROM theme_spaces WHERE topic = ?", [topic]
    ).fetchall()
    return {str(lang): np.asarray(mean, dtype=np.float32) for lang, mean in rows}


def check_dimension(topic: str, means: dict[str, np.ndarray], dim: int) -> None:
    """ModelError when the embedder's dimension differs from the one the topic was built with."""
    stored = {len(m) for m in means.values()}
    if stored and stored != {dim}:
        raise ModelError(
            f"themes of topic {topic!r} were discovered with {stored.pop()}-dim embeddings; "
            f"the embedder now gives {dim}-dim.",
            "Use the same encoder, or start afresh with `cx-text themes discover --reset` "
            "(old themes are retired; ids are never reused).",
        )


def retire_topics(store: Store, topic: str | None) -> None:
    """Retire every live theme of ``topic`` (or all), forget its centring and memberships."""
    with store.transaction():
        where = "($topic IS NULL OR topic = $topic)"
        store.con.execute(
            f"UPDATE themes SET status = 'retired', updated_at = now() "
            f"WHERE {where} AND status IN {_LIVE_SQL}",
            {"topic": topic},
        )
        store.con.execute(f"DELETE FROM theme_spaces WHERE {where}", {"topic": topic})
        store.con.execute(f"DELETE FROM theme_memberships WHERE {where}", {"topic": topic})
        log_edit(store, "reset", topic or "*", {}, {})


def save_spaces(
    store: Store, topic: str, means: dict[str, np.ndarray], counts: dict[str, int], run_id: str
) -> None:
    """Insert the language means a topic does not have yet (existing ones never change)."""
    for lang, mean in means.items():
        store.con.execute(
            "INSERT INTO theme_spaces VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [topic, lang, mean.tolist(), counts.get(lang, 0), run_id],
        )


def replace_memberships(store: Store, topics: Iterable[str], frame: pd.DataFrame) -> None:
    """Memberships of ``topics`` become ``frame`` (one row per negative clause)."""
    for topic in topics:
        store.con.execute("DELETE FROM theme_memberships WHERE topic = ?", [topic])
    if len(frame):
        store.con.register("_members", frame)
        try:
            cols = ", ".join(frame.columns)
            store.con.execute(f"INSERT INTO theme_memberships ({cols}) SELECT {cols} FROM _members")
        finally:
            store.con.unregister("_members")


def record_run(
    store: Store,
    run_id: str,
    started: datetime,
    topic: str | None,
    params: dict[str, Any],
    stats: dict[str, Any],
) -> None:
    store.con.execute(
        "INSERT INTO theme_runs VALUES (?, ?, ?, ?, ?, ?)",
        [run_id, started, now(), topic, json.dumps(params), json.dumps(stats, default=str)],
    )


def log_edit(
    store: Store, action: str, tid: str, args: dict[str, Any], result: dict[str, Any]
) -> int:
    """Append one analyst edit to ``theme_edits``; returns its id."""
    row = store.con.execute("SELECT coalesce(max(edit_id), 0) + 1 FROM theme_edits").fetchone()
    edit_id = int(row[0]) if row else 1
    store.con.execute(
        "INSERT INTO theme_edits VALUES (?, ?, ?, ?, ?, ?)",
        [
            edit_id,
            now(),
            action,
            tid,
            json.dumps(args, ensure_ascii=False),
            json.dumps(result, ensure_ascii=False),
        ],
    )
    return edit_id


def edits(store: Store) -> pd.DataFrame:
    return store.con.execute("SELECT * FROM theme_edits ORDER BY edit_id").df()


def resolve(store: Store, tid: str) -> str:
    """Follow ``merged_into`` redirects to the surviving theme id."""
    seen = {tid}
    while True:
        row = theme_row(store, tid)
        target = row.get("merged_into")
        if row["status"] != "merged" or not isinstance(target, str) or target in seen:
            return tid
        tid = target
        seen.add(tid)
