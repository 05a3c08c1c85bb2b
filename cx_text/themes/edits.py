"""Analyst edits of themes — rename, merge, split, accept — logged so they survive re-runs.

Every edit changes ``themes``/``theme_memberships`` at once and appends a row to
``theme_edits``; :func:`reapply_edits` replays the log (idempotently) after each discovery, so a
re-run never undoes an edit: a renamed label stays pinned, a merged id keeps redirecting to its
survivor (its centroid still pulls new clauses, for the survivor), a split parent stays split.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core.errors import StoreError
from cx_text.store.store import Store
from cx_text.themes.cluster import ThemeParams, assign, centre, embed_clauses, split_into
from cx_text.themes.db import (
    insert_theme,
    load_spaces,
    log_edit,
    next_number,
    now,
    resolve,
    set_auto_labels,
    theme_id,
    theme_row,
    themes_frame,
)
from cx_text.themes.label import Lemmatize, simple_lemmatize
from cx_text.themes.name import name_themes

Embed = Callable[[Sequence[str]], np.ndarray]


def rename_theme(store: Store, tid: str, label: str) -> str:
    """Give a theme the analyst's name (kept across re-runs); returns the theme id renamed."""
    label = label.strip()
    if not label:
        raise StoreError(
            "a theme label cannot be empty.", "Give a short name, e.g. 'courier did not call'."
        )
    tid = resolve(store, tid)
    with store.transaction():
        _set_label(store, tid, label)
        log_edit(store, "rename", tid, {"label": label}, {})
    return tid


def accept_theme(store: Store, tid: str) -> str:
    """Turn a ``proposed`` theme into an ``active`` one."""
    tid = resolve(store, tid)
    status = theme_row(store, tid)["status"]
    if status not in ("proposed", "active"):
        raise StoreError(f"theme {tid} is {status}; only proposed themes can be accepted.")
    with store.transaction():
        _set_status(store, [tid], "active", only_from="proposed")
        log_edit(store, "accept", tid, {}, {})
    return tid


def merge_themes(store: Store, tids: Sequence[str], into: str | None = None) -> str:
    """Merge themes of one topic into ``into`` (default: the biggest); returns the survivor."""
    ids = list(dict.fromkeys(resolve(store, t) for t in [*tids, *([into] if into else [])]))
    rows = [theme_row(store, t) for t in ids]
    if len(ids) < 2 or len({r["topic"] for r in rows}) != 1:
        raise StoreError(
            f"merge needs two or more live themes of one topic; got {', '.join(ids)}.",
            "Pick ids from `cx-text themes list --topic TOPIC`.",
        )
    survivor = resolve(store, into) if into else _biggest(store, ids)
    others = [t for t in ids if t != survivor]
    with store.transaction():
        _merge(store, others, survivor)
        log_edit(store, "merge", survivor, {"merged": others}, {})
    return survivor


def split_theme(
    store: Store,
    tid: str,
    embed: Embed,
    lemmatize: Lemmatize = simple_lemmatize,
    *,
    parts: int = 2,
    params: ThemeParams | None = None,
) -> list[str]:
    """Split a theme into ``parts`` children (k-means over its members); returns child ids."""
    params = params or ThemeParams()
    tid = resolve(store, tid)
    row = theme_row(store, tid)
    members = _members(store, tid)
    if parts < 2 or len(members) < parts * params.min_theme_size:
        raise StoreError(
            f"theme {tid} has {len(members)} clauses; too few to split in {parts}.",
            f"Each part needs at least {params.min_theme_size} clauses.",
        )
    langs = members["lang"].astype(str).tolist()
    x = centre(
        embed_clauses(embed, members["clause"].tolist()), langs, load_spaces(store, row["topic"])
    )
    children = split_into(x, parts, params)
    labels, sims = assign(x, children, -1.0)
    with store.transaction():
        ids = _insert_children(store, row, children)
        _move_members(store, members, [ids[k] for k in labels.tolist()], sims)
        _set_status(store, [tid], "split")
        log_edit(store, "split", tid, {"parts": parts}, {"children": ids})
        relabel_topic(store, str(row["topic"]), lemmatize, params, "edit")
    return ids


def reapply_edits(store: Store) -> int:
    """Replay the edit log in order (idempotent); returns how many edits were applied."""
    log = store.con.execute(
        "SELECT action, theme_id, args, result, edited_at FROM theme_edits ORDER BY edit_id"
    ).fetchall()
    for action, tid, args, result, at in log:
        args, result = json.loads(args or "{}"), json.loads(result or "{}")
        if action == "rename":
            _set_label(store, tid, args["label"])
        elif action == "merge":
            _merge(store, args["merged"], tid)
        elif action == "split":
            _set_status(store, [tid], "split")
        elif action == "accept":
            _set_status(store, [tid], "active", only_from="proposed")
        elif action == "reset":
            store.con.execute(
                "UPDATE themes SET status = 'retired' WHERE status IN ('active', 'proposed') "
                "AND created_at < ? AND (? = '*' OR topic = ?)",
                [at, tid, tid],
            )
    return len(log)


