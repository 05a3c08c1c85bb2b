"""Per-connection DuckDB temp tables that metrics read instead of the store's views — the one cache.

The store's ``tagged`` / ``latest_aspects`` views pick the newest complete run per message with
joins that cost ~1 s per query on 1M messages. Metrics read the same rows many times (KPIs,
by-topic, impact, drivers, trends), so the first query materialises them once per connection
into TEMP tables (allowed on read-only connections, gone when it closes); a signature of the
runs table and the feedback size rebuilds them after a new run is stored. The ``theme_members``
view (de-duplicated on every read) is cached the same way, its signature also following theme
discovery and edits. The CLI, the reports and the app (on its snapshot's connection) all read
through here.
"""

from __future__ import annotations

from typing import Any

from cx_text.core import schema

MESSAGES = "_cx_messages"
THEME_MEMBERS = "_cx_theme_members"
_META = "_cx_cache_meta"
MESSAGE_COLUMNS = (
    "source",
    "id",
    "run_id",
    schema.CREATED_AT,
    schema.CHANNEL,
    schema.SEGMENT,
    schema.LANG,
    schema.NPS,
    schema.CSAT,
    schema.CES,
    schema.CUSTOMER_ID,
    schema.SENTIMENT,
    schema.TOPICS,
    schema.SUBTOPICS,
)
_SIGNATURE = (
    "SELECT concat_ws('|', (SELECT count(*) FROM runs), (SELECT max(finished_at) FROM runs), "
    "(SELECT count_if(status = 'complete') FROM runs), (SELECT count(*) FROM feedback), "
    "(SELECT count(*) FROM aspects), (SELECT count(*) FROM tags))"
)
_THEME_SIGNATURE = (
    "SELECT concat_ws('|', (SELECT count(*) FROM theme_memberships), (SELECT count(*) FROM "
    "themes), "
    "(SELECT max(finished_at) FROM theme_runs), (SELECT count(*) FROM theme_edits))"
)


def ensure_messages(con: Any) -> str:
    """The temp table of latest-run messages (one row each, the columns metrics use).

    A message is ``(source, id)``; ``(run_id, id)`` is unique too (one source per run)."""
    if _fresh(con, MESSAGES):
        return MESSAGES
    _drop_all(con)
    con.execute(f"CREATE TEMP TABLE {MESSAGES} AS SELECT {', '.join(MESSAGE_COLUMNS)} FROM tagged")
    _mark(con, MESSAGES)
    return MESSAGES


def ensure_mentions(con: Any, level: str) -> str:
    """Temp table ``(message columns…, topic, neg)`` for ``topic`` or ``subtopic`` mentions.

    ``neg``: any negative aspect row of the message's latest run for the (parent) topic; a topic
    without an aspect row falls back to the message sentiment.
    """
    ensure_messages(con)
    table = f"_cx_mentions_{level}"
    if _fresh(con, table):
        return table
    column = schema.TOPICS if level == "topic" else schema.SUBTOPICS
    parent = "t.topic" if level == "topic" else "split_part(t.topic, '/', 1)"
    con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    con.execute(
        f"CREATE TEMP TABLE {table} AS SELECT t.* EXCLUDE ({schema.TOPICS}, {schema.SUBTOPICS}), "
        f"coalesce(a.neg, t.sentiment = 'negative') AS neg "
        f"FROM (SELECT b.*, unnest(b.{column}) AS topic FROM {MESSAGES} b) t "
        "LEFT JOIN (SELECT id, run_id, topic, bool_or(polarity = 'negative') AS neg FROM aspects "
        f"GROUP BY ALL) a ON a.id = t.id AND a.run_id = t.run_id AND a.topic = {parent}"
    )
    _mark(con, table)
    return table


def ensure_theme_members(con: Any) -> str:
    """The temp copy of the ``theme_members`` view: ``(source, id, theme_id, topic)``, distinct.

    Rebuilt when a run lands or themes are discovered or edited (live themes only, as the view)."""
    ensure_messages(con)
    if _fresh(con, THEME_MEMBERS):
        return THEME_MEMBERS
    con.execute(f"DROP TABLE IF EXISTS temp.{THEME_MEMBERS}")
    con.execute(
        f"CREATE TEMP TABLE {THEME_MEMBERS} AS "
        "SELECT DISTINCT source, id, theme_id, topic FROM theme_members"
    )
    _mark(con, THEME_MEMBERS)
    return THEME_MEMBERS


def _signature(con: Any, table: str) -> str:
    row = con.execute(_SIGNATURE).fetchone()
    signature = str(row[0]) if row else ""
    if table == THEME_MEMBERS:
        row = con.execute(_THEME_SIGNATURE).fetchone()
        signature += "#" + (str(row[0]) if row else "")
    return signature


def _meta(con: Any) -> None:
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_META} (name VARCHAR, signature VARCHAR)")


def _fresh(con: Any, table: str) -> bool:
    _meta(con)
    row = con.execute(f"SELECT signature FROM {_META} WHERE name = ?", [table]).fetchone()
    return bool(row) and row[0] == _signature(con, table)


def _mark(con: Any, table: str) -> None:
    con.execute(f"DELETE FROM {_META} WHERE name = ?", [table])
    con.execute(f"INSERT INTO {_META} VALUES (?, ?)", [table, _signature(con, table)])


def _drop_all(con: Any) -> None:
    """Drop every cached table (a new run changes all of them)."""
    for (name,) in con.execute(f"SELECT name FROM {_META}").fetchall():
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")
    con.execute(f"DELETE FROM {_META}")
