"""What the Streamlit app pages ask the store: one function per page section, all in DuckDB.

The app (``cx_text/app/streamlit/``) only calls these, :mod:`cx_text.app.verbatims`,
:mod:`cx_text.app.upload` and the metrics/themes modules; ``benchmarks/app.py`` times the same
calls on 1M rows. Every function returns a small frame (one row per group, never per message).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cx_text.analytics import drivers, metrics, stats, trends
from cx_text.analytics.filters import NONE_KEY, Filters, with_base
from cx_text.app.snapshot import AppStore as AppStore  # re-exported: the app's store access
from cx_text.app.snapshot import ShortWrites as ShortWrites
from cx_text.app.snapshot import open_app_store as open_app_store
from cx_text.core.config import Settings
from cx_text.core.errors import StoreError
from cx_text.store import cache as metrics_cache
from cx_text.store.store import Store
from cx_text.themes.service import theme_quotes

APP_MAIN = Path(__file__).resolve().parent / "streamlit" / "main.py"
PRESETS = ("30d", "90d", "365d", "all", "custom")
KPI_METRICS = ("nps", "csat", "ces", "volume", "neg_share", "churn_rate")
COMPARE_DIMENSIONS = ("channel", "segment", "lang")
_VERSION_SQL = """SELECT concat_ws('|', (SELECT count(*) FROM runs), (SELECT max(finished_at) FROM runs),
  (SELECT count_if(status = 'complete') FROM runs), (SELECT count(*) FROM feedback),
  (SELECT count(*) FROM customers), (SELECT count(*) FROM theme_edits),
  (SELECT max(finished_at) FROM theme_runs), (SELECT count(*) FROM themes),
  (SELECT max(label_id) FROM labels))"""


def data_version(store: Store) -> str:
    """Changes whenever a run, customers, a theme edit or a label lands: part of every cache key."""
    row = store.con.execute(_VERSION_SQL).fetchone()
    return str(row[0]) if row else ""


# -- sidebar -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FilterOptions:
    """What the sidebar can offer: values present in the store and its date span."""

    rows: int = 0
    first_day: date | None = None
    last_day: date | None = None
    channels: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    has_customers: bool = False


def filter_options(store: Store) -> FilterOptions:
    """Distinct channels, segments, languages, topics and the first/last day of the messages."""
    msgs = metrics_cache.ensure_messages(store.con)
    row = store.con.execute(
        f"""SELECT count(*), CAST(min(created_at) AS DATE), CAST(max(created_at) AS DATE),
        list_sort(list(DISTINCT channel)), list_sort(list(DISTINCT segment)),
        list_sort(list(DISTINCT lang)) FROM {msgs}""").fetchone()
    topics = store.con.execute(
        f"SELECT DISTINCT unnest(topics) AS t FROM {msgs} ORDER BY t").fetchall()
    if not row or not row[0]:
        return FilterOptions()
    return FilterOptions(int(row[0]), row[1], row[2], _clean(row[3]), _clean(row[4]),
                         _clean(row[5]), tuple(str(t[0]) for t in topics),
                         metrics.has_customers(store))


def _clean(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (values or []) if v is not None and str(v) != "")


def preset_window(preset: str, first: date | None, last: date | None,
                  custom: tuple[date, date] | None = None) -> tuple[date | None, date | None]:
    """``(start, end)`` of a period preset, counted back from the newest message (not today)."""
    if preset == "custom" and custom:
        return custom
    if preset in ("all", "custom") or last is None:
        return first, last
    days = int(preset.rstrip("d"))
    start = last - timedelta(days=days - 1)
    return (max(start, first) if first else start), last


def previous_filters(filters: Filters) -> Filters | None:
    """The same filters over the equally long window just before ``filters`` (None if open)."""
    if filters.start is None or filters.end is None:
        return None
    length = (filters.end - filters.start).days + 1
    return replace(filters, start=filters.start - timedelta(days=length),
                   end=filters.start - timedelta(days=1))


# -- overview ----------------------------------------------------------------------------------
def kpi_summary(store: Store, filters: Filters, settings: Settings) -> pd.DataFrame:
    """One row per KPI: value, CI, n, low_n, unit, previous-window value and delta."""
    now = _kpi_rows(store, filters, settings)
    prev_filters = previous_filters(filters)
    prev = _kpi_rows(store, prev_filters, settings) if prev_filters else pd.DataFrame()
    out = pd.DataFrame({"metric": list(KPI_METRICS)}).merge(now, on="metric", how="left")
    if prev.empty:
        out["previous"] = np.nan
    else:
        shown = prev["value"].where(~prev["low_n"].astype(bool))
        out = out.merge(prev.assign(previous=shown)[["metric", "previous"]], on="metric", how="left")
    out["delta"] = out["value"] - out["previous"]
    return out


def _kpi_rows(store: Store, filters: Filters, settings: Settings) -> pd.DataFrame:
    long = metrics.kpis(store, filters, settings)
    cols = ["metric", "value", "lo", "hi", "n", "low_n", "unit"]
    return long[long["metric"].isin(KPI_METRICS)][cols].reset_index(drop=True)


def alerts_in_window(store: Store, filters: Filters, settings: Settings, period: str = "week",
                     level: str = "topic") -> pd.DataFrame:
    """Spikes raised in the filtered window, judged against the whole history before it."""
    history = replace(filters, start=None, end=None)
    found = trends.alerts(store, history, settings, period, level)
    if found.empty or filters.start is None:
        return found
    length = timedelta(days=7 if period == "week" else 31)
    when = pd.to_datetime(found["period"])
    keep = (when + length > pd.Timestamp(filters.start)) & (when <= pd.Timestamp(filters.end or date.max))
    return found[keep.to_numpy()].reset_index(drop=True)


def impact(store: Store, filters: Filters, settings: Settings, level: str = "topic",
           draws: int = drivers.DRAWS) -> pd.DataFrame:
    """Remove-topic impact on NPS/CSAT/CES per topic (long: key, metric, value, lo, hi, n, low_n)."""
    return drivers.topic_impact(store, filters, settings, level, draws=draws)


# -- themes ------------------------------------------------------------------------------------
THEME_COLUMNS = ["theme_id", "topic", "label", "status", "volume", "share", "nps",
                 "neg_share", "nps_impact", "nps_impact_lo", "nps_impact_hi", "low_n", "top_terms"]
THEME_DRAWS = 400  # bootstrap draws for theme impact CIs (ranking needs less than a report)
_LIVE_THEMES = """SELECT theme_id, topic, label, status, top_terms FROM themes
  WHERE status IN ('active', 'proposed') AND ($topic IS NULL OR topic = $topic) ORDER BY theme_id"""


def themes_overview(store: Store, filters: Filters, settings: Settings, topic: str | None = None,
                    rank_by: str = "impact") -> pd.DataFrame:
    """Live themes with filtered volume, share of the topic's negative messages, NPS and NPS
    impact (bootstrap CI); ranked by ``impact`` (most costly first) or ``volume``."""
    listed = store.con.execute(_LIVE_THEMES, {"topic": topic}).df()
    if listed.empty:
        return pd.DataFrame(columns=THEME_COLUMNS)
    wide = _theme_scores(store, filters)
    imp = drivers.topic_impact(store, filters, settings, "theme", draws=THEME_DRAWS)
    imp = imp[imp["metric"] == "nps_impact"] if len(imp) else imp
    out = listed.merge(wide[["key", "volume", "nps", "neg_share"]].rename(columns={"key": "theme_id"}),
                       on="theme_id", how="left")
    imp_cols = imp.reindex(columns=["key", "value", "lo", "hi"]).rename(columns={
        "key": "theme_id", "value": "nps_impact", "lo": "nps_impact_lo", "hi": "nps_impact_hi"})
    out = out.merge(imp_cols, on="theme_id", how="left").merge(
        _topic_negatives(store, filters), on="topic", how="left")
    out["volume"] = out["volume"].fillna(0).astype("int64")
    out["share"] = out["volume"] / out["negatives"].where(out["negatives"] > 0)
    out["low_n"] = out["volume"] < settings.min_n
    out["top_terms"] = out["top_terms"].map(_terms)
    order = (["nps_impact", "volume"], [True, False]) if rank_by == "impact" else (["volume"], [False])
    out = out.sort_values(order[0], ascending=order[1], na_position="last", kind="stable")
    return out.reindex(columns=THEME_COLUMNS).reset_index(drop=True)


def _theme_scores(store: Store, filters: Filters) -> pd.DataFrame:
    """Per theme: messages, NPS and % negative (the customer columns are not needed here)."""
    counts = metrics.group_counts(store, "theme", filters)
    return pd.DataFrame({"key": counts["key"], "volume": counts["n"],
                         "nps": stats.nps(counts["pro"], counts["det"], counts["n_nps"])[0],
                         "neg_share": 100 * stats.wilson(counts["n_neg"], counts["n_sent"])[0]})


def _topic_negatives(store: Store, filters: Filters) -> pd.DataFrame:
    """Filtered messages per topic that mention it negatively (the base of a theme's share)."""
    table = metrics_cache.ensure_mentions(store.con, "topic")
    where, params = filters.where()
    return store.con.execute(f"SELECT topic, count_if(neg) AS negatives FROM {table} {where} "
                             "GROUP BY topic", params).df()


def _terms(cell: Any) -> list[str]:
    if not isinstance(cell, str) or not cell.strip():
        return []
    try:
        return [str(item["term"]) for item in json.loads(cell) if isinstance(item, dict) and "term" in item]
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


def theme_detail(store: Store, theme_id: str, filters: Filters, settings: Settings,
                 period: str = "week", quotes: int = 5) -> ThemeDetail:
    """Trend (with alerts), message sentiment mix, most affected groups and quotes of a theme."""
    series = trends.topic_trends(store, filters, settings, period, "theme")
    series = series[series["key"] == theme_id].reset_index(drop=True)
    found = trends.detect_alerts(series, settings) if len(series) else pd.DataFrame()
    return ThemeDetail(theme_id, series, found, theme_sentiment(store, theme_id, filters),
                       most_affected(store, theme_id, filters, settings),
                       theme_quotes(store, theme_id, quotes))


def theme_sentiment(store: Store, theme_id: str, filters: Filters) -> pd.DataFrame:
    """Messages of the theme by overall sentiment: ``sentiment, n, share`` (share in %)."""
    body = """SELECT coalesce(nullif(b.sentiment, ''), 'untagged') AS sentiment, count(*) AS n
      FROM base b JOIN (SELECT source, id FROM {members} WHERE theme_id = $theme) m USING (source, id)
      GROUP BY 1 ORDER BY 1"""
    members = metrics_cache.ensure_theme_members(store.con)
    out = _run(store, filters, body.format(members=members), theme=theme_id)
    out["share"] = 100 * out["n"] / max(int(out["n"].sum()), 1)
    return out


_AFFECTED_SQL = """SELECT '{dim}' AS dimension, coalesce(CAST(b.{dim} AS VARCHAR), '{none}') AS key,
  count(*) AS messages, count(m.id) AS in_theme
  FROM base b LEFT JOIN (SELECT source, id FROM {members} WHERE theme_id = $theme) m USING (source, id)
  GROUP BY ALL"""


def most_affected(store: Store, theme_id: str, filters: Filters, settings: Settings) -> pd.DataFrame:
    """Per channel/segment/language: share of its messages in the theme vs the rest (Holm)."""
    members = metrics_cache.ensure_theme_members(store.con)
    body = "\nUNION ALL\n".join(_AFFECTED_SQL.format(dim=d, none=NONE_KEY, members=members)
                                 for d in COMPARE_DIMENSIONS)
    g = _run(store, filters, body, theme=theme_id)
    if g.empty:
        return g
    tot = g.groupby("dimension")[["messages", "in_theme"]].transform("sum")
    test = stats.two_proportions(g["in_theme"], g["messages"], tot["in_theme"] - g["in_theme"],
                                 tot["messages"] - g["messages"])
    out = g.assign(share=100 * test["p1"], rest=100 * test["p2"], diff=100 * test["diff"],
                   lift=test["p1"] / np.where(test["p2"] > 0, test["p2"], np.nan),
                   p_value=test["p_value"], low_n=g["messages"] < settings.min_n)
    out["p_adj"] = out.groupby("dimension")["p_value"].transform(lambda p: stats.holm(p.to_numpy()))
    out["significant"] = (out["p_adj"] < 0.05) & ~out["low_n"]
    return out.sort_values(["diff"], ascending=False, ignore_index=True)


def _run(store: Store, filters: Filters, body: str, **params: Any) -> pd.DataFrame:
    sql, base_params = with_base(store, filters, body)
    return store.con.execute(sql, {**base_params, **params}).df()


# -- trends and segments -----------------------------------------------------------------------
@dataclass(frozen=True)
class TrendData:
    """Series per key and period, the alerts on them and the latest-vs-previous change."""

    series: pd.DataFrame
    alerts: pd.DataFrame
    change: pd.DataFrame


def trend_data(store: Store, filters: Filters, settings: Settings, period: str = "week",
               level: str = "topic", current: str | None = None) -> TrendData:
    """Per-topic (or sub-topic, theme) trends, alerts and a period comparison."""
    series = trends.topic_trends(store, filters, settings, period, level)
    if series.empty:
        return TrendData(series, pd.DataFrame(), pd.DataFrame())
    return TrendData(series, trends.detect_alerts(series, settings),
                     trends.period_change(series, settings, current))


def segment_comparison(store: Store, filters: Filters, settings: Settings,
                       dimension: str = "segment") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics per group side by side, each group vs the rest with significance)."""
    wide = metrics.wide(metrics.metrics_by(store, dimension, filters, settings))
    return wide, trends.compare_groups(store, filters, settings, dimension)


# -- launching -----------------------------------------------------------------------------------
def streamlit_command(db_path: Path, port: int = 8501, host: str = "localhost",
                      app_path: Path | None = None, max_upload_mb: int = 200) -> list[str]:
    """The ``streamlit run …/main.py -- --db PATH`` command line with headless settings."""
    import sys

    app_path = app_path or APP_MAIN
    if not app_path.is_file():
        raise StoreError(f"the app script {app_path} is missing.",
                         "Reinstall cx-text: the app ships inside the package (cx_text/app/streamlit).")
    return [sys.executable, "-m", "streamlit", "run", str(app_path),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.port", str(int(port)), "--server.address", host,
            "--server.maxUploadSize", str(int(max_upload_mb)),
            "--client.toolbarMode", "viewer",  # analysts: no "Deploy" button, no developer menu
            "--", "--db", str(db_path)]