def relabel_topic(
    store: Store, topic: str, lemmatize: Lemmatize, params: ThemeParams, run_id: str
) -> None:
    """Recompute the names and c-TF-IDF terms of the topic's live themes from a sample of their
    members (``name.name_themes``)."""
    rows = store.con.execute(
        "SELECT theme_id, clause, lang FROM theme_memberships WHERE topic = ? "
        "ORDER BY id, clause_start, clause_end, clause",
        [topic],
    ).df()
    live = set(themes_frame(store, topic, ["active", "proposed"])["theme_id"])
    if rows.empty or not live:
        return
    rows = rows.assign(theme_id=rows["theme_id"].fillna(""))
    samples = {str(t): g for t, g in rows.groupby("theme_id", sort=True)}
    clauses = {t: _pairs(samples[t], params) for t in sorted(live) if t in samples}
    background = _pairs(samples[""], params) if "" in samples else []
    set_auto_labels(store, name_themes(clauses, lemmatize, background), run_id)


def _pairs(frame: pd.DataFrame, params: ThemeParams) -> list[tuple[str, str]]:
    if len(frame) > params.label_sample:
        frame = frame.sample(params.label_sample, random_state=params.seed)
    return list(zip(frame["clause"].astype(str), frame["lang"].astype(str), strict=True))


def _set_label(store: Store, tid: str, label: str) -> None:
    store.con.execute(
        "UPDATE themes SET label = ?, label_pinned = TRUE, updated_at = ? WHERE theme_id = ?",
        [label, now(), tid],
    )


def _set_status(
    store: Store, tids: Sequence[str], status: str, only_from: str | None = None
) -> None:
    for tid in tids:
        store.con.execute(
            "UPDATE themes SET status = ?, updated_at = ? WHERE theme_id = ? "
            "AND status <> ? AND (? IS NULL OR status = ?)",
            [status, now(), tid, status, only_from, only_from],
        )


def _merge(store: Store, others: Sequence[str], survivor: str) -> None:
    for tid in others:
        store.con.execute(
            "UPDATE themes SET status = 'merged', merged_into = ?, updated_at = ? "
            "WHERE theme_id = ? AND status <> 'merged'",
            [survivor, now(), tid],
        )
        store.con.execute(
            "UPDATE theme_memberships SET theme_id = ? WHERE theme_id = ?", [survivor, tid]
        )


def _biggest(store: Store, ids: Sequence[str]) -> str:
    counts = dict(
        store.con.execute(
            "SELECT theme_id, count(*) FROM theme_memberships WHERE theme_id IN (SELECT unnest(?)) "
            "GROUP BY theme_id",
            [list(ids)],
        ).fetchall()
    )
    return sorted(ids, key=lambda t: (-int(counts.get(t, 0)), t))[0]


def _members(store: Store, tid: str) -> pd.DataFrame:
    return store.con.execute(
        "SELECT run_id, id, topic, clause, clause_start, clause_end, lang FROM theme_memberships "
        "WHERE theme_id = ? ORDER BY id, clause_start, clause_end, clause",
        [tid],
    ).df()


def _insert_children(store: Store, parent: dict[str, Any], children: Sequence[Any]) -> list[str]:
    topic = str(parent["topic"])
    start = next_number(store, topic)
    ids = [theme_id(topic, start + i) for i in range(len(children))]
    status = "active" if parent["status"] == "active" else "proposed"
    for tid, child in zip(ids, children, strict=True):
        insert_theme(store, tid, topic, child, status, "edit", parent_id=str(parent["theme_id"]))
    return ids


def _move_members(
    store: Store, members: pd.DataFrame, targets: Sequence[str], sims: np.ndarray
) -> None:
    moves = members.assign(new_id=list(targets), new_sim=sims.astype("float64"))
    store.con.register("_moves", moves)
    try:
        store.con.execute(
            "UPDATE theme_memberships m SET theme_id = v.new_id, similarity = v.new_sim FROM "
            "_moves v "
            "WHERE m.run_id = v.run_id AND m.id = v.id AND m.topic = v.topic "
            "AND m.clause_start IS NOT DISTINCT FROM v.clause_start "
            "AND m.clause_end IS NOT DISTINCT FROM v.clause_end"
        )
    finally:
        store.con.unregister("_moves")
