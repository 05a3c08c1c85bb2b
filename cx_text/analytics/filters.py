"""Filters and the SQL building blocks every metric query shares (period, channel, segment, lang).

``Filters`` is what the app sidebar and the CLI flags produce; :meth:`Filters.where` turns it into
a parameterised WHERE clause over the ``tagged`` view. A *dimension* is how messages are keyed
into groups; topic-like dimensions (topic, subtopic, theme) come with a *mentions* relation
``(source, id, topic, neg, …)`` — one row per message × topic, ``neg`` = mentioned negatively.
A message is identified by ``(source, id)`` (the export it came from and its id there).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from cx_text.core import schema
from cx_text.core.errors import ConfigError, StoreError
from cx_text.store import cache as metrics_cache

THEME_TABLE = "theme_members"  # the store's view of live theme members (source, id, theme_id, …)
THEME_ID = "theme_id"
PERIODS = ("week", "month")
COLUMN_DIMENSIONS = {"channel": schema.CHANNEL, "segment": schema.SEGMENT, "lang": schema.LANG}
TOPIC_DIMENSIONS = ("topic", "subtopic", "theme")
DIMENSIONS = ("overall", *COLUMN_DIMENSIONS, *PERIODS, *TOPIC_DIMENSIONS)
NONE_KEY = "(none)"


@dataclass(frozen=True)
class Filters:
    """Which messages a metric looks at. Empty tuples / ``None`` mean "no restriction".

    ``start`` and ``end`` are inclusive calendar days of ``created_at``.
    """

    start: date | None = None
    end: date | None = None
    channels: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise ConfigError(
                f"filter start {self.start} is after end {self.end}.", "Swap --from and --to."
            )

    def where(self) -> tuple[str, dict[str, Any]]:
        """``("WHERE …", params)`` over the ``tagged`` view (``"", {}`` when unfiltered)."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        if self.start:
            parts.append(f"{schema.CREATED_AT} >= $f_start")
            params["f_start"] = self.start
        if self.end:
            parts.append(f"{schema.CREATED_AT} < $f_end")
            params["f_end"] = self.end + timedelta(days=1)
        for name, column, values in self._lists():
            if values:
                parts.append(f"{column} IN (SELECT unnest(${name}))")
                params[name] = list(values)
        return ("WHERE " + " AND ".join(parts) if parts else ""), params

    def restricts_messages(self) -> bool:
        """True when channel/segment/lang filters narrow which customers count."""
        return bool(self.channels or self.segments or self.langs)

    def _lists(self) -> list[tuple[str, str, tuple[str, ...]]]:
        return [
            ("f_channels", schema.CHANNEL, self.channels),
            ("f_segments", schema.SEGMENT, self.segments),
            ("f_langs", schema.LANG, self.langs),
        ]


def parse_day(value: str | date | None, what: str = "date") -> date | None:
    """``"2026-03-01"`` -> ``date``; raises ConfigError with the expected format."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ConfigError(f"{what} {value!r} is not a date.", "Use YYYY-MM-DD.") from exc


def check_dimension(dimension: str) -> str:
    if dimension not in DIMENSIONS:
        raise ConfigError(
            f"unknown dimension {dimension!r}.", f"Pick one of: {', '.join(DIMENSIONS)}."
        )
    return dimension


def period_expr(period: str, column: str = schema.CREATED_AT) -> str:
    """SQL for the first day of the week (Monday) or month of ``column``."""
    if period not in PERIODS:
        raise ConfigError(f"unknown period {period!r}.", "Use week or month.")
    return f"CAST(date_trunc('{period}', {column}) AS DATE)"


def theme_table_exists(con: Any) -> bool:
    """Whether the store has the theme membership view (every migrated store does)."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [THEME_TABLE]
    ).fetchone()
    return bool(row and row[0])


def require_theme_table(con: Any) -> None:
    if not theme_table_exists(con):
        raise StoreError(
            f"the store has no theme table {THEME_TABLE!r}, so there is nothing to group by theme.",
            "Run `cx-text themes` first, or pick another --by / --level.",
        )


