"""Reading themes for the app, reports and CLI: list with volume/share/quotes, quotes, coverage.

Aggregation happens in DuckDB; only one row per theme (and a few quote candidates) reach pandas.
Quotes are member clauses closest to the theme centroid, preferring 20–160 characters, with
near-duplicates (same words) skipped so the quotes show different wordings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from cx_text.store.store import Store
from cx_text.themes.db import LIVE, resolve
from cx_text.themes.label import format_label

QUOTE_MIN_CHARS, QUOTE_MAX_CHARS = 20, 160
LENGTH_PENALTY = 0.002  # cosine lost per character outside the preferred length
QUOTE_CANDIDATES = 40
DUPLICATE_JACCARD = 0.6

LIST_COLUMNS = [
    "theme_id",
    "topic",
    "label",
    "status",
    "volume",
    "clauses",
    "share",
    "top_terms",
    "terms",
    "quotes",
    "auto_label",
    "parent_id",
    "created_run",
]

_SCORE = (
    f"similarity - {LENGTH_PENALTY} * (greatest({QUOTE_MIN_CHARS} - length(clause), 0) "
    f"+ greatest(length(clause) - {QUOTE_MAX_CHARS}, 0))"
)

_LIST_SQL = """
WITH negs AS (
    SELECT topic, count(DISTINCT (source, id)) AS n FROM latest_aspects WHERE polarity = 'negative'
    GROUP BY topic
), vol AS (
    SELECT m.theme_id, count(DISTINCT (r.source, m.id)) AS volume, count(*) AS clauses
    FROM theme_memberships m JOIN runs r USING (run_id) WHERE m.theme_id IS NOT NULL GROUP BY \
m.theme_id
)
SELECT th.theme_id, th.topic, th.label, th.status, coalesce(v.volume, 0) AS volume,
       coalesce(v.clauses, 0) AS clauses, coalesce(v.volume, 0) / nullif(n.n, 0) AS share,
       th.top_terms, th.auto_label, th.parent_id, th.created_run
