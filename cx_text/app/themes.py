"""What the Themes page asks the store: live themes ranked by NPS impact or volume, one theme in
depth (trend with alerts, sentiment mix, most affected groups, quotes). All in DuckDB; every
function returns a small frame (one row per theme or group, never per message).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cx_text.analytics import drivers, metrics, stats, trends
from cx_text.analytics.filters import NONE_KEY, Filters, with_base
from cx_text.app.queries import COMPARE_DIMENSIONS
from cx_text.core.config import Settings
from cx_text.store import cache as metrics_cache
from cx_text.store.store import Store
from cx_text.themes.service import theme_quotes

THEME_COLUMNS = [
    "theme_id",
    "topic",
    "label",
    "status",
    "volume",
    "share",
    "nps",
    "neg_share",
    "nps_impact",
    "nps_impact_lo",
    "nps_impact_hi",
    "low_n",
    "top_terms",
]
THEME_DRAWS = 400  # bootstrap draws for theme impact CIs (ranking needs less than a report)
_LIVE_THEMES = """SELECT theme_id, topic, label, status, top_terms FROM themes
  WHERE status IN ('active', 'proposed') AND ($topic IS NULL OR topic = $topic) ORDER BY theme_id"""


def themes_overview(
    store: Store,
    filters: Filters,
    settings: Settings,
    topic: str | None = None,
    rank_by: str = "impact",
) -> pd.DataFrame:
    """Live themes with filtered volume, share of the topic's negative messages, NPS and NPS
    impact (bootstrap CI); ranked by ``impact`` (most costly first) or ``volume``."""
    listed = store.con.execute(_LIVE_THEMES, {"topic": topic}).df()
    if listed.empty:
        return pd.DataFrame(columns=THEME_COLUMNS)
    wide = _theme_scores(store, filters)
    imp = drivers.topic_impact(store, filters, settings, "theme", draws=THEME_DRAWS)
    imp = imp[imp["metric"] == "nps_impact"] if len(imp) else imp
    out = listed.merge(
        wide[["key", "volume", "nps", "neg_share"]].rename(columns={"key": "theme_id"}),
        on="theme_id",
        how="left",
    )
    imp_cols = imp.reindex(columns=["key", "value", "lo", "hi"]).rename(
        columns={
            "key": "theme_id",
            "value": "nps_impact",
            "lo": "nps_impact_lo",
            "hi": "nps_impact_hi",
        }
    )
    out = out.merge(imp_cols, on="theme_id", how="left").merge(
        _topic_negatives(store, filters), on="topic", how="left"
    )
    out["volume"] = out["volume"].fillna(0).astype("int64")
    out["share"] = out["volume"] / out["negatives"].where(out["negatives"] > 0)
    out["low_n"] = out["volume"] < settings.min_n
    out["top_terms"] = out["top_terms"].map(_terms)
    order = (
        (["nps_impact", "volume"], [True, False]) if rank_by == "impact" else (["volume"], [False])
    )
    out = out.sort_values(order[0], ascending=order[1], na_position="last", kind="stable")
    return out.reindex(columns=THEME_COLUMNS).reset_index(drop=True)


def _theme_scores(store: Store, filters: Filters) -> pd.DataFrame:
    """Per theme: messages, NPS and % negative (the customer columns are not needed here)."""
    counts = metrics.group_counts(store, "theme", filters)
    return pd.DataFrame(
        {
            "key": counts["key"],
            "volume": counts["n"],
            "nps": stats.nps(counts["pro"], counts["det"], counts["n_nps"])[0],
            "neg_share": 100 * stats.wilson(counts["n_neg"], counts["n_sent"])[0],
        }
    )


def _topic_negatives(store: Store, filters: Filters) -> pd.DataFrame:
    """Filtered messages per topic that mention it negatively (the base of a theme's share)."""
    table = metrics_cache.ensure_mentions(store.con, "topic")
    where, params = filters.where()
    return store.con.execute(
        f"SELECT topic, count_if(neg) AS negatives FROM {table} {where} GROUP BY topic", params
    ).df()


def _terms(cell: Any) -> list[str]:
    if not isinstance(cell, str) or not cell.strip():
        return []
    try:
        return [
            str(item["term"])
            for item in json.loads(cell)
            if isinstance(item, dict) and "term" in item
        ]
    except (ValueError, TypeError):
        return []


@dataclass(frozen=True)
class ThemeDetail:
    """Everything the Themes page shows for one theme."""

    theme_id: str
    trend: pd.DataFrame
    alerts: pd.DataFrame
    sentiment: pd.DataFrame
    affected: pd.DataFrame
    quotes: pd.DataFrame


def theme_detail(
    store: Store,
    theme_id: str,
    filters: Filters,
    settings: Settings,
    period: str = "week",
    quotes: int = 5,
) -> ThemeDetail:
    """Trend (with alerts), message sentiment mix, most affected groups and quotes of a theme."""
    series = trends.topic_trends(store, filters, settings, period, "theme")
    series = series[series["key"] == theme_id].reset_index(drop=True)
    found = trends.detect_alerts(series, settings) if len(series) else pd.DataFrame()
    return ThemeDetail(
        theme_id,
        series,
        found,
        theme_sentiment(store, theme_id, filters),
        most_affected(store, theme_id, filters, settings),
        theme_quotes(store, theme_id, quotes),
    )


def theme_sentiment(store: Store, theme_id: str, filters: Filters) -> pd.DataFrame:
    """Messages of the theme by overall sentiment: ``sentiment, n, share`` (share in %)."""
    body = """SELECT coalesce(nullif(b.sentiment, ''), 'untagged') AS sentiment, count(*) AS n
      FROM base b
      JOIN (SELECT source, id FROM {members} WHERE theme_id = $theme) m USING (source, id)
      GROUP BY 1 ORDER BY 1"""
    members = metrics_cache.ensure_theme_members(store.con)
    out = _run(store, filters, body.format(members=members), theme=theme_id)
    out["share"] = 100 * out["n"] / max(int(out["n"].sum()), 1)
    return out


_AFFECTED_SQL = """SELECT '{dim}' AS dimension, coalesce(CAST(b.{dim} AS VARCHAR), '{none}') AS key,
  count(*) AS messages, count(m.id) AS in_theme
  FROM base b
  LEFT JOIN (SELECT source, id FROM {members} WHERE theme_id = $theme) m USING (source, id)
  GROUP BY ALL"""


def most_affected(
    store: Store, theme_id: str, filters: Filters, settings: Settings
) -> pd.DataFrame:
    """Per channel/segment/language: share of its messages in the theme vs the rest (Holm)."""
    members = metrics_cache.ensure_theme_members(store.con)
    body = "\nUNION ALL\n".join(
        _AFFECTED_SQL.format(dim=d, none=NONE_KEY, members=members) for d in COMPARE_DIMENSIONS
    )
    g = _run(store, filters, body, theme=theme_id)
    if g.empty:
        return g
    tot = g.groupby("dimension")[["messages", "in_theme"]].transform("sum")
    test = stats.two_proportions(
        g["in_theme"],
        g["messages"],
        tot["in_theme"] - g["in_theme"],
        tot["messages"] - g["messages"],
    )
    out = g.assign(
        share=100 * test["p1"],
        rest=100 * test["p2"],
        diff=100 * test["diff"],
        lift=test["p1"] / np.where(test["p2"] > 0, test["p2"], np.nan),
        p_value=test["p_value"],
        low_n=g["messages"] < settings.min_n,
    )
    out["p_adj"] = out.groupby("dimension")["p_value"].transform(lambda p: stats.holm(p.to_numpy()))
    out["significant"] = (out["p_adj"] < 0.05) & ~out["low_n"]
    return out.sort_values(["diff"], ascending=False, ignore_index=True)


def _run(store: Store, filters: Filters, body: str, **params: Any) -> pd.DataFrame:
    sql, base_params = with_base(store, filters, body)
    return store.con.execute(sql, {**base_params, **params}).df()