def keyed_ctes(store: Any, dimension: str, filters: Filters) -> list[str]:
    """CTEs ending in ``keyed``: every ``base`` column plus ``key`` (a message may have several)."""
    check_dimension(dimension)
    if dimension == "overall":
        return ["keyed AS (SELECT b.*, 'all' AS key FROM base b)"]
    if dimension in COLUMN_DIMENSIONS:
        column = COLUMN_DIMENSIONS[dimension]
        return [
            f"keyed AS (SELECT b.*, coalesce(CAST(b.{column} AS VARCHAR), '{NONE_KEY}') AS key "
            f"FROM base b)"
        ]
    if dimension in PERIODS:
        fmt = "%Y-%m" if dimension == "month" else "%Y-%m-%d"
        return [
            f"keyed AS (SELECT b.*, coalesce(strftime({period_expr(dimension, 'b.created_at')}, "
            f"'{fmt}'), '{NONE_KEY}') AS key FROM base b)"
        ]
    return [
        mentions_cte(store, dimension, filters),
        "keyed AS (SELECT id, topic AS key, * EXCLUDE (id, topic) FROM mentions)",
    ]


def mentions_cte(store: Any, level: str, filters: Filters) -> str:
    """``mentions AS (…)``: ``(source, id, topic, neg, <message columns>)``, one row per message ×
    topic.

    Topics, sub-topics and theme members come from the cache (see :mod:`cx_text.store.cache`);
    a theme member counts as negative (themes are recurring complaints).
    """
    if level == "theme":
        require_theme_table(store.con)
        members = metrics_cache.ensure_theme_members(store.con)
        return (
            f"mentions AS (SELECT b.* EXCLUDE ({schema.TOPICS}, {schema.SUBTOPICS}), "
            f"CAST(m.{THEME_ID} AS VARCHAR) AS topic, TRUE AS neg "
            f"FROM base b JOIN (SELECT DISTINCT source, id, {THEME_ID} FROM {members}) m "
            "USING (source, id))"
        )
    if level not in ("topic", "subtopic"):
        raise ConfigError(f"unknown topic level {level!r}.", "Use topic, subtopic or theme.")
    table = metrics_cache.ensure_mentions(store.con, level)
    return f"mentions AS (SELECT * FROM {table} {filters.where()[0]})"


def with_base(store: Any, filters: Filters, body: str, *ctes: str) -> tuple[str, dict[str, Any]]:
    """``WITH base AS (filtered messages), <ctes> <body>`` and its parameters."""
    where, params = filters.where()
    base = f"base AS (SELECT * FROM {metrics_cache.ensure_messages(store.con)} {where})"
    return "WITH " + ",\n".join((base, *ctes)) + "\n" + body, params


#: the churn window: the filter's dates, else the span of the filtered messages
WINDOW = """win AS (SELECT coalesce(CAST($w_start AS DATE), CAST(min(created_at) AS DATE)) AS ws,
                   coalesce(CAST($w_end AS DATE), CAST(max(created_at) AS DATE)) AS we FROM base)"""
#: customer ``c`` active at day ``{s}`` / lost between ``{s}`` and ``{e}`` (inclusive)
AT_START = "(c.signup IS NULL OR c.signup < {s}) AND (c.churned_at IS NULL OR c.churned_at >= {s})"
LOST = "(c.signup IS NULL OR c.signup < {s}) AND c.churned_at >= {s} AND c.churned_at <= {e}"


def run_query(
    store: Any, filters: Filters, body: str, *ctes: str, params: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Run ``WITH base …, <ctes> <body>`` on the store and return the (small) result frame."""
    sql, where_params = with_base(store, filters, body, *ctes)
    params = {**where_params, **(params or {})}
    if "$w_start" in sql:
        params = {**params, "w_start": filters.start, "w_end": filters.end}
    return store.con.execute(sql, params).df()