FROM themes th LEFT JOIN vol v USING (theme_id) LEFT JOIN negs n USING (topic)
WHERE ($topic IS NULL OR th.topic = $topic) AND th.status IN ({statuses})
ORDER BY th.topic, volume DESC, th.theme_id
"""

_QUOTES_SQL = f"""
SELECT * FROM (
    SELECT m.theme_id, m.id, m.clause, m.similarity, m.lang, f.text, f.created_at, f.nps, f.source,
           row_number() OVER (PARTITION BY m.theme_id ORDER BY {_SCORE} DESC, m.id) AS rank
    FROM theme_memberships m LEFT JOIN feedback f USING (run_id, id)
    WHERE m.theme_id IN (SELECT unnest($ids))
) WHERE rank <= {QUOTE_CANDIDATES} ORDER BY theme_id, rank
"""


def list_themes(
    store: Store, topic: str | None = None, *, quotes: int = 3, statuses: tuple[str, ...] = LIVE
) -> pd.DataFrame:
    """One row per theme: id, topic, label (the name), status, volume (messages), clauses, share
    of the topic's negative messages, top terms, ``terms`` (the key-term line ``курьер ·
    не позвонить | courier · not call``), quotes — biggest first within each topic."""
    sql = _LIST_SQL.format(statuses=", ".join(f"'{s}'" for s in statuses))
    frame = store.con.execute(sql, {"topic": topic}).df()
    frame["terms"] = frame["top_terms"].map(
        lambda cell: format_label(_items(cell)) if _items(cell) else ""
    )
    frame["top_terms"] = frame["top_terms"].map(_terms)
    picked = _quotes_for(store, frame["theme_id"].tolist(), quotes)
    frame["quotes"] = [picked.get(t, []) for t in frame["theme_id"]]
    return frame.reindex(columns=LIST_COLUMNS).reset_index(drop=True)


def theme_quotes(store: Store, theme_id: str, n: int = 5) -> pd.DataFrame:
    """Representative quotes of a theme (merged ids redirect): clause, message, date, NPS."""
    tid = resolve(store, theme_id)
    candidates = store.con.execute(_QUOTES_SQL, {"ids": [tid]}).df()
    return _diverse(candidates, n).drop(columns=["rank"]).reset_index(drop=True)


def coverage(store: Store, topic: str | None = None) -> pd.DataFrame:
    """Per topic: negative clauses, how many sit in a live theme, the unassigned share."""
    return store.con.execute(
        """
        SELECT m.topic, count(*) AS clauses,
               count(*) FILTER (WHERE th.status IN ('active', 'proposed')) AS assigned,
               count(*) FILTER (WHERE th.status IS NULL OR th.status NOT IN ('active', 'proposed'))
                   AS unassigned,
               unassigned / count(*) AS unassigned_share
        FROM theme_memberships m LEFT JOIN themes th USING (theme_id)
        WHERE $topic IS NULL OR m.topic = $topic
        GROUP BY m.topic ORDER BY m.topic""",
        {"topic": topic},
    ).df()


def render_themes(frame: pd.DataFrame, unassigned: pd.DataFrame | None = None) -> str:
    """Plain-text listing for the CLI."""
    if frame.empty:
        return "No themes yet — run `cx-text themes discover` after tagging an export."
    lines: list[str] = []
    for topic, group in frame.groupby("topic", sort=True):
        lines.append(f"\n{topic}")
        lines += [line for row in group.to_dict("records") for line in _theme_lines(row)]
    if unassigned is not None and len(unassigned):
        rate = unassigned["unassigned"].sum() / max(int(unassigned["clauses"].sum()), 1)
        lines.append(f"\nUnassigned negative clauses: {rate:.1%}")
    return "\n".join(lines).lstrip("\n")


def render_theme(store: Store, theme_id: str, n: int = 10) -> str:
    """Plain-text view of one theme for ``cx-text themes show``."""
    tid = resolve(store, theme_id)
    frame = list_themes(
        store, statuses=("active", "proposed", "merged", "split", "retired"), quotes=0
    )
    row = frame[frame["theme_id"] == tid].to_dict("records")[0]
    share = f"{float(row['share']):.1%}" if pd.notna(row["share"]) else "–"
    lines = [
        f"{tid}  [{row['status']}]  {row['label']}",
        f"  topic {row['topic']}: {int(row['volume']):,} messages, {int(row['clauses']):,} "
        f"clauses, {share} of the topic's negative messages",
    ]
    if tid != theme_id:
        lines.insert(0, f"{theme_id} was merged into {tid}.")
    if row["auto_label"] and row["auto_label"] != row["label"]:
        lines.append(f"  discovered name: {row['auto_label']}")
    lines.append("  key terms: " + (row["terms"] or "–"))
    for quote in theme_quotes(store, tid, n).to_dict("records"):
        when = str(quote["created_at"])[:10] if pd.notna(quote["created_at"]) else ""
        lines.append(f"    “{_clip(quote['clause'])}”  ({quote['id']} {when})".rstrip())
    return "\n".join(lines)


def _theme_lines(row: Mapping[Any, Any]) -> list[str]:
    flag = "" if row["status"] == "active" else f" [{row['status']}]"
    share = f"{float(row['share']):.0%}" if pd.notna(row["share"]) else "–"
    head = f"  {row['theme_id']:<18} {int(row['volume']):>6,} msgs {share:>4}  {row['label']}{flag}"
    terms = [f"{'':<39}{row['terms']}"] if row["terms"] and row["terms"] != row["label"] else []
    return [head, *terms, *(f"      “{_clip(q)}”" for q in row["quotes"])]


def _quotes_for(store: Store, ids: list[str], n: int) -> dict[str, list[str]]:
    if not ids or n <= 0:
        return {}
    candidates = store.con.execute(_QUOTES_SQL, {"ids": ids}).df()
    return {
        str(t): _diverse(g, n)["clause"].tolist()
        for t, g in candidates.groupby("theme_id", sort=False)
    }


def _diverse(candidates: pd.DataFrame, n: int) -> pd.DataFrame:
    """The best-ranked candidates, skipping any too similar in words to one already picked."""
    picked: list[int] = []
    seen: list[set[str]] = []
    for pos, clause in enumerate(candidates["clause"].astype(str)):
        words = set(re.findall(r"\w+", clause.lower()))
        if any(_jaccard(words, other) >= DUPLICATE_JACCARD for other in seen):
            continue
        picked.append(pos)
        seen.append(words)
        if len(picked) >= n:
            break
    return candidates.iloc[picked]


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _items(cell: Any) -> list[dict[str, Any]]:
    if cell is None or (isinstance(cell, float) and pd.isna(cell)):
        return []
    return list(json.loads(cell) if isinstance(cell, str) else cell)


def _terms(cell: Any) -> list[str]:
    return [str(item["term"]) for item in _items(cell)]


def _clip(text: str, limit: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
